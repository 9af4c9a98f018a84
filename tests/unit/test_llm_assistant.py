"""Citations are checked against real segment starts; long transcripts are map-reduced within the context.

The engine here is a fake (unit tests only): it counts words as tokens and answers by copying lines of its
prompt with shifted (invented) timestamps, as small models do. tests/e2e runs the real model.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from habla.asr.types import Segment, Transcript
from habla.llm.assistant import Assistant, AssistantOptions
from habla.llm.citations import TranscriptLines, ground_answer, ground_bullets
from habla.llm.protocol import ChatMessage, ChatOptions, ChatStream

LINES = ["Welcome to the quarterly review of the Lisbon office.",
         "Our head count grew from twelve to nineteen people this quarter.",
         "Revenue reached two point four million euros, up eight percent.",
         "Ana Costa is our new security officer starting in May.",
         "The office will move to the Alfama building in September."]


def transcript(texts: Sequence[str], step: float = 20.0) -> Transcript:
    segments = [Segment(i, i * step + 0.4, i * step + step - 1, f" {t}") for i, t in enumerate(texts)]
    return Transcript(text=" ".join(texts), language="en", language_probability=1.0,
                      duration=len(texts) * step, segments=segments)


class CopyingEngine:
    name = "copier"

    def __init__(self, context_size: int = 8192) -> None:
        self.context_size = context_size
        self.prompts: list[int] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def count_chat_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return sum(self.count_tokens(m.content) + 3 for m in messages)

    def chat(self, messages: Sequence[ChatMessage], options: ChatOptions,
             cancel: threading.Event | None = None) -> ChatStream:
        used = self.count_chat_tokens(messages)
        assert used + options.max_tokens <= self.context_size
        self.prompts.append(used)
        lines = [ln for ln in messages[-1].content.splitlines() if ln.startswith(("[", "- "))]
        # Copy the first three lines, moving each timestamp by 7 s (invented) and repeating one (a loop).
        out = [re.sub(r"(\d\d)\]", lambda m: f"{(int(m.group(1)) + 7) % 60:02d}]", ln) for ln in lines[:3]]
        return ChatStream(iter(["\n".join(out + out[:1])]))

    def close(self) -> None:
        pass


def test_invented_timestamp_is_fixed_to_the_segment_that_says_it() -> None:
    lines = TranscriptLines(transcript(LINES))
    answer = ground_answer("Ana Costa is the new security officer [01:12].", lines, range(5), None)
    assert answer.text == "Ana Costa is the new security officer [01:00]."  # segment 3 starts at 60.4 s
    assert [c.segment_id for c in answer.citations] == [3]


def test_timestamp_with_no_supporting_segment_is_dropped_and_the_best_retrieved_one_cited() -> None:
    lines = TranscriptLines(transcript(LINES))
    answer = ground_answer("I do not know [09:59].", lines, [4], fallback=4)
    assert "[09:59]" not in answer.text
    assert [c.timestamp for c in answer.citations] == ["[01:20]"]


def test_summary_bullets_drop_repeats_and_invented_facts() -> None:
    lines = TranscriptLines(transcript(LINES))
    text = ("- Revenue reached two point four million euros [00:41]\n"
            "- Revenue reached two point four million euros this quarter [00:40]\n"
            "- The company was founded by Google engineers in California [00:00]\n"
            "- The office moves to Alfama in September [05:00]")
    grounded = ground_bullets(text, lines)
    assert grounded.text.splitlines() == ["- Revenue reached two point four million euros [00:40]",
                                          "- The office moves to Alfama in September [01:20]"]


def test_ask_shows_the_matching_segment_and_cites_it() -> None:
    engine = CopyingEngine()
    answer = Assistant(engine).ask(transcript(LINES), "Who is the new security officer?")
    starts = {int(s.start) for s in transcript(LINES).segments}
    assert answer.citations and all(int(c.start) in starts for c in answer.citations)
    assert answer.citations[0].segment_id == 3


def test_two_hour_transcript_is_map_reduced_within_the_context() -> None:
    topics = ["budget", "hiring", "roadmap", "security", "marketing", "support", "legal", "travel"]
    texts = [f"In part {i} we talked about {topics[i % 8]} item {i} and agreed on next steps for team {i % 13}."
             for i in range(720)]  # one segment every 10 s for two hours
    engine = CopyingEngine(context_size=1024)
    answer = Assistant(engine, AssistantOptions(summary_tokens=96, chunk_tokens=800)).summarize(
        transcript(texts, step=10.0))
    assert answer.chunks > 10 and answer.calls > answer.chunks  # map steps, then at least one reduce
    assert max(engine.prompts) + 96 <= 1024 and answer.max_prompt_tokens == max(engine.prompts)
    starts = {int(s.start) for s in transcript(texts, step=10.0).segments}
    assert answer.citations and all(int(c.start) in starts for c in answer.citations)
    assert all(re.search(r"\[\d:\d\d:\d\d\]$", b) for b in answer.text.splitlines())  # h:mm:ss past an hour

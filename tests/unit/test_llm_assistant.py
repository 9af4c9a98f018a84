"""Citations are checked against real segment starts; summaries cover every topic; answers refuse without evidence.

The engine here is a fake (unit tests only): it counts words as tokens and answers by copying lines of its
prompt with shifted (invented) timestamps, as small models do. tests/e2e runs the real model.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Sequence

import numpy as np
import pytest

from habla.asr.types import Segment, Transcript
from habla.errors import InvalidOption
from habla.llm.assistant import Assistant, AssistantOptions, prepare
from habla.llm.citations import TranscriptLines, ground_answer, ground_bullets
from habla.llm.embeddings import SegmentSimilarity
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


def test_ask_quotes_the_matching_segment_and_cites_it() -> None:
    engine = CopyingEngine()
    answer = Assistant(engine).ask(transcript(LINES), "Who is the new security officer?")
    assert answer.citations[0].segment_id == 3 and answer.text.endswith("[01:00]")
    assert "Ana Costa" in answer.text and not answer.refused


def test_question_the_transcript_does_not_answer_is_refused_without_an_llm_call() -> None:
    engine = CopyingEngine()
    answer = Assistant(engine).ask(transcript(LINES), "What is the salary of the chief executive?")
    assert answer.refused and answer.text == "The transcript does not say." and not answer.citations
    assert engine.prompts == []


def test_spanish_question_matches_inflected_and_unaccented_words() -> None:
    lines = ["Buenos días, empezamos la reunión.", "El presupuesto crece un diez por ciento.",
             "Nos mudamos a la oficina de la calle Goya en julio.", "La próxima reunión será el martes."]
    t = transcript(lines)
    t.language = "es"
    answer = Assistant(CopyingEngine()).ask(t, "¿Cuándo se mudan a la oficina nueva?")
    assert answer.citations[0].segment_id == 2
    refused = Assistant(CopyingEngine()).ask(t, "¿Quién escribió el Quijote?")
    assert refused.refused and refused.text == "La transcripción no lo dice."


def test_irregular_forms_match_through_their_lemmas() -> None:
    """A stemmer cannot join "took"/"take" or "abriste"/"abrió"; the lemmatiser does."""
    en = Assistant(CopyingEngine()).ask(
        transcript(["We moved the nightly jobs to streaming with Kafka.", "It took us eight months.",
                    "The weather was bad."]), "How long did the move to streaming take?")
    assert en.citations[0].segment_id == 1 and "eight months" in en.text
    t = transcript(["La chef llegó a Bilbao hace diez años.", "Abrimos el restaurante en dos mil dieciocho.",
                    "El plato más famoso es el bacalao."])
    t.language = "es"
    es = Assistant(CopyingEngine()).ask(t, "¿Cuándo abrió el restaurante?")
    assert es.citations[0].segment_id == 1


def test_what_happened_asks_about_the_topic_not_the_verb() -> None:
    answer = Assistant(CopyingEngine()).ask(
        transcript(["We moved to streaming.", "Latency went from six hours to under a minute.", "Thanks."]),
        "What happened to the latency?")
    assert not answer.refused and answer.citations[0].segment_id == 1


def test_an_interviewers_question_is_answered_by_the_next_segment() -> None:
    lines = ["Thanks for coming in. Could you tell us about your current job?",
             "I'm a data engineer at a logistics company in Rotterdam.",
             "And when could you start?", "My notice period is two months, so the first of April."]
    answer = Assistant(CopyingEngine()).ask(transcript(lines), "When could you start at the company?")
    assert answer.citations[0].segment_id == 3


def test_a_fact_followed_by_a_question_is_the_answer_itself() -> None:
    lines = ["Good evening, our guest is the chef Marta Ibáñez.",
             "Marta, your restaurant in Bilbao just won a Michelin star. How did you feel?",
             "It was a huge surprise, I cried for half an hour."]
    answer = Assistant(CopyingEngine()).ask(transcript(lines), "Where is Marta's restaurant?")
    assert answer.citations[0].segment_id == 1


def test_an_agenda_heading_is_answered_by_the_segment_after_it() -> None:
    t = transcript(["Buenos días a todos.", "Primero, los horarios de verano.",
                    "A partir de julio abriremos de ocho a tres.", "Segundo, las vacaciones de agosto."])
    t.language = "es"
    answer = Assistant(CopyingEngine()).ask(t, "¿Cuál será el horario de verano?")
    assert answer.citations[0].segment_id == 2 and "ocho a tres" in answer.text


def test_an_answer_that_points_back_beats_the_segment_it_points_to() -> None:
    t = transcript(["Hoy estudiamos los volcanes de Canarias.",
                    "La última erupción fue la del volcán de La Palma, en el año dos mil veintiuno.",
                    "Aquella erupción duró ochenta y cinco días y destruyó mil casas.", "Nada más por hoy."])
    t.language = "es"
    answer = Assistant(CopyingEngine()).ask(t, "¿Cuánto duró la erupción de La Palma?")
    assert answer.citations[0].segment_id == 2


def test_pronouns_and_unsaid_roles_are_not_what_a_question_asks_about() -> None:
    lines = ["Thank you for calling, how can I help?", "My internet drops every evening.",
             "Can I have your account number?", "It's four four seven two nine.",
             "Do you smoke?", "I stopped smoking five years ago."]
    assistant = Assistant(CopyingEngine())
    account = assistant.ask(transcript(lines), "What is the customer's number?")
    assert account.citations[0].segment_id == 3  # "customer" is never said: the caller is the customer
    smoking = assistant.ask(transcript(lines), "When did he stop smoking?")
    assert smoking.citations[0].segment_id == 5


def test_several_questions_reuse_one_prepared_transcript() -> None:
    t = transcript(LINES)
    assert prepare(t) is prepare(t)
    assert prepare(t) is not prepare(transcript(LINES[:4]))


TOPICS = [
    ["The first topic is the budget for next year.", "The budget grows by ten percent to 110,000 euros.",
     "Most of the budget increase goes to online advertising.", "Finance will check the budget every month."],
    ["Now the office move.", "We move the office to Goya street in July.",
     "The new office has two more meeting rooms near the metro.", "Movers will pack the office on a Friday."],
    ["Last, the product launch.", "The launch of the app slips to March 3rd because of payment bugs.",
     "Carmen will tell the customers about the launch before Friday.", "The launch party is cancelled."],
]


def test_every_topic_gets_a_bullet_with_its_facts_and_real_citations() -> None:
    t = transcript([s for topic in TOPICS for s in topic], step=8.0)
    answer = Assistant(CopyingEngine()).summarize(t)
    bullets = answer.text.splitlines()
    assert answer.chunks == 3 and len(bullets) == 3, answer.text
    for bullet, fact in zip(bullets, ["110,000", "Goya", "March 3rd"], strict=True):
        assert fact in bullet and re.search(r"\[\d\d:\d\d\]$", bullet), answer.text
    starts = {int(s.start) for s in t.segments}
    assert answer.citations and all(int(c.start) in starts for c in answer.citations)
    assert answer.calls == 0  # compression is off by default (docs/llm.md)


class CompressingEngine(CopyingEngine):
    """Answers every compression with a fixed sentence."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    def chat(self, messages: Sequence[ChatMessage], options: ChatOptions,
             cancel: threading.Event | None = None) -> ChatStream:
        self.prompts.append(self.count_chat_tokens(messages))
        return ChatStream(iter([self.reply]))


def long_topic_transcript() -> Transcript:
    return transcript([s for topic in TOPICS for s in topic], step=8.0)


def test_a_compression_that_keeps_the_facts_is_used() -> None:
    engine = CompressingEngine("The budget grows by ten percent to 110,000 euros, mostly for online advertising.")
    options = AssistantOptions.defaults(compress_with_llm=True, compress_min_words=5)
    answer = Assistant(engine, options).summarize(long_topic_transcript())
    first = answer.text.splitlines()[0]
    assert first.startswith("- The budget grows by ten percent to 110,000 euros, mostly for online advertising.")
    assert answer.calls == 3 and answer.fallbacks == 2  # the same sentence for the other topics is refused


def test_a_compression_that_invents_a_number_falls_back_to_what_was_said() -> None:
    engine = CompressingEngine("The budget grows by twenty percent to 500,000 euros.")
    options = AssistantOptions.defaults(compress_with_llm=True, compress_min_words=5)
    answer = Assistant(engine, options).summarize(long_topic_transcript())
    assert "500,000" not in answer.text and "110,000" in answer.text
    assert answer.fallbacks == 3


def test_summary_styles() -> None:
    t = long_topic_transcript()
    assistant = Assistant(CompressingEngine("Budget"))
    chapters = assistant.summarize(t, style="chapters").text.splitlines()
    assert [c.split(" ", 1)[0] for c in chapters] == ["[00:00]", "[00:32]", "[01:04]"]
    assert chapters[0] == "[00:00] Budget"  # a title the topic supports is kept
    actions = assistant.summarize(t, style="actions").text
    assert "- Carmen: Carmen will tell the customers about the launch before Friday. (when: before Friday)" in actions
    paragraph = assistant.summarize(t, style="paragraph").text
    assert "\n" not in paragraph and "110,000" in paragraph and "Goya" in paragraph
    with pytest.raises(InvalidOption, match="unknown summary style"):
        assistant.summarize(t, style="haiku")


def test_two_hour_transcript_is_summarised_topic_by_topic_without_the_llm() -> None:
    topics = ["budget", "hiring", "roadmap", "security", "marketing", "support", "legal", "travel"]
    texts = [f"In part {i} we talked about {topics[(i // 90) % 8]} item {i} and agreed on next steps."
             for i in range(720)]  # one segment every 10 s for two hours, a new subject every 15 minutes
    t = transcript(texts, step=10.0)
    engine = CopyingEngine(context_size=1024)
    answer = Assistant(engine).summarize(t)
    assert 8 <= answer.chunks <= 40 and answer.calls == 0
    starts = {int(s.start) for s in t.segments}
    assert answer.citations and all(int(c.start) in starts for c in answer.citations)
    assert all(re.search(r"\[\d:\d\d:\d\d\]$", b) for b in answer.text.splitlines())  # h:mm:ss past an hour
    said = {t for t in topics if t in answer.text}
    assert said == set(topics)  # no subject dropped


class AnsweringEngine(CompressingEngine):
    pass


def test_an_llm_answer_with_a_name_the_segment_never_says_falls_back_to_the_quote() -> None:
    t = transcript(LINES)
    options = AssistantOptions.defaults(answer_with_llm=True)
    wrong = Assistant(AnsweringEngine("Amina Costa is the new security officer [01:00]."), options).ask(
        t, "Who is the new security officer?")
    assert wrong.text == "Ana Costa is our new security officer starting in May. [01:00]" and wrong.fallbacks == 1
    right = Assistant(AnsweringEngine("Ana Costa, starting in May [01:00]."), options).ask(
        t, "Who is the new security officer?")
    assert right.text == "Ana Costa, starting in May [01:00]." and right.fallbacks == 0


class FavouringReranker:
    """A reranker that finds ``favoured`` far likelier than any other passage, and records what it read."""

    def __init__(self, favoured: str) -> None:
        self.favoured = favoured
        self.read: list[str] = []

    def score(self, passage: str, question: str) -> float:
        self.read.append(passage)
        return 10.0 if passage.endswith(self.favoured) else 0.0


def test_the_reranker_picks_among_the_lexical_candidates() -> None:
    lines = ["The kitchen budget is eight hundred euros.", "Laura chose the blue tiles.",
             "The kitchen opens again in June, says Laura.", "The bathroom budget is five hundred euros."]
    question = "What is the kitchen budget?"
    plain = Assistant(CopyingEngine()).ask(transcript(lines), question)
    options = AssistantOptions.defaults(rerank_candidates=2)
    reranker = FavouringReranker("five hundred euros.")  # the last segment's passage (no segment after it)
    reranked = Assistant(CopyingEngine(), options, reranker=reranker).ask(transcript(lines), question)
    assert plain.citations[0].segment_id == 0
    assert reranked.citations[0].segment_id == 3 and len(reranker.read) == 2  # the two best lexical candidates
    assert any("blue tiles" in p for p in reranker.read)  # a passage is read with its neighbours


def test_the_reranker_does_not_answer_what_coverage_refuses() -> None:
    reranker = FavouringReranker("security officer")
    options = AssistantOptions.defaults(rerank_candidates=3)
    answer = Assistant(CopyingEngine(), options, reranker=reranker).ask(
        transcript(LINES), "What is the salary of the chief executive?")
    assert answer.refused and reranker.read == []


class ConceptEmbedder:
    """Sentence vectors on e5's scale: a large shared component (unrelated texts sit near 0.8), one dimension a
    concept (words of one meaning share it), and one hashed dimension a word. Counts the passages it embeds."""

    name = "concepts"
    CONCEPTS = (("shut", "close", "closes"), ("price", "cost", "costs", "euros"), ("staff", "people", "head"),
                ("security", "officer"), ("move", "building"))

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        words = re.findall(r"\w+", text.lower())
        concepts = [6.0 * sum(w in c for w in words) for c in self.CONCEPTS]
        hashed = np.zeros(64, dtype=np.float32)
        for w in words:
            hashed[zlib.crc32(w.encode()) % 64] += 1.0
        v = np.concatenate([np.array([6.0, *concepts], dtype=np.float32), hashed])
        return v / np.linalg.norm(v)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts])

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return np.stack([self._vector(t) for t in texts])


def test_a_question_in_other_words_is_answered_by_the_segment_closest_in_meaning() -> None:
    lines = [*LINES, "The garage closes at nine in the evening."]
    question = "When does the car park shut?"  # no word of it is said: words alone refuse
    plain = Assistant(CopyingEngine()).ask(transcript(lines), question)
    dense = Assistant(CopyingEngine(), similarity=SegmentSimilarity(ConceptEmbedder())).ask(transcript(lines), question)
    assert plain.refused
    assert not dense.refused and dense.citations[0].segment_id == 5, dense.text


def test_with_embeddings_a_question_far_in_meaning_is_still_refused() -> None:
    answer = Assistant(CopyingEngine(), similarity=SegmentSimilarity(ConceptEmbedder())).ask(
        transcript(LINES), "What is the name of the chief executive's dog?")
    assert answer.refused, answer.text


def test_a_long_transcript_embeds_only_the_word_matched_candidates_and_their_neighbours() -> None:
    embedder = ConceptEmbedder()
    options = AssistantOptions.defaults(dense_full_segments=10)
    filler = [f"Item {i} of the inventory was counted twice." for i in range(40)]
    lines = [*filler[:20], *LINES, *filler[20:]]
    assistant = Assistant(CopyingEngine(), options, similarity=SegmentSimilarity(embedder))
    answer = assistant.ask(transcript(lines), "Who is the new security officer?")
    assert answer.citations[0].segment_id == 23
    assert 3 <= len(embedder.embedded) < 15, len(embedder.embedded)  # not the 45 segments
    first = len(embedder.embedded)
    assistant.ask(transcript(lines), "Who is the security officer?")
    assert len(embedder.embedded) == first  # the same segments are not embedded twice

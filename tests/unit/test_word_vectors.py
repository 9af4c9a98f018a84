"""Word vectors read out of a GGUF's token embeddings, and answers that match a question said in other words.

The GGUF here is written by the gguf library itself (a 12-word vocabulary, 8 dimensions), so the extraction runs
the real reader and dequantiser in milliseconds; the shipped Gemma table is measured in docs/llm.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from habla.asr.types import Segment, Transcript
from habla.llm.assistant import Assistant
from habla.llm.paraphrase import Paraphrases
from habla.llm.word_vectors import WordVectors, cached

gguf = pytest.importorskip("gguf")

TOKENS = ["<pad>", "▁finished", "▁completed", "▁cathedral", "▁bridge", "▁tower", "▁the", "ing", "▁Market",
          "▁x1", "▁stone", "▁harbour"]


def write_gguf(path: Path) -> None:
    rng = np.random.default_rng(7)
    table = rng.normal(size=(len(TOKENS), 8)).astype(np.float32)
    table[2] = table[1] + 0.05 * rng.normal(size=8)  # "completed" next to "finished"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_token_list(TOKENS)
    writer.add_tensor("token_embd.weight", table)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture
def vectors(tmp_path: Path) -> WordVectors:
    path = tmp_path / "tiny.gguf"
    write_gguf(path)
    found = cached(path)
    assert found is not None
    return found


def test_whole_word_tokens_become_unit_vectors_kept_beside_the_model(vectors: WordVectors, tmp_path: Path) -> None:
    # Word-start tokens of letters only, lower-cased; "ing" (a word piece) and "x1" (a digit) are left out.
    assert sorted(vectors.index) == ["bridge", "cathedral", "completed", "finished", "harbour", "market", "stone",
                                     "the", "tower"]
    assert (tmp_path / "tiny.words.npy").exists() and (tmp_path / "tiny.words.txt").exists()
    words, rows = vectors.matrix(["finished", "completed", "bridge", "unknown"])
    assert words == ["finished", "completed", "bridge"]
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-2)
    sims = rows @ rows.T
    assert sims[0, 1] > 0.9 and sims[0, 2] < 0.9


def test_a_second_load_reads_the_kept_table(vectors: WordVectors, tmp_path: Path) -> None:
    (tmp_path / "tiny.gguf").unlink()  # no GGUF left to read: the kept table must be enough
    again = cached(tmp_path / "tiny.gguf", extract_missing=False)
    assert again is not None and sorted(again.index) == sorted(vectors.index)


def test_a_missing_table_is_not_extracted_unless_asked(tmp_path: Path) -> None:
    write_gguf(tmp_path / "tiny.gguf")
    assert cached(tmp_path / "tiny.gguf", extract_missing=False) is None
    assert not (tmp_path / "tiny.words.npy").exists()


def cathedral() -> Transcript:
    texts = ["Welcome to the old town tour.", "We start here at the cathedral.",
             "It was finished in fourteen ninety after two centuries of work.",
             "Next we walk to the harbour and the stone bridge."]
    segments = [Segment(i, i * 10.0, i * 10.0 + 9, f" {t}") for i, t in enumerate(texts)]
    return Transcript(text=" ".join(texts), language="en", language_probability=1.0, duration=40.0,
                      segments=segments)


class NoLLM:
    name = "none"
    context_size = 8192

    def chat(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("answers are quoted, not generated")


def test_a_question_in_other_words_is_answered_only_with_word_vectors(vectors: WordVectors) -> None:
    question = "When was the cathedral completed?"  # the transcript says "finished"
    assert Assistant(NoLLM()).ask(cathedral(), question).refused  # type: ignore[arg-type]
    answer = Assistant(NoLLM(), paraphrases=Paraphrases(vectors, 0.5)).ask(  # type: ignore[arg-type]
        cathedral(), question)
    assert not answer.refused and answer.citations[0].segment_id == 2


def test_word_vectors_do_not_answer_what_is_not_there(vectors: WordVectors) -> None:
    answer = Assistant(NoLLM(), paraphrases=Paraphrases(vectors, 0.5)).ask(  # type: ignore[arg-type]
        cathedral(), "Who designed the bridge tickets?")
    assert answer.refused


def test_an_amount_question_is_refused_where_no_amount_is_said() -> None:
    # Every asked word is said by the last segment, but no amount is.
    answer = Assistant(NoLLM()).ask(cathedral(), "How many stone bridges has the harbour?")  # type: ignore[arg-type]
    assert answer.refused
    said = Assistant(NoLLM()).ask(cathedral(), "How many centuries of work did the cathedral take?")  # type: ignore[arg-type]
    assert not said.refused and said.citations[0].segment_id == 2

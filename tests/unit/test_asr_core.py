"""Pure logic of the ASR core: options, chunking, resuming, segmenting, WER, configuration."""

from __future__ import annotations

from dataclasses import replace

import pytest

from habla.asr.options import TranscribeOptions
from habla.asr.pipeline import group_spans, skipped_speech, split_chunk, too_sparse, undecoded_tails
from habla.asr.protocol import ChunkText
from habla.asr.segmenter import SegmentRules, chunk_segments, split_words
from habla.asr.types import Segment, Transcript, TranscriptInfo, Word, compression_ratio
from habla.asr.wer import normalize, word_error_rate
from habla.config import load_settings
from habla.errors import InvalidOption


# -- options --------------------------------------------------------------------------------------------
def test_beam_is_greedy_only_for_english_transcription() -> None:
    assert TranscribeOptions().beam_for("en") == 1
    assert TranscribeOptions().beam_for("es") == 5
    assert TranscribeOptions(task="translate").beam_for("en") == 5
    assert TranscribeOptions(beam_size=3).beam_for("en") == 3


@pytest.mark.parametrize("changes", [dict(task="summarise"), dict(beam_size=11), dict(batch_size=0),
                                     dict(temperature=1.5), dict(language="klingon"), dict(block_seconds=5)])
def test_bad_options_are_rejected_with_a_clear_error(changes: dict) -> None:
    with pytest.raises(InvalidOption):
        TranscribeOptions(**changes)


@pytest.mark.parametrize(("given", "kept"), [("ES", "es"), (" en ", "en"), ("auto", None), ("", None)])
def test_language_is_normalised(given: str, kept: str | None) -> None:
    assert TranscribeOptions(language=given).language == kept


# -- chunking -------------------------------------------------------------------------------------------
def test_group_spans_merges_close_speech_up_to_one_window() -> None:
    spans = [(0.0, 5.0), (6.0, 12.0), (13.0, 29.0), (29.5, 35.0)]
    assert group_spans(spans) == [(0.0, 29.0), (29.5, 35.0)]


def test_group_spans_starts_a_new_chunk_after_a_long_silence() -> None:
    assert group_spans([(0.0, 3.0), (10.0, 12.0)], max_gap=4.0) == [(0.0, 3.0), (10.0, 12.0)]


def test_group_spans_cuts_a_span_longer_than_the_window_without_losing_audio() -> None:
    chunks = group_spans([(0.0, 40.0)], window=15.0)
    assert chunks == [(0.0, 15.0), (15.0, 30.0), (30.0, 40.0)]


def test_group_spans_cuts_a_full_chunk_at_its_longest_silence_not_its_last_one() -> None:
    # a sentence with a short breath (0.1 s) at 24 s; the longer pause (0.8 s) between sentences is at 18 s
    spans = [(0.0, 10.0), (10.8, 18.0), (18.8, 24.0), (24.1, 31.0), (31.5, 40.0)]
    assert group_spans(spans) == [(0.0, 18.0), (18.8, 40.0)]
    assert group_spans(spans, min_fill=1.0) == [(0.0, 24.0), (24.1, 40.0)]  # greedy: cut at the breath


def test_group_spans_keeps_chunks_at_least_min_fill_of_the_window() -> None:
    # the longest pause (2 s) comes 4 s in: cutting there would leave a 4 s chunk, so the best later pause wins
    spans = [(0.0, 4.0), (6.0, 20.0), (20.3, 27.0), (27.1, 33.0)]
    assert group_spans(spans, min_fill=0.5) == [(0.0, 20.0), (20.3, 33.0)]


def test_group_spans_never_cuts_mid_speech_unless_a_span_exceeds_the_window() -> None:
    spans = [(0.0, 12.0), (12.2, 25.0), (25.6, 29.0), (29.3, 61.0)]
    chunks = group_spans(spans)
    edges = {e for _, e in chunks} | {s for s, _ in chunks}
    assert edges <= {s for sp in spans for s in sp} | {59.3}  # 29.3 + 30: the one span longer than a window
    assert all(e - s <= 30.0 for s, e in chunks)
    assert chunks[0] == (0.0, 25.0)  # the longest pause (0.6 s), not the last (0.3 s)


def _chunk(span: tuple[float, float], text: str, word_times: list[tuple[float, float]]) -> ChunkText:
    words = tuple(Word(s, e, f" w{i}", 0.9) for i, (s, e) in enumerate(word_times))
    return ChunkText(span=span, text=text, words=words)


def test_undecoded_tail_is_found_where_speech_continues_after_the_last_word() -> None:
    spans = [(0.0, 4.0), (5.0, 12.0)]
    chunk = _chunk((100.0, 112.0), " hello there", [(100.2, 100.8), (101.0, 103.9)])
    [(start, end)] = undecoded_tails([chunk], spans, offset=100.0)
    assert start == pytest.approx(3.9) and end == 12.0  # from the last decoded word to the chunk's end


def test_no_tail_when_the_words_reach_the_end_of_the_speech() -> None:
    spans = [(0.0, 4.0), (5.0, 12.0)]
    chunk = _chunk((100.0, 112.0), " a b", [(100.2, 104.0), (105.0, 111.8)])
    assert undecoded_tails([chunk], spans, offset=100.0) == []


def test_skipped_speech_is_a_region_before_the_last_word_with_no_word_in_it() -> None:
    spans = [(0.0, 6.0), (8.0, 12.0), (12.5, 12.8), (15.0, 20.0)]  # 12.5-12.8: a click, too short to count
    chunk = _chunk((100.0, 120.0), " a b c d", [(108.1, 108.6), (109.2, 109.7), (110.4, 110.9), (115.2, 115.8)])
    assert skipped_speech([chunk], spans, offset=100.0) == [(0.0, 6.0)]


def test_speech_with_too_few_words_or_only_stretched_ones_counts_as_skipped() -> None:
    spans = [(0.0, 6.0), (8.0, 12.0)]
    one_word = _chunk((0.0, 12.0), " a b c", [(2.0, 2.5), (8.1, 8.6), (9.2, 9.7)])  # 6 s of speech, one word
    assert skipped_speech([one_word], spans, offset=0.0) == [(0.0, 6.0)]
    stretched = _chunk((0.0, 12.0), " a b c d", [(3.0, 3.6), (3.6, 7.9), (8.1, 8.6), (9.2, 9.7)])
    assert skipped_speech([stretched], spans, offset=0.0) == [(0.0, 6.0)]


def test_no_skipped_speech_when_every_region_has_a_word() -> None:
    spans = [(0.0, 1.5), (8.0, 12.0)]
    # a word timed just past its region counts; speech runs at 2-4 words a second, one per 2 s is enough
    chunk = _chunk((0.0, 12.0), " a b c", [(1.4, 1.9), (8.0, 8.5), (9.0, 9.5)])
    assert skipped_speech([chunk], spans, offset=0.0) == []


def test_a_chunk_with_too_little_text_for_its_speech_is_split_in_halves() -> None:
    spans = [(0.0, 9.0), (10.0, 20.0), (21.0, 29.0)]
    sparse = _chunk((0.0, 29.0), " Yes.", [(0.1, 28.9)])
    full = ChunkText(span=(0.0, 29.0), text=" " + "word " * 80, words=())
    assert too_sparse(sparse, spans, 0.0)
    assert not too_sparse(full, spans, 0.0)
    parts = split_chunk(sparse, spans, 0.0)
    assert len(parts) >= 2 and all(e - s <= 15.0 for s, e in parts)
    assert parts[0][0] == 0.0 and parts[-1][1] == 29.0


# -- segments -------------------------------------------------------------------------------------------
def _words(text: str, start: float = 0.0, step: float = 0.4, pause_after: dict[int, float] | None = None) -> list[Word]:
    words, t = [], start
    for i, token in enumerate(text.split()):
        words.append(Word(round(t, 3), round(t + step - 0.05, 3), " " + token, 0.9))
        t += step + (pause_after or {}).get(i, 0.0)
    return words


def test_segments_break_at_long_pauses_and_sentence_ends() -> None:
    words = _words("one two three four. five six seven eight nine", step=0.8, pause_after={1: 1.0})
    groups = [" ".join(w.word.strip() for w in g) for g in split_words(words)]
    assert groups == ["one two", "three four.", "five six seven eight nine"]


def test_segments_never_exceed_the_maximum_length() -> None:
    words = _words(" ".join(f"w{i}" for i in range(200)), step=0.3)
    rules = SegmentRules()
    for group in split_words(words, rules):
        assert group[-1].end - group[0].start <= rules.max_seconds + 0.5
        assert sum(len(w.word) for w in group) <= rules.max_chars + 10


def test_chunk_segments_keep_text_and_word_times() -> None:
    words = tuple(_words("Hello world. This is habla speaking to you", start=10.0))
    segments = list(chunk_segments(ChunkText(span=(10.0, 15.0), text="".join(w.word for w in words), words=words)))
    assert "".join(s.text for s in segments) == "".join(w.word for w in words)
    assert all(s.start == s.words[0].start and s.end == s.words[-1].end for s in segments)


def test_each_segment_has_its_own_tokens_and_log_probability_not_its_chunks() -> None:
    words = tuple(replace(w, tokens=(100 + i, 200 + i), logprob=-0.1 * (i + 1))
                  for i, w in enumerate(_words("one two three four. five six seven", step=0.8, pause_after={3: 1.0})))
    chunk = ChunkText(span=(0.0, 8.0), text="".join(w.word for w in words), words=words, avg_logprob=-0.9,
                      no_speech_prob=0.05, compression_ratio=2.0, tokens=tuple(t for w in words for t in w.tokens),
                      temperature=0.4)
    first, second = chunk_segments(chunk)
    assert first.tokens == (100, 200, 101, 201, 102, 202, 103, 203)
    assert second.tokens == (104, 204, 105, 205, 106, 206)
    assert first.avg_logprob == pytest.approx(-(0.1 + 0.2 + 0.3 + 0.4) / 8)  # mean over tokens, not words
    assert second.avg_logprob == pytest.approx(-(0.5 + 0.6 + 0.7) / 6)
    assert first.compression_ratio == compression_ratio(first.text) != chunk.compression_ratio
    # the decode window's figures: the same for every segment of the window, as openai-whisper gives them
    assert first.no_speech_prob == second.no_speech_prob == 0.05
    assert first.temperature == second.temperature == 0.4


def test_a_segment_whose_words_carry_no_tokens_reports_none_rather_than_its_chunks() -> None:
    words = (*_words("one two.", step=0.8), replace(_words("three", start=3.0)[0], tokens=(7,), logprob=-0.2))
    segments = list(chunk_segments(ChunkText(span=(0.0, 4.0), text="".join(w.word for w in words), words=words,
                                             avg_logprob=-0.3, tokens=(1, 2, 7))))
    assert [(s.tokens, s.avg_logprob) for s in segments] == [((), None), ((7,), -0.2)]


def test_a_text_only_chunk_is_one_segment_with_the_decodes_own_figures() -> None:
    chunk = ChunkText(span=(1.0, 5.0), text=" Hola.", words=(), avg_logprob=-0.25, no_speech_prob=0.1,
                      compression_ratio=0.7, tokens=(5, 6), temperature=0.2)
    (segment,) = chunk_segments(chunk)
    assert (segment.tokens, segment.avg_logprob, segment.no_speech_prob, segment.temperature) == ((5, 6), -0.25,
                                                                                                  0.1, 0.2)


def test_transcript_round_trips_through_its_dict() -> None:
    seg = Segment(id=0, start=0.0, end=1.5, text=" Hola.", words=(Word(0.0, 1.5, " Hola.", 0.8),))
    transcript = Transcript.from_segments(TranscriptInfo("es", 0.97, 1.5, "base", "transcribe"), [seg])
    again = Transcript.from_dict(transcript.to_dict())
    assert again.text == transcript.text == "Hola."
    assert again.segments[0].words[0].word == " Hola."


# -- WER ------------------------------------------------------------------------------------------------
def test_normalize_ignores_case_punctuation_accents_and_digits() -> None:
    assert normalize("¡Marque 5, por favor!", "es") == "marque cinco por favor"
    assert normalize("It's 2 o'clock.", "en") == "its two oclock"
    assert normalize("Canción Ñandú") == "cancion nandu"


def test_word_error_rate_counts_edits() -> None:
    assert word_error_rate(["the cat sat"], ["the cat sat"]).wer == 0.0
    assert word_error_rate(["the cat sat on the mat"], ["the cat sat on mat"]).wer == pytest.approx(1 / 6)


# -- configuration --------------------------------------------------------------------------------------
def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HABLA_ASR__BATCH_SIZE", "4")
    assert load_settings().asr.batch_size == 4


@pytest.mark.parametrize("name", ["HABLA_ASR__BACH_SIZE", "HABLA_NOPE"])
def test_unknown_settings_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "1")
    with pytest.raises(InvalidOption, match=name):
        load_settings()


def test_previous_text_conditions_beam_search_only_unless_asked() -> None:
    assert TranscribeOptions().conditions("es") and not TranscribeOptions().conditions("en")
    assert TranscribeOptions(condition_on_previous_text=True).conditions("en")
    assert not TranscribeOptions(condition_on_previous_text=False).conditions("es")


@pytest.mark.parametrize("name", ["tuning", "held-out", "held-out-2", "tuning-3"])
def test_numbered_seed_sets_build_new_files(name: str) -> None:
    from habla.asr.bench import check_seed_set

    assert check_seed_set(name) == name


@pytest.mark.parametrize("name", ["heldout", "held-out-0", "held-out-", "tuning-x", ""])
def test_unknown_seed_sets_are_refused(name: str) -> None:
    from habla.asr.bench import check_seed_set

    with pytest.raises(InvalidOption, match="seed set"):
        check_seed_set(name)

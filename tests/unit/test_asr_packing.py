"""Window packing: the plan, the split of words by time, and the scheduler with a fake engine that writes one word
per stretch of sound in a window (so a packed window's words can be told apart the way Whisper's are)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np
import pytest

from habla.asr.batching import BatchScheduler
from habla.asr.options import TranscribeOptions
from habla.asr.packing import Pack, pack_audio, plan_packs, split_words, unpack
from habla.asr.protocol import ChunkText, Span
from habla.asr.types import Word
from habla.audio.decode import SAMPLE_RATE
from habla.config import BatchingSettings

EN = TranscribeOptions(language="en")


def word(start: float, end: float, text: str = "x") -> Word:
    return Word(start, end, text, 1.0)


def test_short_chunks_fill_a_window_with_gaps_and_long_ones_stay_alone() -> None:
    packs = plan_packs([3.0, 3.0, 12.0, 3.0, 28.0, 2.0], window=30.0, gap=1.0, max_chunk=10.0)
    assert [p.members for p in packs] == [(2,), (4,), (0, 1, 3, 5)]  # long chunks do not break the short ones' pack
    assert packs[2].regions == ((0.0, 3.0), (4.0, 7.0), (8.0, 11.0), (12.0, 14.0))
    assert packs[0].regions == ((0.0, 12.0),)


def test_a_pack_stops_before_it_would_overflow_the_window() -> None:
    packs = plan_packs([9.0] * 4, window=30.0, gap=1.0, max_chunk=10.0)
    assert [p.members for p in packs] == [(0, 1, 2), (3,)]
    assert packs[0].seconds == 29.0


def test_packed_audio_has_each_chunk_at_its_region_and_silence_between() -> None:
    pieces = [np.full(SAMPLE_RATE, 1.0, np.float32), np.full(2 * SAMPLE_RATE, 2.0, np.float32)]
    pack = plan_packs([1.0, 2.0], window=30.0, gap=1.0, max_chunk=10.0)[0]
    audio = pack_audio(pieces, pack)
    assert len(audio) == 4 * SAMPLE_RATE
    assert set(audio[:SAMPLE_RATE]) == {1.0} and set(audio[SAMPLE_RATE:2 * SAMPLE_RATE]) == {0.0}
    assert set(audio[2 * SAMPLE_RATE:]) == {2.0}


def test_words_go_to_the_region_nearest_their_middle() -> None:
    regions = [(0.0, 3.0), (4.0, 7.0)]
    words = [word(0.1, 1.0, "a"), word(2.8, 3.4, "b"), word(3.6, 4.3, "c"), word(6.0, 7.2, "d")]
    parts = split_words(words, regions)
    assert parts is not None
    assert [[w.word for w in p] for p in parts] == [["a", "b"], ["c", "d"]]


def test_a_word_timed_across_a_whole_gap_makes_the_chunks_beside_it_unsplittable() -> None:
    assert split_words([word(2.5, 4.5)], [(0.0, 3.0), (4.0, 7.0)]) == [None, None]


def test_chunks_away_from_a_crossed_gap_keep_their_words() -> None:
    regions = [(0.0, 3.0), (4.0, 7.0), (8.0, 11.0), (12.0, 15.0)]
    words = [word(0.5, 1.0, "a"), word(2.5, 4.5, "b"), word(8.5, 9.0, "c"), word(12.5, 13.0, "d")]
    parts = split_words(words, regions)
    assert parts[:2] == [None, None]
    assert [[w.word for w in p] for p in parts[2:] if p is not None] == [["c"], ["d"]]


class SoundEngine:
    """One word per stretch of non-zero audio in each span, named after its value, timed 0.1 s inside it; with
    ``sloppy``, a multi-stretch window's words are all timed over the whole span (what cannot be split)."""

    name = "sound"

    def __init__(self, sloppy: bool = False) -> None:
        self.calls: list[tuple[list[Span], TranscribeOptions]] = []
        self.sloppy = sloppy

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        return "en", 1.0

    def decode_chunks(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                      options: TranscribeOptions, offset: float) -> Iterator[ChunkText]:
        self.calls.append((list(spans), options))
        for s, e in spans:
            first = int(s * SAMPLE_RATE)
            piece = audio[first:int(e * SAMPLE_RATE)]
            sound = np.concatenate([[False], piece != 0, [False]]).astype(np.int8)
            edges = np.flatnonzero(np.diff(sound))  # starts and ends of sound, alternating
            runs = list(zip(edges[::2], edges[1::2], strict=True))
            words = [Word((first + a) / SAMPLE_RATE + 0.1, (first + b) / SAMPLE_RATE - 0.1,
                          f" {int(piece[a])}", 1.0) for a, b in runs]
            if self.sloppy and len(words) > 1:
                words = [Word(s, e, w.word, 1.0) for w in words]
            yield ChunkText(span=(s + offset, e + offset), text="".join(w.word for w in words),
                            words=tuple(Word(w.start + offset, w.end + offset, w.word, 1.0) for w in words))


def tone(value: int, seconds: float) -> np.ndarray:
    return np.full(int(seconds * SAMPLE_RATE), value, np.float32)


def packing(engine: SoundEngine, **settings: object) -> BatchScheduler:
    return BatchScheduler(engine, BatchingSettings(pack_windows=True, **settings),  # type: ignore[arg-type]
                          clock=lambda: 0.0)


def test_short_requests_share_one_window_and_get_their_own_words_back_in_their_own_time() -> None:
    engine = SoundEngine()
    s = packing(engine)
    requests = [s.submit(np.concatenate([tone(0, 1.0), tone(v, 2.0)]), [(1.0, 3.0)], "en", EN, offset=10.0 * v)
                for v in (1, 2, 3)]
    assert s.step() == 3
    assert len(engine.calls) == 1 and len(engine.calls[0][0]) == 1  # three requests, one window
    assert engine.calls[0][1].word_timestamps  # splitting needs word times
    for v, request in zip((1, 2, 3), requests, strict=True):
        (result,) = s.wait(request)
        assert result.text == f" {v}"
        assert result.span == (10.0 * v + 1.0, 10.0 * v + 3.0)
        assert (result.words[0].start, result.words[0].end) == pytest.approx((10.0 * v + 1.1, 10.0 * v + 2.9))


def test_a_window_that_cannot_be_split_is_decoded_again_chunk_by_chunk() -> None:
    engine = SoundEngine(sloppy=True)
    s = packing(engine)
    requests = [s.submit(tone(v, 2.0), [(0.0, 2.0)], "en", EN, offset=0.0) for v in (1, 2)]
    s.step()
    assert [len(call[0]) for call in engine.calls] == [1, 2]  # the packed window, then each chunk alone
    assert not engine.calls[1][1].word_timestamps  # the second call has the requests' own options
    assert [[r.text for r in s.wait(q)] for q in requests] == [[" 1"], [" 2"]]


def test_chunks_that_fail_to_split_are_packed_once_more_in_another_order_before_going_alone() -> None:
    engine = SoundEngine(sloppy=True)  # every window of several chunks fails, so all four end up alone
    s = packing(engine)
    requests = [s.submit(tone(v, 2.0), [(0.0, 2.0)], "en", EN, offset=0.0) for v in (1, 2, 3, 4)]
    s.step()
    assert [len(call[0]) for call in engine.calls] == [1, 1, 4]
    assert [[r.text for r in s.wait(q)] for q in requests] == [[" 1"], [" 2"], [" 3"], [" 4"]]


def test_chunks_beside_a_crossed_gap_are_split_when_packed_apart() -> None:
    engine = CrossingEngine()
    s = packing(engine)
    requests = [s.submit(tone(v, 2.0), [(0.0, 2.0)], "en", EN, offset=0.0) for v in (1, 2, 3, 4)]
    s.step()
    assert [len(call[0]) for call in engine.calls] == [1, 1]  # the window, then 1 3 2 4: nothing alone
    assert [[r.text for r in s.wait(q)] for q in requests] == [[" 1"], [" 2"], [" 3"], [" 4"]]


class EarlyStopEngine(SoundEngine):
    """As SoundEngine, but a window's decode ends after its first two words (the real decoder's most common failure:
    the end of the transcript after the first few chunks of a packed window)."""

    def decode_chunks(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                      options: TranscribeOptions, offset: float) -> Iterator[ChunkText]:
        for chunk in super().decode_chunks(audio, spans, language, options, offset):
            words = chunk.words[:2]
            yield ChunkText(span=chunk.span, text="".join(w.word for w in words), words=words)


@pytest.mark.parametrize(("rounds", "calls"), [(2, [1, 1, 4]), (3, [1, 1, 1, 2]), (8, [1, 1, 1, 2])])
def test_chunks_after_a_decode_that_stopped_early_are_packed_again_while_each_round_splits_some(
        rounds: int, calls: list[int]) -> None:
    engine = EarlyStopEngine()
    s = packing(engine, pack_rounds=rounds)
    requests = [s.submit(tone(v, 2.0), [(0.0, 2.0)], "en", EN, offset=0.0) for v in range(1, 9)]
    s.step()
    # 1 2 heard; then 3 5 (of 3 5 7 4 6 8); then 4 7 (of 4 7 6 8); two left go alone, as a crossed pair would
    assert [len(call[0]) for call in engine.calls] == calls
    assert [[r.text for r in s.wait(q)] for q in requests] == [[f" {v}"] for v in range(1, 9)]


class CrossingEngine(SoundEngine):
    """As SoundEngine, but where chunk 1 is heard just before chunk 2 (or 3 before 4) its word runs across the gap
    between them."""

    def decode_chunks(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                      options: TranscribeOptions, offset: float) -> Iterator[ChunkText]:
        for chunk in super().decode_chunks(audio, spans, language, options, offset):
            words = list(chunk.words)
            for k in range(len(words) - 1):
                if (words[k].word, words[k + 1].word) in ((" 1", " 2"), (" 3", " 4")):
                    words[k] = Word(words[k].start, words[k + 1].start + 0.1, words[k].word, 1.0)
            yield ChunkText(span=chunk.span, text=chunk.text, words=tuple(words))


def test_long_chunks_are_decoded_exactly_as_without_packing() -> None:
    engine = SoundEngine()
    s = packing(engine)
    request = s.submit(tone(5, 20.0), [(0.0, 20.0)], "en", EN, offset=0.0)
    s.step()
    assert engine.calls[0][0] == [(0.25 / SAMPLE_RATE, 20.0 + 0.25 / SAMPLE_RATE)]
    assert not engine.calls[0][1].word_timestamps
    assert [r.text for r in s.wait(request)] == [" 5"]


def test_max_batch_counts_windows_when_chunks_are_packed() -> None:
    engine = SoundEngine()
    s = packing(engine, max_batch=2)
    for v in range(1, 21):  # 20 chunks of 2 s: 10 to a 30-s window with 1-s gaps
        s.submit(tone(v, 2.0), [(0.0, 2.0)], "en", EN, offset=0.0, principal=str(v))
    assert s.step() == 20
    assert len(engine.calls[0][0]) == 2


def test_plan_of_one_chunk_is_the_chunk_itself() -> None:
    assert plan_packs([4.0], window=30.0, gap=1.0, max_chunk=10.0) == [Pack((0,), ((0.0, 4.0),))]


class ScoredSoundEngine(SoundEngine):
    """SoundEngine whose words carry token ids (the value, twice) and a log-probability (-value / 10), and whose
    windows have their own figures, as Whisper's decode reports them."""

    def decode_chunks(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                      options: TranscribeOptions, offset: float) -> Iterator[ChunkText]:
        for chunk in super().decode_chunks(audio, spans, language, options, offset):
            words = tuple(replace(w, tokens=(int(w.word), int(w.word)), logprob=-int(w.word) / 10)
                          for w in chunk.words)
            yield replace(chunk, words=words, tokens=tuple(t for w in words for t in w.tokens), avg_logprob=-0.05,
                          no_speech_prob=0.3, temperature=options.temperature)


def test_a_packed_chunk_reports_its_own_tokens_and_log_probability_not_the_windows() -> None:
    s = packing(ScoredSoundEngine())
    requests = [s.submit(tone(v, 2.0), [(0.0, 2.0)], "en", replace(EN, temperature=0.4), offset=0.0)
                for v in (1, 2)]
    assert s.step() == 2
    (first,), (second,) = (s.wait(r) for r in requests)
    assert (first.tokens, second.tokens) == ((1, 1), (2, 2))
    assert (first.avg_logprob, second.avg_logprob) == (-0.05, -0.1)  # -0.1 / 2 tokens, -0.2 / 2 tokens
    assert first.words[0].tokens == (1, 1) and second.words[0].logprob == -0.2
    assert first.no_speech_prob == second.no_speech_prob == 0.3  # the window's: no chunk has one of its own
    assert first.temperature == second.temperature == 0.4


def test_a_word_timed_into_a_gap_is_kept_inside_its_own_chunk() -> None:
    window = ChunkText(span=(10.0, 17.0), text=" a b", words=(word(12.0, 13.2, " a"), word(13.5, 14.6, " b")))
    first, second = unpack(window, Pack((0, 1), ((0.0, 3.0), (4.0, 7.0))), window_start=10.0)
    assert first is not None and second is not None
    assert (first.words[0].start, first.words[0].end) == (12.0, 13.0)  # not into the silence after its chunk
    assert (second.words[0].start, second.words[0].end) == (14.0, 14.6)  # nor into the silence before it

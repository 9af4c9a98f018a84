"""TranscriptionRun with a scripted engine: block carry-over, re-decoding guards, cancel — no model needed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pytest

from habla.asr.options import DecodeGuards, TranscribeOptions
from habla.asr.pipeline import (KEPT_SILENCE_SECONDS, TranscriptionRun, compact, fixed_windows, ngram_overlap,
                                 repeats)
from habla.asr.protocol import ChunkText, Span
from habla.asr.types import Word
from habla.audio.decode import SAMPLE_RATE
from habla.errors import Cancelled


@dataclass(frozen=True)
class Call:
    span: Span  # absolute seconds
    prompt: str | None
    temperature: float


@dataclass(frozen=True)
class Reply:
    text: str
    avg_logprob: float = -0.2
    words_until: float = 1.0  # share of the span the words cover (less: decoding "stopped early")


# what the engine says for a chunk: (absolute span, options) -> Reply
Script = Callable[[Span, TranscribeOptions], Reply]


@dataclass
class FakeEngine:
    script: Script
    name: str = "fake"
    calls: list[Call] = field(default_factory=list)

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        return "en", 1.0

    def decode_chunks(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                      options: TranscribeOptions, offset: float) -> Iterator[ChunkText]:
        for s, e in spans:
            span = (s + offset, e + offset)
            self.calls.append(Call(span, options.initial_prompt, options.temperature))
            reply = self.script(span, options)
            tokens = reply.text.split()
            step = (span[1] - span[0]) * reply.words_until / max(len(tokens), 1)
            words = tuple(Word(round(span[0] + i * step, 3), round(span[0] + (i + 1) * step, 3), f" {w}", 0.9)
                          for i, w in enumerate(tokens))
            yield ChunkText(span=span, text="".join(w.word for w in words), words=words,
                            avg_logprob=reply.avg_logprob, compression_ratio=1.2, temperature=options.temperature)


@dataclass
class Use:
    """The engine's use context, remembering whether the run let go of it."""

    engine: FakeEngine
    exited: bool = False

    @contextmanager
    def __call__(self) -> Iterator[FakeEngine]:
        try:
            yield self.engine
        finally:
            self.exited = True


def run(script: Script, seconds: float, cancel: threading.Event | None = None, **changes: object
        ) -> tuple[TranscriptionRun, FakeEngine, Use]:
    engine = FakeEngine(script)
    use = Use(engine)
    # vad off: fixed 30 s windows over the whole audio, so the chunks are known without a VAD model
    options = TranscribeOptions(language="en", vad=False, block_seconds=60, **changes)  # type: ignore[arg-type]
    audio = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    return TranscriptionRun(use(), audio, options, "fake", cancel=cancel), engine, use


def label(span: Span) -> str:
    return f"w{round(span[0])}"  # one distinct word per chunk start


def words_of(span: Span, count: int = 30) -> str:  # 30 words: enough text for 30 s, so never "sparse"
    return " ".join(f"{label(span)}x{i}" for i in range(count))


def test_blocks_carry_speech_over_so_every_second_is_decoded_once() -> None:
    transcription, engine, use = run(lambda span, _: Reply(words_of(span)), 150.0)
    transcript = transcription.result()
    spans = sorted(c.span for c in engine.calls)
    assert spans == [(0.0, 30.0), (30.0, 60.0), (60.0, 90.0), (90.0, 120.0), (120.0, 150.0)]
    assert transcript.text.split() == [w for s in spans for w in words_of(s).split()]
    assert use.exited and transcript.duration == pytest.approx(150.0)


def test_a_chunk_that_copies_its_prompt_is_decoded_again_without_it() -> None:
    def script(span: Span, options: TranscribeOptions) -> Reply:
        if options.initial_prompt and span[0] >= 30:  # the prompt leaks: earlier text comes out again
            return Reply(options.initial_prompt.strip())
        return Reply(words_of(span))

    transcription, engine, _ = run(script, 60.0, condition_on_previous_text=True)
    text = transcription.result().text
    assert text.split() == words_of((0, 30)).split() + words_of((30, 60)).split()
    second = [c for c in engine.calls if c.span[0] == 30.0]
    assert second[0].prompt and second[1].prompt is None

    unguarded, _, _ = run(script, 60.0, condition_on_previous_text=True,
                          guards=DecodeGuards(**{**DecodeGuards.from_settings().__dict__, "redecode_suspect": False}))
    assert unguarded.result().text.split() == words_of((0, 30)).split() * 2  # the guard is what fixes it


UNLIKELY_REDECODED = DecodeGuards(**{**DecodeGuards.from_settings().__dict__, "min_avg_logprob": -1.0})


def test_an_unlikely_chunk_falls_back_to_a_higher_temperature_and_says_so() -> None:
    def script(span: Span, options: TranscribeOptions) -> Reply:
        if span[0] == 0 and options.temperature < 0.4:
            return Reply(words_of((99, 99)), avg_logprob=-2.5)
        return Reply(words_of(span))

    transcription, engine, _ = run(script, 30.0, guards=UNLIKELY_REDECODED)
    transcript = transcription.result()
    assert transcript.text.split() == words_of((0, 30)).split()
    assert [c.temperature for c in engine.calls] == [0.0, 0.0, 0.2, 0.4]
    assert {s.temperature for s in transcript.segments} == {0.4}


def test_a_chunk_bad_at_every_temperature_keeps_its_most_likely_decode() -> None:
    def script(span: Span, options: TranscribeOptions) -> Reply:
        return Reply(words_of((options.temperature, 0)), avg_logprob=-3.0 + options.temperature)

    transcript = run(script, 30.0, guards=UNLIKELY_REDECODED)[0].result()
    assert transcript.text == words_of((0.6, 0))


def test_unlikely_chunks_are_kept_by_default() -> None:
    def script(span: Span, options: TranscribeOptions) -> Reply:
        return Reply(words_of(span), avg_logprob=-2.5)

    transcription, engine, _ = run(script, 30.0)
    assert transcription.result().text.split() == words_of((0, 30)).split() and len(engine.calls) == 1


def test_a_re_decoded_tail_that_repeats_its_chunk_is_dropped() -> None:
    def script(span: Span, options: TranscribeOptions) -> Reply:
        # the words are timed too early (they end at 40 % of the chunk), so the rest looks undecoded;
        # decoding it again writes the same passage a second time
        return Reply(words_of((0, 30)), words_until=0.4 if span == (0.0, 30.0) else 1.0)

    once = run(script, 30.0)[0].result().text.split()
    assert once == words_of((0, 30)).split()
    guards = {**DecodeGuards.from_settings().__dict__, "drop_repeated_redecodes": False}
    twice = run(script, 30.0, guards=DecodeGuards(**guards))[0].result().text.split()
    assert twice == words_of((0, 30)).split() * 2  # what the noise-bed English file showed


def test_a_real_tail_is_kept() -> None:
    def script(span: Span, options: TranscribeOptions) -> Reply:
        if span == (0.0, 30.0):
            return Reply(words_of(span), words_until=0.4)  # decoding stopped early
        return Reply("and the rest of it")

    transcription, engine, _ = run(script, 30.0)
    assert transcription.result().text.endswith("and the rest of it")
    assert engine.calls[1].span == (0.0 + 12.0, 30.0)


def test_a_chunk_with_too_little_text_is_decoded_again_in_halves() -> None:
    def script(span: Span, options: TranscribeOptions) -> Reply:
        return Reply("only this" if span == (0.0, 30.0) else words_of(span, 20))

    transcription, engine, _ = run(script, 30.0)
    text = transcription.result().text
    assert "only this" not in text and text.split() == words_of((0, 15), 20).split() + words_of((15, 30), 20).split()


def test_a_sparse_chunk_that_cannot_split_has_its_tail_decoded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from habla.asr import pipeline

    # a 3-s phrase, then another voice's 8-s phrase; the engine writes only the first whenever it is in the piece
    # (held-out-2 shuffled English); 12 s of speech fit one half window, so splitting gives the chunk back
    monkeypatch.setattr(pipeline, "speech_spans", lambda audio: [(0.0, 3.0), (4.0, 12.0)])
    first, second = "might even have been made", words_of((4, 12), 20)

    def script(span: Span, options: TranscribeOptions) -> Reply:
        return Reply(first, words_until=0.25) if span[0] < 3.0 else Reply(second)

    engine = FakeEngine(script)
    options = TranscribeOptions(language="en", block_seconds=60)
    audio = np.zeros(12 * SAMPLE_RATE, np.float32)
    transcript = TranscriptionRun(Use(engine)(), audio, options, "fake").result()
    assert transcript.text.split() == first.split() + second.split()
    assert (4.0, 12.0) in [c.span for c in engine.calls]


def test_cancel_stops_the_run_and_releases_the_engine() -> None:
    cancel = threading.Event()
    transcription, engine, use = run(lambda span, _: Reply(words_of(span)), 150.0, cancel=cancel)
    segments = iter(transcription)
    next(segments)
    cancel.set()
    with pytest.raises(Cancelled):
        list(segments)
    assert use.exited and max(c.span[1] for c in engine.calls) <= 60.0


def test_ngram_overlap_and_repeats() -> None:
    assert ngram_overlap("press five to leave a message", "to leave a message press five") == 0.5
    assert ngram_overlap("a b", "a b c") == 0.0  # too short to judge by 3-grams
    assert repeats("pound", "to quit voicemail press pound", 0.5)
    assert not repeats("pound", "press pound to quit", 0.5)


def only_second_phrase(whole: Span, first: str, second: str, times: list[Span]) -> FakeEngine:
    """An engine that writes only ``second`` for the chunk ``whole`` (its words timed at ``times``) and ``first`` for
    any other span: text-only decoding that skipped the first phrase."""
    engine = FakeEngine(lambda span, _: Reply(second if span == whole else first))
    original = engine.decode_chunks

    def retimed(audio, spans, language, options, offset):  # type: ignore[no-untyped-def]
        for chunk in original(audio, spans, language, options, offset):
            if chunk.span == whole:
                words = tuple(Word(s, e, w.word, 0.9) for (s, e), w in zip(times, chunk.words, strict=True))
                chunk = ChunkText(span=chunk.span, text=chunk.text, words=words, compression_ratio=1.2)
            yield chunk

    engine.decode_chunks = retimed  # type: ignore[method-assign]
    return engine


def test_a_phrase_skipped_at_the_start_of_a_chunk_is_decoded_again_and_kept_in_time_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from habla.asr import pipeline

    # two phrases 3 s apart in one chunk; the engine writes only the second (as base did on a Spanish file). The
    # engine hears the pause shortened to 1 s: the second phrase at 7-13 s of the audio it is given.
    monkeypatch.setattr(pipeline, "speech_spans", lambda audio: [(0.0, 6.0), (9.0, 15.0)])
    first, second = words_of((0, 6), 20), words_of((7, 13), 20)
    # its words all lie in the second phrase
    engine = only_second_phrase((0.0, 13.0), first, second, [(7.0 + 0.3 * i, 7.3 + 0.3 * i) for i in range(20)])
    options = TranscribeOptions(language="en", block_seconds=60)
    audio = np.zeros(15 * SAMPLE_RATE, np.float32)
    transcript = TranscriptionRun(Use(engine)(), audio, options, "fake").result()
    assert transcript.text.split() == first.split() + second.split()
    assert [c.span for c in engine.calls] == [(0.0, 13.0), (0.0, 6.0)]
    words = [w for seg in transcript.segments for w in seg.words]
    assert words[20].start == 9.0 and words[0].start == 0.0  # times in the file, not in the shortened audio

    guards = DecodeGuards(**{**DecodeGuards.from_settings().__dict__, "redecode_skipped": False})
    without = TranscriptionRun(Use(engine)(), audio, options.with_(guards=guards), "fake").result()
    assert without.text.split() == second.split()  # the guard is what brings the phrase back


def test_long_silences_are_shortened_before_decoding_and_times_map_back_to_the_file() -> None:
    seconds = 40.0
    audio = np.arange(int(seconds * SAMPLE_RATE), dtype=np.float32)  # each sample says where it came from
    spans = [(2.0, 5.0), (5.5, 8.0), (20.0, 24.0)]  # a short pause kept whole, a 12-s one shortened
    joined, moved, timeline = compact(audio, spans)
    half = KEPT_SILENCE_SECONDS / 2
    assert moved == [(half, 3.5), (4.0, 6.5), (7.5, 11.5)]
    assert len(joined) == int((6.0 + 1.0 + 4.0 + 1.0) * SAMPLE_RATE)
    for start, _ in moved:  # the compacted spans hold the very samples of the original ones
        back = timeline.to_original(start)
        assert joined[int(start * SAMPLE_RATE)] == audio[round(back * SAMPLE_RATE)]
    assert [timeline.to_original(t) for t, _ in moved] == [s for s, _ in spans]
    assert timeline.to_original(11.5) == 24.0 and timeline.to_original(12.0) == 24.5  # clamped at the end


def test_audio_without_long_silences_is_decoded_as_it_is() -> None:
    audio = np.zeros(10 * SAMPLE_RATE, np.float32)
    joined, moved, timeline = compact(audio, [(0.0, 4.0), (4.6, 10.0)])
    assert joined.base is audio or joined is audio  # a view: no copy of the block
    assert moved == [(0.0, 4.0), (4.6, 10.0)] and timeline.to_original(7.25) == 7.25


@pytest.mark.parametrize("samples", [37640, 52_651, 16_000 * 31 + 7])  # 2.3525 s rounds up to 2.353 at 3 decimals
def test_compacted_spans_never_reach_past_the_audio(samples: int) -> None:
    """faster-whisper asserts when its clips add up to more than the audio (without VAD, every clip whose length
    rounded up at 3 decimals crashed)."""
    audio = np.zeros(samples, np.float32)
    for spans in (fixed_windows(samples / SAMPLE_RATE), [(0.5, samples / SAMPLE_RATE)]):
        joined, moved, _ = compact(audio, spans)
        assert all(int(end * SAMPLE_RATE) <= len(joined) for _, end in moved), moved


def test_a_long_pause_costs_no_window_of_silence(monkeypatch: pytest.MonkeyPatch) -> None:
    from habla.asr import pipeline

    # two 10-s phrases 25 s apart: one 30-s window once the pause is shortened, words back at their own times
    monkeypatch.setattr(pipeline, "speech_spans", lambda audio: [(0.0, 10.0), (35.0, 45.0)])
    engine = FakeEngine(lambda span, _: Reply(words_of(span, 20)))
    options = TranscribeOptions(language="en", block_seconds=60)
    transcript = TranscriptionRun(Use(engine)(), np.zeros(45 * SAMPLE_RATE, np.float32), options, "fake").result()
    assert [c.span for c in engine.calls] == [(0.0, 21.0)]
    words = [w for seg in transcript.segments for w in seg.words]
    assert words[0].start == 0.0 and words[-1].end == 45.0
    assert not any(10.5 < w.start < 34.5 for w in words)  # nothing placed in the pause


def test_a_skipped_phrase_is_found_under_words_the_alignment_stretched_over_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from habla.asr import pipeline

    # a 5-s phrase, a 1-s pause, a 3-s phrase; the engine writes only the second, and its first two words are
    # aligned back over the first phrase (one of them 3.4 s long), as base did on the held-out 45-min English file
    monkeypatch.setattr(pipeline, "speech_spans", lambda audio: [(0.0, 5.0), (6.0, 9.0)])
    first, second = words_of((0, 5), 12), words_of((6, 9), 8)
    times = [(3.0, 3.6), (3.6, 7.0)] + [(7.0 + 0.3 * i, 7.3 + 0.3 * i) for i in range(6)]
    engine = only_second_phrase((0.0, 9.0), first, second, times)
    options = TranscribeOptions(language="en", block_seconds=60)
    transcript = TranscriptionRun(Use(engine)(), np.zeros(9 * SAMPLE_RATE, np.float32), options, "fake").result()
    assert transcript.text.split() == first.split() + second.split()
    assert [c.span for c in engine.calls] == [(0.0, 9.0), (0.0, 5.0)]

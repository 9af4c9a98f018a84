"""Batching across requests with the real model: each request gets exactly the text it gets alone."""

from __future__ import annotations

import threading

import numpy as np

from habla.asr.batching import BatchScheduler, lay_out
from habla.audio.decode import SAMPLE_RATE, decode
from habla.config import BatchingSettings
from tests.conftest import pick


def test_chunks_of_different_requests_in_one_model_call_decode_as_they_do_alone(transcriber, clips) -> None:
    sample = pick(clips, "en", 4) + pick(clips, "es", 2)
    audios = [decode(c.path) for c in sample]
    with transcriber.models.use(transcriber.asr.model) as engine:
        scheduler = BatchScheduler(engine, BatchingSettings(max_batch=8, pack_windows=False))  # step() decodes here
        alone = {}
        for clip, audio in zip(sample, audios):
            options = transcriber.default_options(language=clip.lang)
            span = (0.25, len(audio) / SAMPLE_RATE)  # a span that does not start at 0 checks the time mapping
            [alone[clip.id]] = engine.decode_chunks(audio, [span], clip.lang, options, offset=60.0)
        requests = {}
        for clip, audio in zip(sample, audios):
            options = transcriber.default_options(language=clip.lang)
            span = (0.25, len(audio) / SAMPLE_RATE)
            requests[clip.id] = scheduler.submit(audio, [span], clip.lang, options, 60.0, principal=clip.id)
        assert scheduler.step() == 4 and scheduler.step() == 2 and scheduler.step() == 0  # en together, es together
        for clip in sample:
            [batched] = scheduler.wait(requests[clip.id])
            solo = alone[clip.id]
            assert batched.text == solo.text and batched.tokens == solo.tokens, clip.id
            assert batched.span == solo.span
            assert [w.word for w in batched.words] == [w.word for w in solo.words]
            starts = np.array([w.start for w in batched.words]) - np.array([w.start for w in solo.words])
            assert not len(starts) or np.abs(starts).max() <= 0.02, clip.id  # same times, give or take rounding
        assert sum(bool(alone[c.id].text.strip()) for c in sample) >= 5  # the comparison is of real text


def test_concurrent_transcriptions_get_the_text_they_get_alone(transcriber, clips) -> None:
    from habla.asr.transcriber import Transcriber

    sample = pick(clips, "en", 6)
    options = transcriber.default_options(language="en")
    alone = [transcriber.transcribe(c.path, options=options).text for c in sample]
    batched = Transcriber(transcriber.asr, transcriber.batching.model_copy(
        update={"enabled": True, "max_wait_ms": 200.0, "pack_windows": False}), transcriber.store,
        batch_observer=(sizes := Sizes()))
    together: dict[int, str] = {}
    barrier = threading.Barrier(len(sample))

    def one(index: int) -> None:
        barrier.wait()
        together[index] = batched.transcribe(sample[index].path, options=options, principal=str(index)).text

    try:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(sample))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        batched.models.unload_all()
    assert [together[i] for i in range(len(sample))] == alone
    assert sum(sizes.sizes) >= len(sample)  # every chunk went through the queue (how they met depends on timing)


class Sizes:
    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.packing: list[tuple[int, int, int]] = []

    def on_batch(self, size: int, waits: object) -> None:
        self.sizes.append(size)

    def on_packing(self, windows: int, chunks: int, alone: int) -> None:
        self.packing.append((windows, chunks, alone))


def test_short_windows_decode_short_chunks_as_accurately_and_keep_silence_silent(transcriber, clips) -> None:
    from habla.asr.wer import word_error_rate

    sample = pick(clips, "en", 8, max_seconds=8.0)
    silence = next(c for c in clips if not c.text.strip())
    audios = [decode(c.path) for c in [*sample, silence]]
    joined, _, spans = lay_out(audios)
    options = transcriber.default_options(language="en")
    with transcriber.models.use(transcriber.asr.model) as engine:
        engine.short_window_seconds = 0.0
        full = [r.text for r in engine.decode_chunks(joined, spans, "en", options, 0.0)]
        engine.short_window_seconds = 8.0
        try:
            short = list(engine.decode_chunks(joined, spans, "en", options, 0.0))
            with_words = list(engine.decode_chunks(joined, spans[:1], "en", options.with_(word_timestamps=True), 0.0))
        finally:
            engine.short_window_seconds = transcriber.asr.short_window_seconds
    references = [c.text for c in sample]
    short_wer = word_error_rate(references, [r.text for r in short[:-1]], "en")
    assert short_wer.wer <= word_error_rate(references, full[:-1], "en").wer + 0.02, [r.text for r in short]
    assert all(not r.words for r in short) and short[-1].text.strip() == ""  # text only; silence stays silent
    assert [r.span for r in short] == spans
    assert with_words[0].words  # word timings asked for: the full window, which aligns words


def test_packed_requests_get_their_own_words_as_accurately_as_alone(transcriber, clips) -> None:
    """Eight short English requests share one packed window: each gets back only words of its own audio (timed
    inside its own span), and the corpus is transcribed as accurately as with one window each."""
    from habla.asr.wer import word_error_rate

    sample = pick(clips, "en", 8, max_seconds=3.0)
    audios = [decode(c.path) for c in sample]
    options = transcriber.default_options(language="en")
    seen = Sizes()
    with transcriber.models.use(transcriber.asr.model) as engine:
        results = {}
        for pack in (False, True):
            scheduler = BatchScheduler(engine, BatchingSettings(max_batch=8, pack_windows=pack), observer=seen)
            requests = [scheduler.submit(a, [(0.0, len(a) / SAMPLE_RATE)], "en", options, 100.0, principal=c.id)
                        for c, a in zip(sample, audios, strict=True)]
            assert scheduler.step() == len(sample)
            results[pack] = [scheduler.wait(r)[0] for r in requests]
    [(windows, chunks, _)] = seen.packing
    assert chunks == 8 and windows <= 2  # eight requests in one or two windows instead of eight
    references = [c.text for c in sample]
    alone = word_error_rate(references, [r.text for r in results[False]]).wer
    packed = word_error_rate(references, [r.text for r in results[True]]).wer
    assert packed <= alone + 0.02, (alone, packed)  # one word of these ~50 at most
    for clip, audio, result in zip(sample, audios, results[True], strict=True):
        assert word_error_rate([clip.text], [result.text]).wer <= 0.5, (clip.id, result.text)  # its own words
        assert all(100.0 - 0.5 <= w.start <= w.end <= 100.0 + len(audio) / SAMPLE_RATE + 0.5 for w in result.words)

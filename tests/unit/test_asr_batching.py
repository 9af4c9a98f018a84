"""The batching scheduler with a fake engine: batches across requests, order, times mapped back, cancel, priority,
fairness, language detection. The scheduler thread is not started: ``step()`` decodes one batch at a time, so nothing depends on timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import pytest

from habla.asr.batching import BatchedEngine, BatchScheduler
from habla.asr.options import TranscribeOptions
from habla.asr.protocol import ChunkText, Span
from habla.asr.types import Word
from habla.audio.decode import SAMPLE_RATE
from habla.config import BatchingSettings
from habla.errors import Cancelled

EN = TranscribeOptions(language="en")


class FakeEngine:
    """Text = the value its chunk's audio holds (each test request fills its audio with its own number); one word
    from 0.1 s after the chunk's start to 0.1 s before its end, in the engine's (joined-array) time."""

    name = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[Span], str, TranscribeOptions]] = []
        self.detections: list[int] = []  # the batch size of each detect_languages call
        self.fail = fail

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        return self.detect_languages([audio])[0]

    def detect_languages(self, audios: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Odd values are English, even ones Spanish; the probability is the value (to tell results apart)."""
        self.detections.append(len(audios))
        return [("en" if int(a[0]) % 2 else "es", float(a[0])) for a in audios]

    def decode_chunks(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                      options: TranscribeOptions, offset: float) -> Iterator[ChunkText]:
        self.calls.append((list(spans), language, options))
        if self.fail:
            raise RuntimeError("engine failure")
        for s, e in spans:
            piece = audio[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)]
            values = sorted({int(v) for v in np.unique(piece)})
            text = " ".join(str(v) for v in values)  # two values would mean two requests' audio in one window
            yield ChunkText(span=(s + offset, e + offset), text=text,
                            words=(Word(s + offset + 0.1, e + offset - 0.1, text, 1.0),))


def audio_of(value: int, seconds: float = 10.0) -> np.ndarray:
    return np.full(int(seconds * SAMPLE_RATE), value, np.float32)


def scheduler(engine: FakeEngine, **settings: object) -> BatchScheduler:
    """Without packing: these tests are about the queue (tests/unit/test_asr_packing.py is about packing)."""
    return BatchScheduler(engine, BatchingSettings(pack_windows=False, **settings),  # type: ignore[arg-type]
                          clock=lambda: 0.0)


def in_threads(call: Callable[[int], None], values: Iterable[int]) -> None:
    """``call(value)`` for every value, each in a thread of its own, all at once; returns when all are done."""
    threads = [threading.Thread(target=call, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def texts(s: BatchScheduler, request) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.text for r in s.wait(request)]


def test_chunks_of_several_requests_go_in_one_call_and_come_back_to_their_own_request() -> None:
    engine = FakeEngine()
    s = scheduler(engine, max_batch=8)
    a = s.submit(audio_of(1), [(0.0, 2.0), (5.0, 9.0)], "en", EN, offset=0.0)
    b = s.submit(audio_of(2), [(1.0, 3.0)], "en", EN, offset=100.0, principal="other")
    assert s.step() == 3
    assert len(engine.calls) == 1 and len(engine.calls[0][0]) == 3
    assert texts(s, a) == ["1", "1"] and texts(s, b) == ["2"]  # never two requests' audio in one window


def test_times_are_mapped_back_to_each_request() -> None:
    s = scheduler(FakeEngine())
    s.submit(audio_of(1), [(0.0, 4.0)], "en", EN, offset=0.0)
    b = s.submit(audio_of(2), [(1.0, 3.0), (5.5, 8.25)], "en", EN, offset=100.0)
    s.step()
    first, second = s.wait(b)
    assert first.span == (101.0, 103.0) and second.span == (105.5, 108.25)
    assert (first.words[0].start, first.words[0].end) == (101.1, 102.9)
    assert (second.words[0].start, second.words[0].end) == (105.6, 108.15)


def test_incompatible_options_are_decoded_in_separate_calls() -> None:
    engine = FakeEngine()
    s = scheduler(engine)
    en = s.submit(audio_of(1), [(0.0, 2.0)], "en", EN, offset=0.0)
    es = s.submit(audio_of(2), [(0.0, 2.0)], "es", TranscribeOptions(language="es"), offset=0.0)
    prompted = s.submit(audio_of(3), [(0.0, 2.0)], "en", EN.with_(initial_prompt="Asterisk"), offset=0.0)
    assert [s.step(), s.step(), s.step(), s.step()] == [1, 1, 1, 0]
    assert [call[1] for call in engine.calls] == ["en", "es", "en"]
    assert engine.calls[2][2].initial_prompt == "Asterisk"
    assert [texts(s, r) for r in (en, es, prompted)] == [["1"], ["2"], ["3"]]


def test_a_request_larger_than_a_batch_is_spread_over_batches_and_kept_in_order() -> None:
    s = scheduler(FakeEngine(), max_batch=2)
    audio = np.concatenate([audio_of(v, 5.0) for v in range(1, 6)])
    request = s.submit(audio, [(5.0 * i + 1, 5.0 * i + 4) for i in range(5)], "en", EN, offset=0.0)
    assert [s.step(), s.step(), s.step(), s.step()] == [2, 2, 1, 0]
    assert texts(s, request) == ["1", "2", "3", "4", "5"]


def test_interactive_requests_go_before_jobs_and_jobs_take_a_bounded_share() -> None:
    engine = FakeEngine()
    s = scheduler(engine, max_batch=4, max_job_chunks=1)
    job = s.submit(audio_of(9, 30), [(i, i + 1.0) for i in range(0, 20, 2)], "en", EN, 0.0, priority="job")
    talk = s.submit(audio_of(1), [(0.0, 1.0), (2.0, 3.0)], "en", EN, 0.0, priority="interactive")
    s.step()
    assert texts(s, talk) == ["1", "1"]  # both in the first batch, before the older job
    assert len(engine.calls[0][0]) == 3  # and the job only its one chunk beside them
    while s.step():
        pass
    assert texts(s, job) == ["9"] * 10


def test_a_job_alone_still_progresses_and_a_long_waiting_job_is_boosted() -> None:
    now = [0.0]
    engine = FakeEngine()
    s = BatchScheduler(engine, BatchingSettings(max_batch=4, max_job_chunks=1, job_boost_seconds=30, pack_windows=False),
                       clock=lambda: now[0])
    job = s.submit(audio_of(9, 30), [(i, i + 1.0) for i in range(0, 8, 2)], "en", EN, 0.0, priority="job")
    assert s.step() == 1  # alone: its one chunk a batch
    now[0] = 31.0  # the job has waited past the boost: interactive work arriving now does not push it out
    talk = s.submit(audio_of(1), [(0.0, 1.0)] * 4, "en", EN, 0.0)
    assert s.step() == 4
    assert job.done.is_set() and texts(s, job) == ["9"] * 4  # its three other chunks, uncapped, went first
    assert s.step() == 3 and texts(s, talk) == ["1"] * 4


def test_principals_take_turns() -> None:
    engine = FakeEngine()
    s = scheduler(engine, max_batch=3)
    busy = [s.submit(audio_of(1), [(0.0, 1.0)], "en", EN, 0.0, principal="busy") for _ in range(5)]
    quiet = s.submit(audio_of(2), [(0.0, 1.0)], "en", EN, 0.0, principal="quiet")
    s.step()
    assert quiet.done.is_set() and texts(s, quiet) == ["2"]  # in the first batch, beside busy's two oldest
    assert [r.done.is_set() for r in busy] == [True, True, False, False, False]


def test_a_cancelled_request_loses_its_pending_chunks_and_its_waiter_gets_cancelled() -> None:
    engine = FakeEngine()
    s = scheduler(engine, max_batch=2)
    cancel = threading.Event()
    doomed = s.submit(audio_of(1), [(0.0, 1.0), (2.0, 3.0), (4.0, 5.0)], "en", EN, 0.0, cancel=cancel)
    other = s.submit(audio_of(2), [(0.0, 1.0)], "en", EN, 0.0, principal="other")
    s.step()  # doomed's first chunk and other's
    cancel.set()
    assert s.step() == 0  # the rest of doomed is dropped
    with pytest.raises(Cancelled):
        s.wait(doomed)
    assert texts(s, other) == ["2"]
    assert s.queued_chunks() == 0


def test_an_engine_error_reaches_every_request_of_the_batch() -> None:
    s = scheduler(FakeEngine(fail=True))
    a = s.submit(audio_of(1), [(0.0, 1.0)], "en", EN, 0.0)
    b = s.submit(audio_of(2), [(0.0, 1.0)], "en", EN, 0.0)
    s.step()
    for request in (a, b):
        with pytest.raises(RuntimeError, match="engine failure"):
            s.wait(request)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_scheduler_threads_serve_concurrent_views(workers: int) -> None:
    engine = FakeEngine()
    s = BatchScheduler(engine, BatchingSettings(max_batch=3, max_wait_ms=50, workers=workers, pack_windows=False)).start()
    results: dict[int, list[str]] = {}

    def one(value: int) -> None:
        view = BatchedEngine(s, principal=str(value))
        results[value] = [c.text for c in view.decode_chunks(audio_of(value), [(0.0, 1.0), (2.0, 3.0)], "en", EN,
                                                             0.0)]

    in_threads(one, range(1, 7))
    s.close()
    assert results == {v: [str(v), str(v)] for v in range(1, 7)}
    assert sum(len(call[0]) for call in engine.calls) == 12


def test_closing_the_scheduler_fails_waiting_requests_instead_of_hanging() -> None:
    s = scheduler(FakeEngine())
    request = s.submit(audio_of(1), [(0.0, 1.0)], "en", EN, 0.0)
    s.close()
    with pytest.raises(Cancelled):
        s.wait(request)


def test_a_batch_waits_longer_only_while_other_transcriptions_are_about_to_queue_speech() -> None:
    s = scheduler(FakeEngine(), max_wait_ms=10, fill_wait_ms=250)
    assert s._wait_seconds() == pytest.approx(0.010)  # a request alone: no one else is coming
    first, silent = BatchedEngine(s), BatchedEngine(s)
    first.expect()
    silent.expect()
    assert s.expected() == 2 and s._wait_seconds() == pytest.approx(0.250)
    request = s.submit(audio_of(1), [(0.0, 1.0)], "en", EN, 0.0, first=True)  # its speech is queued: not expected
    assert s.expected() == 1
    silent.close()  # ended without speech
    assert s.expected() == 0 and s._wait_seconds() == pytest.approx(0.010)
    s.step()
    assert texts(s, request) == ["1"]


def test_a_view_stops_being_expected_when_it_first_submits_and_only_once() -> None:
    s = scheduler(FakeEngine())
    view = BatchedEngine(s)
    view.expect()
    chunks = view.decode_chunks(audio_of(3), [(0.0, 1.0)], "en", EN, 0.0)

    def decode_when_queued() -> None:
        while s.step() == 0:
            time.sleep(0.01)

    threading.Thread(target=decode_when_queued).start()
    assert [c.text for c in chunks] == ["3"]
    assert s.expected() == 0
    view.expect()  # a later transcription through a new view would count again; this one ends now
    view.close()
    view.close()
    assert s.expected() == 0


def test_language_detections_of_several_requests_go_in_one_call_never_beside_speech_chunks() -> None:
    engine = FakeEngine()
    s = scheduler(engine, max_batch=8)
    first = s.submit_detection(audio_of(1, 40.0))
    chunks = s.submit(audio_of(5), [(0.0, 1.0)], "en", EN, 0.0)
    second = s.submit_detection(audio_of(2), principal="other")
    assert s.step() == 2 and engine.detections == [2] and not engine.calls  # the oldest's kind goes first
    assert s.wait(first) == [("en", 1.0)] and s.wait(second) == [("es", 2.0)]
    assert s.step() == 1 and texts(s, chunks) == ["5"]
    assert len(s.submit_detection(audio_of(3, 40.0)).pieces[0]) == 30 * SAMPLE_RATE  # Whisper's window at most


def test_an_interactive_detection_goes_before_a_job_and_a_cancelled_one_is_dropped() -> None:
    engine = FakeEngine()
    s = scheduler(engine, max_batch=1)
    job = s.submit_detection(audio_of(9), priority="job")
    cancel = threading.Event()
    doomed = s.submit_detection(audio_of(3), cancel=cancel)
    talk = s.submit_detection(audio_of(1))
    cancel.set()
    assert s.step() == 1 and s.wait(talk) == [("en", 1.0)] and not job.done.is_set()
    with pytest.raises(Cancelled):
        s.wait(doomed)
    assert s.step() == 1 and s.wait(job) == [("en", 9.0)]
    assert engine.detections == [1, 1]


def test_a_detection_does_not_wait_for_transcriptions_that_are_still_expected() -> None:
    s = scheduler(FakeEngine(), max_wait_ms=10, fill_wait_ms=250)
    view = BatchedEngine(s)
    view.expect()  # the transcription asking for its language is itself still expected
    assert s._wait_seconds() == pytest.approx(0.250) and s._wait_seconds(detection=True) == pytest.approx(0.010)


def test_concurrent_views_detecting_their_language_share_model_calls() -> None:
    engine = FakeEngine()
    # A full batch (6) goes at once; the long wait only bounds a run whose threads start far apart.
    s = BatchScheduler(engine, BatchingSettings(max_batch=6, max_wait_ms=1000, pack_windows=False)).start()
    results: dict[int, tuple[str, float]] = {}

    def one(value: int) -> None:
        results[value] = BatchedEngine(s, principal=str(value)).detect_language(audio_of(value))

    in_threads(one, range(1, 7))
    s.close()
    assert results == {v: ("en" if v % 2 else "es", float(v)) for v in range(1, 7)}
    assert sum(engine.detections) == 6 and len(engine.detections) < 6  # at least two detections in one call

"""The job body, the in-process pool and upkeep, with a scripted transcriber standing in for Whisper."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from habla.asr.options import TranscribeOptions
from habla.asr.types import Segment, Transcript, TranscriptInfo, Word
from habla.config import JobsSettings
from habla.errors import AudioDecodeError, Cancelled, JobConflict, UploadTooLarge
from habla.jobs.local import LocalQueue
from habla.jobs.maintenance import Maintenance
from habla.jobs.models import JobSpec
from habla.jobs.runner import JobRunner, is_dead_local, worker_id
from habla.jobs.sql import SqlJobStore
from habla.jobs.storage import JobStorage
from habla.storage.local import LocalObjectStore


class ScriptedTranscriber:
    """Decodes one segment per step of ``step_s`` (``texts`` in turn), reporting progress and honouring cancel
    like the real pipeline."""

    def __init__(self, steps: int = 5, step_s: float = 0.01, fail: Exception | None = None,
                 texts: tuple[str, ...] = (" hello world",)) -> None:
        self.steps, self.step_s, self.fail, self.texts = steps, step_s, fail, texts
        self.calls: list[TranscribeOptions] = []
        self.started = threading.Event()

    def default_options(self, **overrides: object) -> TranscribeOptions:
        return TranscribeOptions(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]

    def stream(self, source, model=None, options=None, cancel=None, on_progress=None, priority="interactive",
               principal="") -> ScriptedRun:
        self.calls.append(options)
        self.queued_as = (priority, principal)
        self.started.set()
        if self.fail:
            raise self.fail
        return ScriptedRun(self, cancel, on_progress)


class ScriptedRun:
    def __init__(self, script: ScriptedTranscriber, cancel: threading.Event | None, on_progress) -> None:
        self.script, self.cancel, self.on_progress = script, cancel, on_progress
        self.segments: list[Segment] = []
        self.closed = False

    def __iter__(self):
        total = float(self.script.steps)
        for i in range(self.script.steps):
            time.sleep(self.script.step_s)
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled("transcription cancelled")
            if i < len(self.script.texts):
                self.segments.append(Segment(i, float(i), i + 1.0, self.script.texts[i], avg_logprob=-0.1))
                yield self.segments[-1]
            self.on_progress(i + 1.0, total)

    def result(self) -> Transcript:
        info = TranscriptInfo(language="en", language_probability=1.0, duration=float(self.script.steps), model="base")
        return Transcript.from_segments(info, self.segments)

    def close(self) -> None:
        self.closed = True


@pytest.fixture()
def env(tmp_path: Path):
    store = SqlJobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    storage = JobStorage(tmp_path / "files")
    yield store, storage
    store.close()


def settings(**kw: object) -> JobsSettings:
    return JobsSettings(lease_seconds=4, progress_seconds=0.05, **kw)  # type: ignore[arg-type]


def submit(store: SqlJobStore, storage: JobStorage, **options: object) -> str:
    upload = storage.save_upload(io.BytesIO(b"RIFF fake audio"), max_bytes=1 << 20)
    return store.create(JobSpec(upload=upload, filename="talk.wav", options=dict(options)))[0].id


def test_segments_of_a_running_job_can_be_read_as_they_are_decoded(env) -> None:
    store, storage = env
    job_id = submit(store, storage)
    fake = ScriptedTranscriber(steps=40, step_s=0.05, texts=tuple(f" part {i}." for i in range(40)))
    runner = threading.Thread(target=JobRunner(store, storage, fake, settings()).run, args=(job_id,))
    runner.start()
    seen: list[dict] = []
    offset, reads = 0, 0
    while runner.is_alive():
        segments, offset = storage.read_live_segments(job_id, 1, offset)
        seen += segments
        reads += bool(segments)
        time.sleep(0.1)
    runner.join()
    assert reads > 3  # they came a few at a time, while the job ran
    assert [s["text"] for s in seen] == [f" part {i}." for i in range(len(seen))] and len(seen) >= 30
    assert {"id", "start", "end", "text", "avg_logprob"} <= seen[0].keys()  # the shape of the JSON result
    job = store.get(job_id)
    assert job.status == "succeeded" and len(json.loads(storage.read_result(job.result_dir, "json"))["segments"]) == 40
    assert storage.read_live_segments(job_id, 1) == ([], 0)  # the finished folder holds only the result


def test_a_retry_clears_what_a_killed_attempt_left(env) -> None:
    store, storage = env
    job_id = submit(store, storage)
    store.claim(job_id, "host:1", lease_seconds=4)  # attempt 1: its worker dies mid-job, SIGKILL cleans nothing
    with storage.live_segments(job_id, 1) as append:
        append(Segment(0, 0.0, 1.0, " half a"))
    assert store.requeue_stale(lambda worker: worker == "host:1", max_attempts=3) == [job_id]
    assert JobRunner(store, storage, ScriptedTranscriber(), settings()).run(job_id) == "succeeded"
    assert sorted(p.name for p in storage.path(f"results/{job_id}").iterdir()) == ["2"]


def test_job_succeeds_with_every_format_written(env) -> None:
    store, storage = env
    job_id = submit(store, storage, language="en", word_timestamps=True)
    fake = ScriptedTranscriber()
    assert JobRunner(store, storage, fake, settings()).run(job_id) == "succeeded"
    job = store.get(job_id)
    assert job.status == "succeeded" and job.language == "en" and job.result_dir == f"results/{job_id}/1"
    assert fake.queued_as == ("job", job_id)  # behind interactive requests in the batching queue, one turn per job
    assert fake.calls[0].language == "en" and fake.calls[0].word_timestamps
    assert "hello world" in storage.read_result(job.result_dir, "txt")
    assert "-->" in storage.read_result(job.result_dir, "srt")
    assert storage.read_result(job.result_dir, "vtt").startswith("WEBVTT")
    assert "hello world" in storage.read_result(job.result_dir, "tsv")
    assert json.loads(storage.read_result(job.result_dir, "json"))["text"] == "hello world"



def test_a_result_is_one_stored_object_rendered_into_every_format_as_before(env) -> None:
    from habla.formats.protocol import WriterOptions
    from habla.formats.registry import FORMATS, render

    _, storage = env
    # Speakers, words that were not asked for (Whisper decodes them anyway) and a segment too long for one
    # subtitle cue, which subtitles then time by its words.
    words = tuple(Word(0.4 * i, 0.4 * i + 0.3, f" word{i}", 0.9, "SPEAKER_00") for i in range(30))
    transcript = Transcript(
        text="long one short one", language="en", language_probability=0.97, duration=14.2, model="tiny",
        segments=[Segment(0, 0.0, 12.0, "".join(w.word for w in words), words=words, avg_logprob=-0.21,
                          no_speech_prob=0.01, compression_ratio=1.3, tokens=(1, 2, 3), speaker="SPEAKER_00"),
                  Segment(1, 12.5, 14.1, " ñandú, dijo.", speaker="SPEAKER_01", temperature=0.2)])
    result_dir = storage.write_results("j1", 1, transcript)
    assert [p.name for p in storage.path(result_dir).iterdir()] == ["result.json"]
    for fmt in FORMATS:
        for word_timestamps in (False, True):
            expected = render(transcript, fmt, WriterOptions(word_timestamps=word_timestamps))
            assert storage.read_result(result_dir, fmt, word_timestamps) == expected, (fmt, word_timestamps)



class GatedStore(LocalObjectStore):
    """Live-segment writes wait for ``gate``: a store that is slow to answer."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate, self.entered, self.live_writes = threading.Event(), threading.Event(), 0

    def put_bytes(self, name: str, data: bytes) -> None:
        if name.endswith("/live-segments.jsonl"):
            self.live_writes += 1
            self.entered.set()
            assert self.gate.wait(30)
        super().put_bytes(name, data)


def test_live_segments_are_written_in_the_background_and_removed_after_the_result(tmp_path: Path) -> None:
    objects = GatedStore(tmp_path / "files")
    storage = JobStorage(objects)  # live_flush_seconds 0: every segment is due
    with storage.live_segments("j1", 1) as append:
        for i in range(3):  # each returns while the first write is held by the store
            append(Segment(i, float(i), i + 1.0, f" part {i}"))
    assert objects.entered.wait(30)
    assert objects.live_writes == 1  # due writes are skipped while one is in flight, not queued
    storage.write_results("j1", 1, Transcript("part 0", "en", 1.0, 3.0))
    objects.gate.set()
    storage.finish_live("j1", 1)  # waits for the write in flight, then deletes what it wrote
    assert objects.list("results/j1/") == ["results/j1/1/result.json"]

def test_results_stored_one_object_per_format_are_still_read(env) -> None:
    _, storage = env
    folder = storage.path("results/j0/1")
    folder.mkdir(parents=True)
    (folder / "transcript.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nold\n", encoding="utf-8")
    assert storage.read_result("results/j0/1", "srt").endswith("old\n")
    with pytest.raises(JobConflict, match="txt result is missing"):
        storage.read_result("results/j0/1", "txt")

def test_repeated_delivery_of_a_finished_job_does_nothing(env) -> None:
    store, storage = env
    job_id = submit(store, storage)
    runner = JobRunner(store, storage, ScriptedTranscriber(), settings())
    assert runner.run(job_id) == "succeeded"
    assert runner.run(job_id) == "skipped"
    assert store.get(job_id).attempt == 1


def test_cancel_in_the_store_stops_the_transcription(env) -> None:
    store, storage = env
    job_id = submit(store, storage)
    fake = ScriptedTranscriber(steps=200, step_s=0.05)  # 10 s if not stopped
    runner = JobRunner(store, storage, fake, settings())
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(runner.run(job_id)))
    thread.start()
    assert fake.started.wait(5)
    time.sleep(0.2)
    store.cancel(job_id)
    thread.join(timeout=5)
    assert outcome == ["cancelled"]
    assert store.get(job_id).status == "cancelled"
    assert not (storage.root / "results" / job_id).exists()


def test_unreadable_audio_fails_the_job_with_the_reason(env) -> None:
    store, storage = env
    job_id = submit(store, storage)
    runner = JobRunner(store, storage, ScriptedTranscriber(fail=AudioDecodeError("not a readable audio file")),
                       settings())
    assert runner.run(job_id) == "failed"
    assert store.get(job_id).error == "not a readable audio file"


def test_shutdown_puts_the_running_job_back_in_the_queue(env) -> None:
    store, storage = env
    job_id = submit(store, storage)
    fake = ScriptedTranscriber(steps=200, step_s=0.05)
    queue = LocalQueue(JobRunner(store, storage, fake, settings()), workers=1)
    queue.start()
    queue.enqueue(job_id)
    assert fake.started.wait(5)
    queue.stop(timeout=5)
    assert store.get(job_id).status == "queued"


def test_local_pool_runs_every_job_once(env) -> None:
    store, storage = env
    ids = [submit(store, storage) for _ in range(4)]
    runner = JobRunner(store, storage, ScriptedTranscriber(), settings())
    queue = LocalQueue(runner, workers=2)
    queue.start()
    for job_id in ids + ids:  # every id twice: duplicates must be harmless
        queue.enqueue(job_id)
    deadline = time.time() + 10
    while time.time() < deadline and any(store.get(i).status != "succeeded" for i in ids):
        time.sleep(0.05)
    queue.stop()
    assert [(store.get(i).status, store.get(i).attempt) for i in ids] == [("succeeded", 1)] * 4


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def enqueue(self, job_id: str) -> None:
        self.sent.append(job_id)

    def start(self) -> None: ...
    def stop(self) -> None: ...


def dead_worker() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:1"


def test_worker_identity_tells_live_from_dead_processes() -> None:
    assert not is_dead_local(worker_id())
    assert is_dead_local(dead_worker())
    assert not is_dead_local("another-host:1:1")  # other hosts are judged by their lease


def test_start_requeues_jobs_of_a_dead_process_and_sends_queued_ones(env) -> None:
    store, storage = env
    orphan = submit(store, storage)
    store.claim(orphan, dead_worker(), lease_seconds=3600)  # a live lease, but its process is gone
    waiting = submit(store, storage)
    queue = RecordingQueue()
    upkeep = Maintenance(store, storage, queue, settings())
    upkeep.start()
    upkeep.stop()
    assert sorted(queue.sent) == sorted([orphan, waiting])
    assert store.get(orphan).status == "queued"


def test_retention_deletes_old_finished_jobs_and_their_files(env) -> None:
    store, storage = env
    old = submit(store, storage)
    JobRunner(store, storage, ScriptedTranscriber(), settings()).run(old)
    running = submit(store, storage)
    store.claim(running, worker_id(), 60)
    upkeep = Maintenance(store, storage, RecordingQueue(), settings(retention_days=1))
    assert upkeep.sweep_retention(now=time.time()) == 0  # nothing is a day old yet
    assert upkeep.sweep_retention(now=time.time() + 2 * 86_400) == 1
    assert [j.id for j in store.list().jobs] == [running]
    assert not (storage.root / "results" / old).exists()
    assert len(list((storage.root / "uploads").iterdir())) == 1


def test_uploads_get_generated_names_and_stay_inside_storage(env) -> None:
    _, storage = env
    name = storage.save_upload(io.BytesIO(b"x" * 10), max_bytes=100)
    assert name.startswith("uploads/") and len(Path(name).name) == 32
    with pytest.raises(JobConflict):
        storage.path("../../etc/passwd")
    with pytest.raises(UploadTooLarge):
        storage.save_upload(io.BytesIO(b"x" * 101), max_bytes=100)
    assert [p.name for p in (storage.root / "uploads").iterdir()] == [Path(name).name]

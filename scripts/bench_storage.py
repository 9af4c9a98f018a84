"""Object storage figures (docs/storage.md), against an S3 server on loopback: moto_server, or npm's s3rver
(``--backend s3rver``; ``npm install --prefix .bench s3rver@3.7.1``), which is not itself the bottleneck.

``upload``: a ``--mb`` MB WAV posted to POST /v1/jobs of a `habla serve` whose files are in S3 (or the local folder,
``--backend local``): seconds and MB/s from the first byte sent to the 201, and the server process's RSS growth
(sampled every 20 ms); next to it the ceilings, the same file put straight into the same server by boto3's
upload_file and by habla's S3 writer alone. The job is cancelled at once.

``overhead``: a 2 s clip as a job in-process (embedded pool, warm model), local folder vs S3, interleaved:
submit → done minus the transcription's own time, ``--runs`` times each.

Usage: .venv/bin/python scripts/bench_storage.py upload [--mb 1024] [--broker redis://...] [--backend moto|s3rver|local]
                                                        [--set HABLA_X=Y ...]
       .venv/bin/python scripts/bench_storage.py overhead [--runs 10] [--backend moto|s3rver] [--profile]
       .venv/bin/python scripts/bench_storage.py parts [--mb 256] [--runs 2] [--backend moto|s3rver]
       .venv/bin/python scripts/bench_storage.py results [--runs 20] [--backend moto|s3rver]
       .venv/bin/python scripts/bench_storage.py writers [--mb 256] [--runs 2] [--backend moto|s3rver]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"


def write_big_wav(path: Path, mb: int) -> Path:
    """A WAV of ``mb`` MB (quiet noise: valid audio, incompressible enough)."""
    import numpy as np

    frames = (mb << 20) // 2
    rng = np.random.default_rng(0)
    block = (rng.standard_normal(1 << 20) * 30).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        left = frames
        while left > 0:
            n = min(left, 1 << 20)
            out.writeframes(block[: n * 2])
            left -= n
    return path


def s3_server(kind: str, tmp: Path, s3rver: Path) -> Any:
    from tests.s3server import MotoS3, S3rver

    if kind == "s3rver":
        if not s3rver.exists():
            sys.exit(f"{s3rver} is missing: npm install --prefix .bench s3rver@3.7.1")
        return S3rver(tmp / "s3rver.log", s3rver, tmp / "s3rver-data")
    return MotoS3(tmp / "moto.log")


def ceilings(server: Any, wav: Path) -> dict[str, float]:
    """The same file put straight into the same server: boto3's own upload_file (its transfer manager, same part
    size and concurrency as habla's) and habla's S3 writer alone, without HTTP parsing in between."""
    from boto3.s3.transfer import TransferConfig

    from habla.storage.s3 import S3ObjectStore

    size = wav.stat().st_size
    env = server.settings_env("bench")
    store = S3ObjectStore(env["HABLA_JOBS__STORAGE_URL"], endpoint_url=server.url, region="us-east-1",
                          access_key_id=env["HABLA_JOBS__STORAGE_ACCESS_KEY_ID"],
                          secret_access_key=env["HABLA_JOBS__STORAGE_SECRET_ACCESS_KEY"], timeout=300)
    config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=4)
    start = time.perf_counter()
    server.client().upload_file(str(wav), "bench", "ceiling-boto3", Config=config)
    boto3_alone = size / (time.perf_counter() - start) / 1e6
    start = time.perf_counter()
    with open(wav, "rb") as f:
        store.put("ceiling-habla-writer", f)
    writer_alone = size / (time.perf_counter() - start) / 1e6
    server.client().delete_objects(Bucket="bench", Delete={"Objects": [
        {"Key": "ceiling-boto3"}, {"Key": "habla/ceiling-habla-writer"}]})
    return {"boto3_upload_file_mb_per_s": round(boto3_alone, 1), "habla_writer_alone_mb_per_s": round(writer_alone, 1)}


@contextlib.contextmanager
def redis_server() -> Any:
    """A throwaway redis-server on a free loopback port (no persistence), stopped after: the upload's broker."""
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as conn:
                if conn.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/9"
    finally:
        proc.terminate()
        proc.wait(10)


def upload(mb: int, broker: str, backend: str, s3rver: Path, warm_up: bool = True,
           ceiling: bool = True, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """``backend``: moto or s3rver (S3 on loopback), or local (the folder)."""
    import httpx
    import psutil

    from tests.conftest import HablaServer, base_model_loaded

    tmp = Path(tempfile.mkdtemp(prefix="habla-bench-"))
    wav = write_big_wav(tmp / "big.wav", mb)
    size = wav.stat().st_size
    with contextlib.ExitStack() as stack:
        # An API node in distributed mode (jobs go to Redis, no worker here): the process only streams the upload,
        # so its memory is the upload's and not a model's. ``--broker`` is a redis-server (scripts/services.sh).
        env = {"HABLA_JOBS__MODE": "distributed", "HABLA_JOBS__BROKER_URL": broker}
        figures: dict[str, Any] = {"backend": backend}
        server = None
        if backend != "local":
            server = stack.enter_context(s3_server(backend, tmp, s3rver))
            server.bucket("bench")
            if ceiling:
                figures.update(ceilings(server, wav))
            # A long timeout: moto answers slowly on a busy machine.
            env |= {**server.settings_env("bench"), "HABLA_JOBS__STORAGE_TIMEOUT_SECONDS": "300"}
        env |= extra_env or {}
        if extra_env:
            figures["env"] = extra_env
        api = stack.enter_context(HablaServer(tmp / "home", env=env))
        (tmp / "home").mkdir(exist_ok=True)
        api.start(ready=base_model_loaded)  # the API loads the default model in the background: not upload memory
        proc = psutil.Process(api.proc.pid)  # type: ignore[union-attr]
        cold = proc.memory_info().rss
        # One short job first: what the first request imports (PyAV, Celery's client, boto3) is paid once per
        # process, not per upload; it is reported apart (warm_up_growth_mb).
        if warm_up:
            with open(SPEECH / "ast-en-dir-welcome.flac", "rb") as f:
                warm = httpx.post(f"{api.url}/v1/jobs", files={"file": ("warm.flac", f, "audio/flac")}, timeout=600)
            assert warm.status_code == 201, warm.text
            api.http.delete(f"/v1/jobs/{warm.json()['id']}")
        base = proc.memory_info().rss
        figures["warm_up_growth_mb"] = round((base - cold) / 2**20, 1)
        peak = [base]
        peak_at = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                if (rss := proc.memory_info().rss) > peak[0]:
                    peak[0], peak_at[0] = rss, time.perf_counter() - start

        start = time.perf_counter()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        api_cpu = proc.cpu_times()
        faults = _minor_faults(proc)
        store_proc = psutil.Process(server.proc.pid) if server else None
        store_cpu = _tree_cpu(store_proc) if store_proc else 0.0
        with open(wav, "rb") as f:
            start = time.perf_counter()
            reply = httpx.post(f"{api.url}/v1/jobs", files={"file": ("big.wav", f, "audio/wav")}, timeout=600)
            seconds = time.perf_counter() - start
        # CPU seconds per 100 MB: 100 MB/s needs the API under 1 CPU-s per 100 MB (and the store as well).
        used = proc.cpu_times()
        figures["api_cpu_s_per_100mb"] = round(
            ((used.user + used.system) - (api_cpu.user + api_cpu.system)) / size * 1e8, 3)
        # User and kernel time apart, and minor page faults: fresh memory for every block costs kernel time.
        figures["api_user_s_per_100mb"] = round((used.user - api_cpu.user) / size * 1e8, 3)
        figures["api_minor_faults_per_100mb"] = round((_minor_faults(proc) - faults) / size * 1e8)
        if store_proc:
            figures["store_cpu_s_per_100mb"] = round((_tree_cpu(store_proc) - store_cpu) / size * 1e8, 3)
        done.set()
        sampler.join()
        figures["rss_after_mb"] = round((proc.memory_info().rss - base) / 2**20, 1)
        figures["rss_peak_at_s"] = round(peak_at[0], 1)
        assert reply.status_code == 201, reply.text
        api.http.delete(f"/v1/jobs/{reply.json()['id']}")
        stored = [k for k in server.keys("bench") if "/uploads/" in k] if server else []
    wav.unlink()
    return {**figures, "mb": mb, "bytes": size, "seconds": round(seconds, 2),
            "mb_per_s": round(size / seconds / 1e6, 1), "rss_growth_mb": round((peak[0] - base) / 2**20, 1),
            "rss_base_mb": round(base / 2**20, 1), "stored_objects": len(stored)}


def parts(mb: int, backend: str, s3rver: Path, rounds: int) -> dict[str, Any]:
    """habla's S3 writer alone (this process), part size × parts in flight, interleaved over ``rounds``: MB/s and
    this process's RSS growth while it uploads a ``mb`` MB file."""
    import psutil

    from habla.storage.s3 import S3ObjectStore

    tmp = Path(tempfile.mkdtemp(prefix="habla-bench-"))
    wav = write_big_wav(tmp / "big.wav", mb)
    size = wav.stat().st_size
    proc = psutil.Process()
    results: dict[str, list[tuple[float, float]]] = {}
    with s3_server(backend, tmp, s3rver) as server:
        server.bucket("bench")
        env = server.settings_env("bench")
        for _ in range(rounds):
            for part_mb, concurrency in ((5, 2), (5, 4), (8, 2), (8, 3), (8, 4), (16, 2), (16, 4)):
                store = S3ObjectStore(env["HABLA_JOBS__STORAGE_URL"], endpoint_url=server.url, region="us-east-1",
                                      access_key_id=env["HABLA_JOBS__STORAGE_ACCESS_KEY_ID"],
                                      secret_access_key=env["HABLA_JOBS__STORAGE_SECRET_ACCESS_KEY"],
                                      part_bytes=part_mb << 20, concurrency=concurrency, timeout=300)
                base = proc.memory_info().rss
                peak = [base]
                done = threading.Event()

                def sample(peak: list[int] = peak, done: threading.Event = done) -> None:
                    while not done.wait(0.02):
                        peak[0] = max(peak[0], proc.memory_info().rss)

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                start = time.perf_counter()
                with open(wav, "rb") as f:
                    store.put("parts-sweep", f)
                seconds = time.perf_counter() - start
                done.set()
                sampler.join()
                results.setdefault(f"{part_mb} MB x {concurrency}", []).append(
                    (size / seconds / 1e6, (peak[0] - base) / 2**20))
    wav.unlink()
    return {name: {"mb_per_s": [round(r[0], 1) for r in runs], "rss_growth_mb": [round(r[1], 1) for r in runs]}
            for name, runs in results.items()}


def writers(mb: int, backend: str, s3rver: Path, rounds: int) -> dict[str, Any]:
    """The same ``mb`` MB file into the same server by each S3 client, interleaved over ``rounds``: boto3's
    upload_file, habla's S3 writer (boto3 multipart, 8 MB x 4) and obstore (the Rust object_store crate) with
    two part settings. MB/s, and CPU seconds per GB in this process (the client) and in the server process:
    which side of the loopback is the bound."""
    try:
        import obstore
        from obstore.store import S3Store
    except ImportError:  # only this comparison uses it: not a dependency of habla
        sys.exit("obstore is missing: .venv/bin/pip install obstore")
    import psutil
    from boto3.s3.transfer import TransferConfig

    from habla.storage.s3 import S3ObjectStore

    tmp = Path(tempfile.mkdtemp(prefix="habla-bench-"))
    wav = write_big_wav(tmp / "big.wav", mb)
    size = wav.stat().st_size
    me = psutil.Process()
    results: dict[str, list[dict[str, float]]] = {}
    with s3_server(backend, tmp, s3rver) as server:
        server.bucket("bench")
        env = server.settings_env("bench")
        keys = {"access_key_id": env["HABLA_JOBS__STORAGE_ACCESS_KEY_ID"],
                "secret_access_key": env["HABLA_JOBS__STORAGE_SECRET_ACCESS_KEY"]}
        served = psutil.Process(server.proc.pid)
        habla = S3ObjectStore(env["HABLA_JOBS__STORAGE_URL"], endpoint_url=server.url, region="us-east-1",
                              timeout=300, **keys)
        boto = server.client()
        obstores = {(part, n): S3Store("bench", config={"endpoint": server.url, "region": "us-east-1", **keys},
                                       client_options={"allow_http": True, "timeout": "300s"})
                    for part, n in ((8, 4), (16, 8))}

        def run_obstore(part: int, n: int) -> None:
            obstore.put(obstores[(part, n)], f"w-obstore-{part}x{n}", wav, chunk_size=part << 20, max_concurrency=n)

        def run_writer() -> None:
            with open(wav, "rb") as f:
                habla.put("w-habla", f)

        clients = {"boto3 upload_file 8 MB x 4": lambda: boto.upload_file(
                       str(wav), "bench", "w-boto3", Config=TransferConfig(multipart_threshold=8 << 20,
                                                                           multipart_chunksize=8 << 20,
                                                                           max_concurrency=4)),
                   "habla writer (boto3) 8 MB x 4": run_writer,
                   "obstore 8 MB x 4": lambda: run_obstore(8, 4),
                   "obstore 16 MB x 8": lambda: run_obstore(16, 8)}
        for _ in range(rounds):
            for name, upload_it in clients.items():
                mine, theirs = me.cpu_times(), _tree_cpu(served)
                start = time.perf_counter()
                upload_it()
                seconds = time.perf_counter() - start
                used, server_used = me.cpu_times(), _tree_cpu(served)
                client_cpu = (used.user + used.system) - (mine.user + mine.system)
                results.setdefault(name, []).append({
                    "mb_per_s": size / seconds / 1e6, "client_cpu_s_per_gb": client_cpu / size * 1e9,
                    "server_cpu_s_per_gb": (server_used - theirs) / size * 1e9})
        boto.delete_objects(Bucket="bench", Delete={"Objects": [{"Key": k} for k in server.keys("bench")]})
    wav.unlink()
    return {name: {key: [round(r[key], 2) for r in runs] for key in runs[0]} for name, runs in results.items()}


def _minor_faults(proc: Any) -> int:
    """Minor page faults of a process so far (Linux: field 10 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{proc.pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[7])


def _tree_cpu(proc: Any) -> float:
    """User + system CPU seconds of a process and its children (a launcher script may run the server in one)."""
    times = [p.cpu_times() for p in [proc, *proc.children(recursive=True)]]
    return sum(t.user + t.system for t in times)


def result_writes(backend: str, s3rver: Path, rounds: int) -> dict[str, Any]:
    """Where the S3 job overhead goes: one job's results as six small objects at once (what JobStorage writes
    today: json, txt, srt, vtt, tsv, rttm) against a single object, interleaved over ``rounds``."""
    from concurrent.futures import ThreadPoolExecutor

    from habla.storage.s3 import S3ObjectStore

    tmp = Path(tempfile.mkdtemp(prefix="habla-bench-"))
    data = os.urandom(3000)  # about a short clip's transcript
    six: list[float] = []
    one: list[float] = []
    with s3_server(backend, tmp, s3rver) as server:
        server.bucket("bench")
        env = server.settings_env("bench")
        store = S3ObjectStore(env["HABLA_JOBS__STORAGE_URL"], endpoint_url=server.url, region="us-east-1",
                              access_key_id=env["HABLA_JOBS__STORAGE_ACCESS_KEY_ID"],
                              secret_access_key=env["HABLA_JOBS__STORAGE_SECRET_ACCESS_KEY"])
        store.put_bytes("warm", data)
        for i in range(rounds):
            start = time.perf_counter()
            with ThreadPoolExecutor(7) as pool:
                for done in [pool.submit(store.put_bytes, f"r/{i}/transcript.{ext}", data)
                             for ext in ("json", "txt", "srt", "vtt", "tsv", "rttm")]:
                    done.result()
            six.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            store.put_bytes(f"r/{i}/only.json", data)
            one.append((time.perf_counter() - start) * 1000)
    return {name: {"median_ms": round(statistics.median(v), 1), "max_ms": round(max(v), 1), "runs": len(v)}
            for name, v in (("six_objects_at_once", six), ("one_object", one))}


class TimedTranscriber:
    """Delegates to the real Transcriber and records how long each transcription itself took."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds, self.started = inner, 0.0, 0.0

    def default_options(self, **kw: Any) -> Any:
        return self.inner.default_options(**kw)

    def stream(self, *args: Any, **kw: Any) -> Any:
        start = self.started = time.perf_counter()
        run = self.inner.stream(*args, **kw)
        outer = self

        class Run:
            def __iter__(self) -> Any:
                return iter(run)

            def result(self) -> Any:
                result = run.result()
                outer.seconds = time.perf_counter() - start
                return result

            def close(self) -> None:
                run.close()

        return Run()


class CallTimes:
    """Wraps methods of the S3 service's job store and object store: when each call of one job started (ms after
    submit) and how long it took, to see where the job overhead goes."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.calls: list[tuple[str, float, float]] = []
        self.jobs: list[list[tuple[str, float, float]]] = []

    def wrap(self, owner: Any, label: str, names: tuple[str, ...]) -> None:
        for name in names:
            inner = getattr(owner, name)

            def timed(*args: Any, _inner: Any = inner, _label: str = f"{label}.{name}", **kw: Any) -> Any:
                start = time.perf_counter()
                try:
                    return _inner(*args, **kw)
                finally:
                    self.calls.append((_label, (start - self.t0) * 1000, (time.perf_counter() - start) * 1000))

            setattr(owner, name, timed)

    def start(self) -> None:
        self.calls = []
        self.t0 = time.perf_counter()

    def keep(self, transcription: tuple[float, float]) -> None:
        begin, seconds = transcription
        self.jobs.append([*self.calls, ("transcription", (begin - self.t0) * 1000, seconds * 1000)])

    def summary(self) -> dict[str, Any]:
        """Per call (in the order of a job): median start after submit and median duration, in ms."""
        by_label: dict[str, list[tuple[float, float]]] = {}
        for job in self.jobs:
            for label, at, took in job:
                if label != "store.get":  # the benchmark's own polling
                    by_label.setdefault(label, []).append((at, took))
        rows = sorted(by_label.items(), key=lambda item: statistics.median(at for at, _ in item[1]))
        return {label: {"calls": len(v), "median_at_ms": round(statistics.median(a for a, _ in v), 1),
                        "median_ms": round(statistics.median(t for _, t in v), 1)} for label, v in rows}


def overhead(runs: int, backend: str, s3rver: Path, profile: bool = False) -> dict[str, Any]:
    from habla.asr.transcriber import Transcriber
    from habla.config import Settings
    from habla.jobs.service import JobService

    tmp = Path(tempfile.mkdtemp(prefix="habla-bench-"))
    clip = SPEECH / "ast-en-dir-welcome.flac"
    os.environ.pop("HABLA_JOBS__STORAGE_DIR", None)
    with s3_server(backend, tmp, s3rver) as moto:
        moto.bucket("bench")
        env = moto.settings_env("bench")
        s3 = Settings(home=tmp / "s3", jobs={  # type: ignore[arg-type]
            "storage_url": env["HABLA_JOBS__STORAGE_URL"], "storage_endpoint_url": moto.url,
            "storage_region": "us-east-1", "storage_access_key_id": env["HABLA_JOBS__STORAGE_ACCESS_KEY_ID"],
            "storage_secret_access_key": env["HABLA_JOBS__STORAGE_SECRET_ACCESS_KEY"]})
        local = Settings(home=tmp / "local")
        transcriber = TimedTranscriber(Transcriber.from_settings(local))
        timed: Any = transcriber
        services = {"local": JobService.from_settings(local, timed), "s3": JobService.from_settings(s3, timed)}
        calls = CallTimes()
        if profile:
            calls.wrap(services["s3"].storage.objects, "s3", ("put", "put_bytes", "open", "delete", "list"))
            calls.wrap(services["s3"].store, "db", ("count", "create", "mark_enqueued", "claim", "finish",
                                                    "heartbeat", "progress"))
            calls.wrap(services["s3"].store, "store", ("get",))
            calls.wrap(services["s3"].storage, "storage", ("write_results", "audio_file"))
            calls.wrap(services["s3"].queue.runner, "runner", ("run", "_transcribe", "_stream"))
            calls.wrap(sys.modules["habla.jobs.runner"], "runner", ("worker_id",))
        # Done = the moment the result is committed to the job store. Waiting on it, not polling get() every
        # 2 ms as before: in-process polling took the GIL and the database from the worker thread it measures.
        finished = {name: _on_finish(service) for name, service in services.items()}
        for service in services.values():
            service.start()
        figures: dict[str, list[float]] = {name: [] for name in services}
        requests: list[str] = []
        try:
            for i in range(runs + 1):  # the first round warms the model and is not counted
                for name, service in services.items():
                    offset = moto.log.stat().st_size
                    calls.start()
                    finished[name].clear()
                    start = time.perf_counter()
                    with open(clip, "rb") as f:
                        job, _ = service.submit(f, filename=clip.name, options={"language": "en"})
                    assert finished[name].wait(600)
                    total = finished[name].at - start
                    assert service.get(job.id).status == "succeeded"
                    if i:
                        figures[name].append((total - transcriber.seconds) * 1000)
                        if name == "s3" and profile:
                            calls.keep((transcriber.started, transcriber.seconds))
                    if name == "s3" and i == runs:
                        time.sleep(1)  # the last access-log lines
                        requests = s3_requests(moto.log, offset)
        finally:
            for service in services.values():
                service.stop()
    result: dict[str, Any] = {name: {"median_ms": round(statistics.median(v), 1),
                                     "p95_ms": round(percentile(v, 95), 1), "max_ms": round(max(v), 1),
                                     "runs": len(v)} for name, v in figures.items()}
    if requests or backend == "moto":
        result["s3_requests_last_job"] = requests
    if profile:
        result["s3_calls"] = calls.summary()
    return result


class _Finished(threading.Event):
    at = 0.0


def _on_finish(service: Any) -> _Finished:
    """An event set (with the time) each time ``service``'s job store records a result."""
    event = _Finished()
    inner = service.store.finish

    def finish(*args: Any, **kw: Any) -> Any:
        done = inner(*args, **kw)
        event.at = time.perf_counter()
        event.set()
        return done

    service.store.finish = finish
    return event


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile by linear interpolation (numpy's default)."""
    import numpy as np

    return float(np.percentile(values, q))


def s3_requests(log: Path, offset: int) -> list[str]:
    """moto_server's access log after ``offset``: one "METHOD /key" per request (query strings and ids cut)."""
    import re

    with open(log, "rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    found = (re.search(r'"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP', line) for line in lines)
    return [f"{m[1]} {re.sub(r'[0-9a-f]{32}', '<id>', m[2].split('?')[0])}" for m in found if m]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["upload", "overhead", "parts", "results", "writers"])
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--broker", default=None,
                        help="Celery broker of the upload run; unset = a redis-server started on a free port.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="upload: an environment variable of the API (e.g. HABLA_JOBS__STORAGE_CHECKSUMS=true).")
    parser.add_argument("--backend", choices=["moto", "s3rver", "local"], default="moto",
                        help="The S3 server on loopback (or, for upload, the local folder).")
    parser.add_argument("--s3rver", type=Path, default=ROOT / ".bench" / "node_modules" / ".bin" / "s3rver")
    parser.add_argument("--no-ceiling", action="store_true", help="upload: skip the boto3/writer-alone runs.")
    parser.add_argument("--cold", action="store_true", help="upload: no short job first (imports count too).")
    parser.add_argument("--profile", action="store_true",
                        help="overhead: when each S3 and database call of a job starts and how long it takes.")
    args = parser.parse_args()
    if args.what == "writers":
        result = writers(args.mb, "moto" if args.backend == "local" else args.backend, args.s3rver, args.runs)
    elif args.what == "results":
        result = result_writes("moto" if args.backend == "local" else args.backend, args.s3rver, args.runs)
    elif args.what == "parts":
        result = parts(args.mb, "moto" if args.backend == "local" else args.backend, args.s3rver, args.runs)
    elif args.what == "upload":
        extra = dict(item.split("=", 1) for item in args.set)
        with contextlib.ExitStack() as stack:
            broker = args.broker or stack.enter_context(redis_server())
            result = upload(args.mb, broker, args.backend, args.s3rver, not args.cold, not args.no_ceiling, extra)
    else:
        result = overhead(args.runs, "moto" if args.backend == "local" else args.backend, args.s3rver, args.profile)
    print(json.dumps({args.what: result, "load_average": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()

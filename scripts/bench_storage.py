"""Object storage figures (docs/storage.md), against a moto_server on loopback.

``upload``: a ``--mb`` MB WAV posted to POST /v1/jobs of a `habla serve` whose files are in S3: seconds and MB/s
from the first byte sent to the 201, and the server process's RSS growth (sampled every 20 ms); next to it the
ceiling, boto3 putting the same file straight into the same moto_server. The job is cancelled at once.

``overhead``: a 2 s clip as a job in-process (embedded pool, warm model), local folder vs S3, interleaved:
submit → done minus the transcription's own time, ``--runs`` times each.

Usage: .venv/bin/python scripts/bench_storage.py upload [--mb 1024] [--broker redis://...] | overhead [--runs 10]
"""

from __future__ import annotations

import argparse
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


def upload(mb: int, broker: str) -> dict[str, Any]:
    import httpx
    import psutil

    from tests.conftest import HablaServer
    from tests.s3server import MotoS3

    tmp = Path(tempfile.mkdtemp(prefix="habla-bench-"))
    wav = write_big_wav(tmp / "big.wav", mb)
    size = wav.stat().st_size
    with MotoS3(tmp / "moto.log") as moto:
        moto.bucket("bench")
        start = time.perf_counter()
        moto.client().upload_file(str(wav), "bench", "ceiling")
        ceiling = size / (time.perf_counter() - start) / 1e6
        moto.client().delete_object(Bucket="bench", Key="ceiling")
        # A long timeout: moto answers slowly on a busy machine, and a retried part trips a moto bug (a part
        # whose buffer it closed, "seek of closed file" → 500 on CompleteMultipartUpload).
        # An API node in distributed mode (jobs go to Redis, no worker here): the process only streams the upload,
        # so its memory is the upload's and not a model's. ``--broker`` is a redis-server (scripts/services.sh).
        env = {**moto.settings_env("bench"), "HABLA_JOBS__STORAGE_TIMEOUT_SECONDS": "300",
               "HABLA_JOBS__MODE": "distributed", "HABLA_JOBS__BROKER_URL": broker}
        with HablaServer(tmp / "home", env=env) as server:
            (tmp / "home").mkdir(exist_ok=True)
            server.start()
            proc = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
            base = proc.memory_info().rss
            peak = [base]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.02):
                    peak[0] = max(peak[0], proc.memory_info().rss)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            with open(wav, "rb") as f:
                start = time.perf_counter()
                reply = httpx.post(f"{server.url}/v1/jobs", files={"file": ("big.wav", f, "audio/wav")},
                                   timeout=600)
                seconds = time.perf_counter() - start
            done.set()
            sampler.join()
            assert reply.status_code == 201, reply.text
            server.http.delete(f"/v1/jobs/{reply.json()['id']}")
            stored = [k for k in moto.keys("bench") if "/uploads/" in k]
    wav.unlink()
    return {"mb": mb, "bytes": size, "seconds": round(seconds, 2), "mb_per_s": round(size / seconds / 1e6, 1),
            "rss_growth_mb": round((peak[0] - base) / 2**20, 1), "rss_base_mb": round(base / 2**20, 1),
            "boto3_direct_mb_per_s": round(ceiling, 1), "stored_objects": len(stored)}


class TimedTranscriber:
    """Delegates to the real Transcriber and records how long each transcription itself took."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds = inner, 0.0

    def default_options(self, **kw: Any) -> Any:
        return self.inner.default_options(**kw)

    def stream(self, *args: Any, **kw: Any) -> Any:
        start = time.perf_counter()
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


def overhead(runs: int) -> dict[str, Any]:
    from habla.asr.transcriber import Transcriber
    from habla.config import Settings
    from habla.jobs.service import JobService
    from tests.s3server import MotoS3

    tmp = Path(tempfile.mkdtemp(prefix="habla-bench-"))
    clip = SPEECH / "ast-en-dir-welcome.flac"
    os.environ.pop("HABLA_JOBS__STORAGE_DIR", None)
    with MotoS3(tmp / "moto.log") as moto:
        moto.bucket("bench")
        env = moto.settings_env("bench")
        s3 = Settings(home=tmp / "s3", jobs={  # type: ignore[arg-type]
            "storage_url": env["HABLA_JOBS__STORAGE_URL"], "storage_endpoint_url": moto.url,
            "storage_region": "us-east-1", "storage_access_key_id": env["HABLA_JOBS__STORAGE_ACCESS_KEY_ID"],
            "storage_secret_access_key": env["HABLA_JOBS__STORAGE_SECRET_ACCESS_KEY"]})
        local = Settings(home=tmp / "local")
        transcriber = TimedTranscriber(Transcriber(local))
        timed: Any = transcriber
        services = {"local": JobService(local, timed), "s3": JobService(s3, timed)}
        for service in services.values():
            service.start()
        figures: dict[str, list[float]] = {name: [] for name in services}
        try:
            for i in range(runs + 1):  # the first round warms the model and is not counted
                for name, service in services.items():
                    start = time.perf_counter()
                    with open(clip, "rb") as f:
                        job, _ = service.submit(f, filename=clip.name, options={"language": "en"})
                    while not service.get(job.id).done:
                        time.sleep(0.002)
                    total = time.perf_counter() - start
                    assert service.get(job.id).status == "succeeded"
                    if i:
                        figures[name].append((total - transcriber.seconds) * 1000)
        finally:
            for service in services.values():
                service.stop()
    return {name: {"median_ms": round(statistics.median(v), 1), "max_ms": round(max(v), 1), "runs": len(v)}
            for name, v in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["upload", "overhead"])
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--broker", default="redis://127.0.0.1:6390/9", help="Celery broker of the upload run.")
    args = parser.parse_args()
    result = upload(args.mb, args.broker) if args.what == "upload" else overhead(args.runs)
    print(json.dumps({args.what: result, "load_average": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()

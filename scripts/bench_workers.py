"""Throughput of distributed jobs with 1 and 2 `habla worker` processes (Celery on Redis, PostgreSQL store).

Starts redis-server and postgresql with scripts/services.sh, submits ``--jobs`` jobs of ``--seconds`` of real
speech each, and times submit → all succeeded for each worker layout. Figures printed and written to
bench-results/workers-<time>.json.

Usage: .venv/bin/python scripts/bench_workers.py [--jobs 6] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from pathlib import Path

import numpy as np
from bench_results import save_report  # scripts/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"
HABLA = str(Path(sys.executable).with_name("habla"))
# (workers, CTranslate2 threads per worker)
LAYOUTS = [(1, 0), (2, 0), (2, 1)]


def speech_file(path: Path, seconds: int) -> Path:
    from habla.audio.decode import decode
    from habla.audio.wav import looped, write_wav

    clips = sorted(SPEECH.glob("ast-en-*.flac"))[:20]
    gap = np.zeros(8000, np.float32)
    return write_wav(path, looped(np.concatenate([part for c in clips for part in (decode(c), gap)]), seconds))


def services_env() -> dict[str, str]:
    run = subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "start"], capture_output=True, text=True,
                         check=True, timeout=600)
    return dict(line.split("=", 1) for line in run.stdout.splitlines() if line.startswith("HABLA_"))


def run_layout(workers: int, threads: int, jobs: int, audio: Path, base_env: dict[str, str], home: Path) -> dict:
    import psycopg
    import redis

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    pg_url = base_env["HABLA_JOBS__DATABASE_URL"]
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    broker = base_env["HABLA_JOBS__BROKER_URL"].rsplit("/", 1)[0] + "/8"
    redis.Redis.from_url(broker).flushdb()
    env = {**os.environ, "HABLA_HOME": str(home), "HABLA_JOBS__MODE": "distributed", "HABLA_JOBS__BROKER_URL": broker,
           "HABLA_JOBS__DATABASE_URL": f"{pg_url}?options=-csearch_path%3D{schema}",
           "HABLA_JOBS__STORAGE_DIR": str(home / f"files-{schema}"), "HABLA_ASR__CPU_THREADS": str(threads)}
    procs, logs = [], []
    try:
        for i in range(workers):
            logs.append(home / f"{schema}-worker{i}.log")
            procs.append(subprocess.Popen([HABLA, "worker", "--concurrency", "1"], stdout=open(logs[-1], "wb"),
                                          stderr=subprocess.STDOUT, start_new_session=True, env=env))
        deadline = time.monotonic() + 120
        while not all(b" ready." in log.read_bytes() for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit("a worker did not start: " + " | ".join(log.read_text()[-500:] for log in logs))
            time.sleep(0.2)
        os.environ.update({k: v for k, v in env.items() if k.startswith("HABLA_")})
        from habla.config import load_settings
        from habla.jobs.service import JobService

        service = JobService.from_settings(load_settings())
        service.start()
        try:
            started = time.perf_counter()
            ids = []
            for _ in range(jobs):
                with audio.open("rb") as f:
                    ids.append(service.submit(f, filename=audio.name, options={"language": "en"})[0].id)
            while not all(service.get(i).done for i in ids):
                time.sleep(0.2)
            wall = time.perf_counter() - started
            statuses = sorted({service.get(i).status for i in ids})
        finally:
            service.stop()
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    seconds = jobs * wave.open(str(audio)).getnframes() / 16000
    return {"workers": workers, "threads_per_worker": threads or "cores", "jobs": jobs, "statuses": statuses,
            "wall_s": round(wall, 2), "audio_seconds_per_second": round(seconds / wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    base_env = services_env()
    rows = []
    with tempfile.TemporaryDirectory(prefix="habla-bench-workers-") as tmp:
        home = Path(tmp)
        audio = speech_file(home / "speech.wav", args.seconds)
        for workers, threads in LAYOUTS:
            rows.append(run_layout(workers, threads, args.jobs, audio, base_env, home))
            print(rows[-1], flush=True)
    one = rows[0]["audio_seconds_per_second"]
    for row in rows:
        row["vs_one_worker"] = round(row["audio_seconds_per_second"] / one, 2)
    report = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(),
              "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()], "layouts": rows}
    out = save_report(report, "workers")
    for row in rows:
        print(f"{row['workers']} worker(s) × {row['threads_per_worker']} threads: {row['audio_seconds_per_second']} "
              f"audio s/s ({row['vs_one_worker']}× one worker), {row['jobs']} jobs in {row['wall_s']} s")
    print(f"written to {out}; load average {report['load_average_1_5_15']}")


if __name__ == "__main__":
    main()

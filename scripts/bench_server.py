"""Benchmark `habla serve`: many concurrent OpenAI SDK clients, and the overhead of a durable job.

1. ``--clients`` openai SDK clients (one thread and one connection pool each) each send ``--rounds`` short English
   clips to /v1/audio/transcriptions at once: errors (must be 0), latency p50/p95/max, audio seconds transcribed
   per wall-clock second, corpus WER against the manifest.
2. Job overhead on a short clip: submit → ``succeeded`` through /v1/jobs (polled every 20 ms), minus the pure
   transcription time of the same clip in-process (``Transcriber.transcribe``, model loaded); the synchronous
   endpoint's overhead is reported beside it. Medians of ``--repeats`` runs, one at a time on an idle server.
   Because both sides of that difference carry CPU noise on a small shared machine, the job machinery is also
   measured alone: JobService in-process, minus the time measured inside the transcription call.

3. ``--compare``: server set-ups (``--variants``: off = no batching, batched = batching, packed = batching with
   window packing), alternating ``--cycles`` times on fresh servers so all see the same machine load: one request
   alone (median of ``--repeats``), the concurrent clients, and, with ``--job-minutes``, the concurrent clients again
   while a job of that much speech runs.

Usage: .venv/bin/python scripts/bench_server.py [--clients 50] [--rounds 2] [--repeats 5]
       .venv/bin/python scripts/bench_server.py --compare [--cycles 2] [--job-minutes 30] [--variants off,packed]
Figures are printed and written to bench-results/server-<time>.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
from bench_results import save_report  # scripts/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"
HABLA = str(Path(sys.executable).with_name("habla"))
SHORT_SECONDS = 3.0
JOB_CLIP = "ast-en-dir-welcome"  # 1.8 s
VARIANTS: dict[str, dict[str, str]] = {
    "off": {"HABLA_BATCHING__ENABLED": "false"},
    "batched": {"HABLA_BATCHING__ENABLED": "true", "HABLA_BATCHING__PACK_WINDOWS": "false"},
    "packed": {"HABLA_BATCHING__ENABLED": "true", "HABLA_BATCHING__PACK_WINDOWS": "true"},
    "full-windows": {"HABLA_BATCHING__ENABLED": "false", "HABLA_ASR__SHORT_WINDOW_SECONDS": "0"},
    "short-windows": {"HABLA_BATCHING__ENABLED": "false", "HABLA_ASR__SHORT_WINDOW_SECONDS": "8"},
}


def short_clips() -> list[dict[str, Any]]:
    from habla.audio.manifest import read_manifest_rows

    return [{"path": SPEECH / f"{r.id}.flac", "seconds": r.seconds, "text": r.text}
            for r in read_manifest_rows(SPEECH) if r.lang == "en" and r.seconds <= SHORT_SECONDS and r.text]


def start_server(home: Path, max_queue: int, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HABLA_HOME": str(home), "HABLA_SERVER__MAX_QUEUE": str(max_queue), **(extra_env or {})}
    proc = subprocess.Popen([HABLA, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=(home / "server.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, (home / "server.log").read_text()
        try:
            if "base" in httpx.get(f"{url}/healthz").json()["models_loaded"]:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit("the server did not start in 120 s")


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def concurrent_clients(url: str, clips: list[dict[str, Any]], clients: int, rounds: int) -> dict[str, Any]:
    from habla.asr.wer import word_error_rate

    results: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client_thread(index: int) -> None:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=600)
        barrier.wait()  # every client starts at the same moment
        for r in range(rounds):
            clip = clips[(index * rounds + r) % len(clips)]
            started = time.perf_counter()
            try:
                with clip["path"].open("rb") as f:
                    text = client.audio.transcriptions.create(model="whisper-1", file=f, language="en").text
            except openai.OpenAIError as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                results.append({"latency": time.perf_counter() - started, "seconds": clip["seconds"],
                                "reference": clip["text"], "text": text})
        client.close()

    threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies = [r["latency"] for r in results]
    audio = sum(r["seconds"] for r in results)
    wer = word_error_rate([r["reference"] for r in results], [r["text"] for r in results])
    return {"clients": clients, "requests": clients * rounds, "ok": len(results), "errors": len(errors),
            "error_samples": errors[:5], "wall_seconds": round(wall, 2),
            "latency_p50_s": round(percentile(latencies, 0.5), 3) if latencies else None,
            "latency_p95_s": round(percentile(latencies, 0.95), 3) if latencies else None,
            "latency_max_s": round(max(latencies), 3) if latencies else None,
            "audio_seconds": round(audio, 2), "audio_seconds_per_second": round(audio / wall, 2),
            "wer": round(wer.wer, 4)}


def pure_transcription(clip: Path, repeats: int) -> float:
    """In-process, model already loaded: the time the work itself takes."""
    from habla.asr.transcriber import Transcriber
    from habla.config import load_settings

    transcriber = Transcriber.from_settings(load_settings())
    options = transcriber.default_options(language="en")
    transcriber.transcribe(clip, options=options)  # load and warm up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        transcriber.transcribe(clip, options=options)
        times.append(time.perf_counter() - started)
    transcriber.models.unload_all()
    return statistics.median(times)


def job_overhead_in_process(clip: Path, repeats: int) -> dict[str, float]:
    """The job machinery alone: JobService (SQLite store, storage, worker thread) around a Transcriber whose own
    time is measured, so CPU noise from the transcription itself does not count. Medians over ``repeats``."""
    from habla.asr.transcriber import Transcriber
    from habla.config import load_settings
    from habla.jobs.service import JobService

    with tempfile.TemporaryDirectory(prefix="habla-bench-jobs-") as home:
        settings = load_settings(home=Path(home))
        transcriber = Transcriber.from_settings(settings)
        spent: list[float] = []
        transcribe = transcriber.transcribe

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return transcribe(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - started)

        transcriber.transcribe = timed  # type: ignore[method-assign]
        transcriber.warm()
        service = JobService.from_settings(settings, transcriber)
        service.start()
        totals, overheads = [], []
        try:
            for _ in range(repeats + 1):  # the first job warms SQLite and the storage folders
                started = time.perf_counter()
                with clip.open("rb") as f:
                    job, _ = service.submit(f, filename=clip.name, options={"language": "en"})
                while service.get(job.id).status in ("queued", "running"):
                    time.sleep(0.001)
                totals.append(time.perf_counter() - started)
                overheads.append(totals[-1] - spent[-1])
        finally:
            service.stop()
            transcriber.models.unload_all()
    return {"submit_to_done_s": round(statistics.median(totals[1:]), 4),
            "overhead_s": round(statistics.median(overheads[1:]), 4)}


def job_round_trip(url: str, clip: Path) -> float:
    with httpx.Client(base_url=url, timeout=60) as http:
        started = time.perf_counter()
        with clip.open("rb") as f:
            job = http.post("/v1/jobs", files={"file": (clip.name, f)}, data={"language": "en"}).json()
        while (status := http.get(f"/v1/jobs/{job['id']}").json()["status"]) in ("queued", "running"):
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    if status != "succeeded":
        raise SystemExit(f"job {job['id']} ended {status}")
    return elapsed


def sync_round_trip(url: str, clip: Path) -> float:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    started = time.perf_counter()
    with clip.open("rb") as f:
        client.audio.transcriptions.create(model="whisper-1", file=f, language="en")
    return time.perf_counter() - started


def job_overhead(url: str, repeats: int) -> dict[str, Any]:
    clip = SPEECH / f"{JOB_CLIP}.flac"
    job_round_trip(url, clip)  # first job warms the job path (SQLite, storage folders)
    jobs = statistics.median(job_round_trip(url, clip) for _ in range(repeats))
    sync = statistics.median(sync_round_trip(url, clip) for _ in range(repeats))
    pure = pure_transcription(clip, repeats)
    in_process = job_overhead_in_process(clip, repeats)
    return {"clip": JOB_CLIP, "repeats": repeats, "pure_transcription_s": round(pure, 3),
            "in_process_job_overhead_s": in_process["overhead_s"],
            "job_submit_to_done_s": round(jobs, 3), "job_overhead_s": round(jobs - pure, 3),
            "sync_request_s": round(sync, 3), "sync_overhead_s": round(sync - pure, 3)}


def long_speech(path: Path, seconds: float) -> Path:
    """Real English speech of any length: the corpus' longer clips in a loop with half-second pauses."""
    import numpy as np

    from habla.audio.decode import decode
    from habla.audio.wav import looped, write_wav

    from habla.audio.manifest import read_manifest_rows

    rows = [r for r in read_manifest_rows(SPEECH) if r.lang == "en" and r.seconds > 8]
    gap = np.zeros(8000, np.float32)
    one = np.concatenate([part for r in rows[:10] for part in (decode(SPEECH / f"{r.id}.flac"), gap)])
    return write_wav(path, looped(one, seconds))


def alone(url: str, clips: list[dict[str, Any]], repeats: int) -> float:
    """Median latency of one request with nothing else running."""
    return statistics.median(sync_round_trip(url, clips[i % len(clips)]["path"]) for i in range(repeats))


def with_job(url: str, job_audio: Path, clips: list[dict[str, Any]], clients: int, rounds: int) -> dict[str, Any]:
    """The concurrent clients while a long job runs (started first, cancelled after)."""
    with httpx.Client(base_url=url, timeout=120) as http:
        with job_audio.open("rb") as f:
            job = http.post("/v1/jobs", files={"file": (job_audio.name, f)}, data={"language": "en"}).json()
        while http.get(f"/v1/jobs/{job['id']}").json()["status"] == "queued":
            time.sleep(0.1)
        time.sleep(5)  # the job past its first small batches, decoding at full size
        result = concurrent_clients(url, clips, clients, rounds)
        status = http.get(f"/v1/jobs/{job['id']}").json()
        result["job_status_after"], result["job_position_s"] = status["status"], status.get("position")
        http.delete(f"/v1/jobs/{job['id']}")
    return result


def alone_interleaved(args: argparse.Namespace, clips: list[dict[str, Any]]) -> dict[str, Any]:
    """One request at a time, to one server per variant, all running at once and asked in turn (A, B, A, B...), so
    every variant sees the same machine load: the median latency of each over ``--repeats`` rounds of every clip
    size class used by the concurrent test."""
    variants = args.variants.split(",")
    homes = [tempfile.TemporaryDirectory(prefix="habla-bench-alone-") for _ in variants]
    servers = [start_server(Path(h.name), 4, VARIANTS[v]) for h, v in zip(homes, variants, strict=True)]
    times: dict[str, list[float]] = {v: [] for v in variants}
    try:
        for _, url in servers:
            sync_round_trip(url, clips[0]["path"])  # warm-up
        for i in range(args.repeats):
            for variant, (_, url) in zip(variants, servers, strict=True):
                times[variant].append(sync_round_trip(url, clips[i % len(clips)]["path"]))
    finally:
        for proc, _ in servers:
            stop_server(proc)
        for h in homes:
            h.cleanup()
    return {v: {"median_s": round(statistics.median(t), 3), "runs": len(t)} for v, t in times.items()}


def compare(args: argparse.Namespace, clips: list[dict[str, Any]]) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="habla-bench-compare-") as scratch:
        job_audio = long_speech(Path(scratch) / "long.wav", args.job_minutes * 60) if args.job_minutes else None
        for cycle in range(args.cycles):
            for variant in args.variants.split(","):
                with tempfile.TemporaryDirectory(prefix="habla-bench-server-") as home:
                    proc, url = start_server(Path(home), args.clients, VARIANTS[variant])
                    try:
                        sync_round_trip(url, clips[0]["path"])  # warm-up
                        run: dict[str, Any] = {"cycle": cycle, "variant": variant,
                                               "alone_median_s": round(alone(url, clips, args.repeats), 3),
                                               "load_before": os.getloadavg()[0]}
                        run["concurrent"] = concurrent_clients(url, clips, args.clients, args.rounds)
                        if job_audio is not None:
                            run["with_job"] = with_job(url, job_audio, clips, args.clients, args.rounds)
                    finally:
                        stop_server(proc)
                runs.append(run)
                c = run["concurrent"]
                line = (f"cycle {cycle} {variant:8}: alone {run['alone_median_s']} s; "
                        f"{c['requests']} requests {c['ok']} ok {c['errors']} errors, p50 {c['latency_p50_s']} s, "
                        f"p95 {c['latency_p95_s']} s, {c['audio_seconds_per_second']} audio s/s, WER {c['wer']:.1%}")
                if "with_job" in run:
                    j = run["with_job"]
                    line += f"; with a job: p50 {j['latency_p50_s']} s, p95 {j['latency_p95_s']} s"
                print(line + f" (load {run['load_before']:.1f})", flush=True)
    return {"runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="Clips each client sends, one after another.")
    parser.add_argument("--repeats", type=int, default=5, help="Runs per job-overhead figure (median).")
    parser.add_argument("--compare", action="store_true", help="Server set-ups against each other, alternating.")
    parser.add_argument("--variants", default="off,packed", help=f"With --compare: of {', '.join(VARIANTS)}.")
    parser.add_argument("--cycles", type=int, default=2, help="With --compare: rounds of every variant.")
    parser.add_argument("--job-minutes", type=float, default=0, help="With --compare: also measure the clients "
                        "while a job of this many minutes of speech runs.")
    parser.add_argument("--alone", action="store_true", help="With --variants: one request at a time to each "
                        "variant's server, all running at once, asked in turn (--repeats rounds).")
    args = parser.parse_args()
    clips = short_clips()
    if args.alone:
        load = os.getloadavg()[0]
        medians = alone_interleaved(args, clips)
        print(f"one request alone, interleaved (load {load:.1f} → {os.getloadavg()[0]:.1f}): {medians}")
        return
    if args.compare:
        report = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "args": vars(args),
                  "machine": {"cpus": os.cpu_count(), "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]},
                  **compare(args, clips)}
        out = save_report(report, "server-compare")
        print(f"load average at the end: {report['machine']['load_average_1_5_15']}; written to {out}")
        return
    with tempfile.TemporaryDirectory(prefix="habla-bench-server-") as home:
        proc, url = start_server(Path(home), max_queue=args.clients)
        try:
            load = concurrent_clients(url, clips, args.clients, args.rounds)
            metrics = httpx.get(f"{url}/metrics").text
            overhead = job_overhead(url, args.repeats)
        finally:
            stop_server(proc)
    # The load average tells whether other processes shared the CPUs during the run (figures are then pessimistic).
    report = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]},
              "concurrent": load, "job_overhead": overhead,
              "server_429s": sum(float(line.split()[-1]) for line in metrics.splitlines()
                                 if line.startswith("habla_http_requests_total") and 'status="429"' in line)}
    out = save_report(report, "server")
    c, o = load, overhead
    print(f"{c['clients']} concurrent SDK clients, {c['requests']} short clips: {c['ok']} ok, {c['errors']} errors, "
          f"p50 {c['latency_p50_s']} s, p95 {c['latency_p95_s']} s, max {c['latency_max_s']} s, "
          f"{c['audio_seconds_per_second']} audio s/s over {c['wall_seconds']} s, WER {c['wer']:.1%}")
    print(f"job overhead ({o['clip']}): pure {o['pure_transcription_s']} s, job submit→done "
          f"{o['job_submit_to_done_s']} s (+{o['job_overhead_s']} s), sync request {o['sync_request_s']} s "
          f"(+{o['sync_overhead_s']} s); job machinery alone (in-process, transcription time excluded) "
          f"+{o['in_process_job_overhead_s'] * 1000:.0f} ms")
    print(f"load average (1, 5, 15 min) at the end: {report['machine']['load_average_1_5_15']}; written to {out}")
    if c["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

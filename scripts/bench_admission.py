"""/healthz latency while LLM and speech requests saturate their slots, and a transcription meanwhile.

Starts `habla serve` (defaults: 1 LLM slot, 2 speech slots, 2 transcription slots), keeps chat completions and
speech requests coming from client threads so that their slots stay full (extra ones get 429), then times /healthz
calls that report both kinds busy, and one transcription. JSON to stdout.

Usage: .venv/bin/python scripts/bench_admission.py [--probes 50] [--clients 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "testdata" / "speech" / "ast-en-dir-welcome.flac"
TEXT = ("The conference will begin when our glorious leader arrives. Please hold the line, and thank you for "
        "your patience while we connect you to the next available representative. ") * 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load(url: str, stop: threading.Event, kind: str, statuses: dict[str, list[int]]) -> None:
    with httpx.Client(base_url=url, timeout=600) as http:
        while not stop.is_set():
            try:
                if kind == "chat":
                    r = http.post("/v1/chat/completions", json={"model": "default", "max_tokens": 200, "messages": [
                        {"role": "user", "content": "Tell me a long story about a lighthouse keeper."}]})
                else:
                    r = http.post("/v1/audio/speech", json={"input": TEXT, "voice": "alloy", "response_format": "wav"})
            except httpx.HTTPError:  # the server is stopped at the end, under these requests
                if stop.is_set():
                    return
                raise
            statuses[kind].append(r.status_code)
            if r.status_code == 429:
                time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--clients", type=int, default=3, help="client threads per kind (chat, speech)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="habla-admission-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HABLA_HOME": str(home), "HABLA_JOBS__STORAGE_DIR": str(home / "files")}
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "habla"), "serve", "--host", "127.0.0.1", "--port",
                               str(port)], env=env, stdout=(home / "server.log").open("wb"),
                              stderr=subprocess.STDOUT)
    stop = threading.Event()
    statuses: dict[str, list[int]] = {"chat": [], "speech": []}
    try:
        http = httpx.Client(base_url=url, timeout=60)
        while True:
            try:
                if "base" in http.get("/healthz").json()["models_loaded"]:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        # Load the LLM and the voice first: cyllama holds the GIL while it loads a GGUF (4.6 s measured at load
        # average 25), which stalls every async route of the process, /healthz included; that is a load-time cost,
        # timed here apart from the saturated state.
        started = time.perf_counter()
        http.post("/v1/chat/completions", json={"model": "default", "max_tokens": 1,
                                                "messages": [{"role": "user", "content": "Hi"}]}, timeout=600)
        http.post("/v1/audio/speech", json={"input": "Hi.", "voice": "alloy", "response_format": "wav"}, timeout=600)
        warm_s = time.perf_counter() - started
        loaders = [threading.Thread(target=_load, args=(url, stop, kind, statuses), daemon=True)
                   for kind in ("chat", "speech") for _ in range(args.clients)]
        for t in loaders:
            t.start()
        busy: list[float] = []
        idle_probes = 0
        while len(busy) < args.probes:
            started = time.perf_counter()
            health = http.get("/healthz").json()
            elapsed = time.perf_counter() - started
            if health["llm_in_flight"] >= 1 and health["speech_in_flight"] >= 1:
                busy.append(elapsed)
            else:
                idle_probes += 1
            time.sleep(0.1)
        started = time.perf_counter()
        with CLIP.open("rb") as audio:
            done = http.post("/v1/audio/transcriptions", files={"file": (CLIP.name, audio)},
                             data={"model": "whisper-1", "language": "en"}, timeout=600)
        transcription_s = time.perf_counter() - started
        ms = sorted(x * 1000 for x in busy)
        print(json.dumps({
            "healthz_ms_while_llm_and_speech_busy": {"n": len(ms), "median": round(statistics.median(ms), 1),
                                                      "p95": round(ms[int(0.95 * (len(ms) - 1))], 1),
                                                      "max": round(ms[-1], 1)},
            "probes_not_counted_slots_not_both_busy": idle_probes,
            "llm_and_voice_load_seconds": round(warm_s, 2),
            "transcription": {"status": done.status_code, "seconds": round(transcription_s, 2),
                              "text": done.json().get("text") if done.status_code == 200 else done.text},
            "load_statuses": {k: {str(s): v.count(s) for s in sorted(set(v))} for k, v in statuses.items()},
            "load_average": os.getloadavg(),
            "server_log": str(home / "server.log"),
        }, indent=2))
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()

"""The 50-client server benchmark with what the figures of a loaded machine hide: the server's own CPU seconds.

Starts one server (``variant`` of scripts/bench_server.py's VARIANTS, plus extra environment as JSON), sends the
concurrent clients of bench_server.py, and prints their figures with the server's CPU seconds during the run (from
/proc: comparable across machine loads, unlike audio seconds per second) and the batching counters from /metrics
(model calls, chunks, packed windows, chunks decoded alone after a failed split). With a second argument, py-spy
(``pip install py-spy``) records the server's stacks to that file (raw collapsed format).

Usage: OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/bench_server_cpu.py packed [py-spy.txt] ['{"HABLA_X": "1"}']
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_server as bench  # scripts/ is on sys.path when a script runs
import httpx

COUNTERS = ("habla_asr_batch_size_sum", "habla_asr_batch_size_count", "habla_asr_packed_windows_total",
            "habla_asr_packed_chunks_total", "habla_asr_pack_split_failures_total")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (CTranslate2's and onnxruntime's included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    variant = sys.argv[1]
    spy_out = sys.argv[2] if len(sys.argv) > 2 else ""
    extra = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    clips = bench.short_clips()
    with tempfile.TemporaryDirectory(prefix="habla-bench-cpu-") as home:
        proc, url = bench.start_server(Path(home), 50, {**bench.VARIANTS[variant], **extra})
        spy = None
        try:
            bench.sync_round_trip(url, clips[0]["path"])  # warm-up
            if spy_out:
                spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                                        str(proc.pid), "--format", "raw", "--rate", "50", "--nonblocking",
                                        "-o", spy_out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(2)
            load, before = os.getloadavg()[0], cpu_seconds(proc.pid)
            result = bench.concurrent_clients(url, clips, 50, 2)
            result.pop("error_samples")
            result["server_cpu_s"] = round(cpu_seconds(proc.pid) - before, 2)
            result["server_cpu_s_per_audio_s"] = round(result["server_cpu_s"] / result["audio_seconds"], 3)
            result["load_before"], result["load_after"] = round(load, 1), round(os.getloadavg()[0], 1)
            metrics = httpx.get(f"{url}/metrics").text.splitlines()
            result["batching"] = {line.split()[0]: float(line.split()[1]) for line in metrics
                                  if line.startswith(COUNTERS)}
            print(json.dumps({"variant": variant, "env": extra, **result}), flush=True)
        finally:
            if spy is not None:
                spy.send_signal(2)
                spy.wait(60)
            bench.stop_server(proc)


if __name__ == "__main__":
    main()

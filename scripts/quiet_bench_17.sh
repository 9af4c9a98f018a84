#!/usr/bin/env bash
# Issue 17's wall-clock figures, for a quiet 2-core machine (run alone; ~5 min there). Starts its own servers
# (scripts/bench_server.py's temporary HABLA_HOME, model base from the store); builds a 30-min speech file in a temp dir.
# Targets: (1) 50 SDK clients x 2 clips: >= 12 audio-s/s, p50 <= 8 s, 0 errors, WER unchanged (packed server);
# (2) one request alone: packed within 10 % of off; (3) with a 30-min job running, the packed server's p95 at most
# 2x its p95 without the job. SKIP_CPU=1 CLIENTS=5 JOB_MINUTES=1 REPEATS=2 make it a smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== (1) 50 clients, packed server, with its CPU seconds"
[ -n "${SKIP_CPU:-}" ] || $PY scripts/bench_server_cpu.py packed
echo "== load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== (2) one request alone, off and packed servers asked in turn"
$PY scripts/bench_server.py --alone --variants off,packed --repeats "${REPEATS:-15}"
echo "== load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== (3) packed server: clients without, then with, a ${JOB_MINUTES:-30}-min job (rule: with-job p95 <= 2x)"
$PY scripts/bench_server.py --compare --cycles 1 --variants packed --repeats 5 --clients "${CLIENTS:-50}" \
    --job-minutes "${JOB_MINUTES:-30}"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

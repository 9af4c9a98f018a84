#!/usr/bin/env bash
# Issue 16 (end of turn): the latency figures to take on a quiet 2-core machine, run alone (~3-4 min there; 6 min
# niced at load 8-14). Starts no server; the models must be in place (scripts/setup.sh). Prints the load around it.
#   Full talk pipeline (VAD, Whisper, end-of-turn, LLM, Piper/espeak), 12 complete turns a language streamed in real
#   time, one conversation a language: first reply audio from the user's last voiced sample, p50 / p95 (targets:
#   p50 <= 0.40 s, p95 <= 0.70 s), table row `complete_all`; below it, where the reply's time goes (its own clock
#   from the pause where it began: transcript, first token, first sentence, first audio) and the silence waited.
# With --held-out-2 it then also takes the premature-end rate on held-out-2 (turn detection alone, instant
# decoding: not a timing, so the load does not change it; ~6 min at load 8-14): paused turns (target <= 3 %, beside
# it the fixed 500 ms figure), and the silence waited after complete turns.
set -euo pipefail
cd "$(dirname "$0")/.."
SPEECH=${SPEECH:-../shared/testdata/speech}
export OMP_WAIT_POLICY=PASSIVE
mkdir -p bench-results
echo "load before: $(uptime)"
.venv/bin/habla bench voice --speech "$SPEECH" --language en,es --turns 12 --paused 0 \
    --json bench-results/quiet-voice-complete.json
echo "load after the latency run: $(uptime)"
if [[ "${1:-}" == "--held-out-2" ]]; then
    .venv/bin/habla bench voice --speech "$SPEECH" --language en,es --set held-out-2 --decisions-only \
        --json bench-results/quiet-held-out-2.json
    echo "load after held-out-2: $(uptime)"
fi

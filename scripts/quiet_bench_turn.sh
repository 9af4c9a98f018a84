#!/usr/bin/env bash
# Issue 16 (end of turn): the figures to take on a quiet 2-core machine, run alone (~4-5 min). Starts no server; the
# models must be in place (scripts/setup.sh). Prints the load before and after each part.
#   1. Full talk pipeline (VAD, Whisper, end-of-turn, LLM, Piper), complete turns streamed in real time: first reply
#      audio from the user's last voiced sample, p50 / p95 (targets: p50 <= 0.40 s, p95 <= 0.70 s), per language
#      and split, in the first table ("complete_all" row); the stages after the end decision in the JSON.
#   2. Turn detection alone (instant decoding) on held-out-2 (24 complete + 24 paused turns per language, held-out
#      clips only, a seed never used before): premature ends on paused turns (target <= 3 %; beside it the fixed
#      500 ms figure), silence waited on complete turns.
set -euo pipefail
cd "$(dirname "$0")/.."
SPEECH=${SPEECH:-../shared/testdata/speech}
export OMP_WAIT_POLICY=PASSIVE
mkdir -p bench-results
echo "load before part 1: $(uptime)"
.venv/bin/habla bench voice --speech "$SPEECH" --language en,es --turns 12 --paused 0 \
    --json bench-results/quiet-voice-complete.json
echo "load after part 1: $(uptime)"
.venv/bin/habla bench voice --speech "$SPEECH" --language en,es --set held-out-2 --decisions-only \
    --json bench-results/quiet-held-out-2.json
echo "load after part 2: $(uptime)"

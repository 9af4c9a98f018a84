#!/usr/bin/env bash
# Issue 13's wall-clock figures, for a quiet machine (nothing else running; prints the load with every figure).
#   scripts/asr_quiet_bench.sh speed en # speed-up over plain faster-whisper on the held-out-3 ordered file, two
#   scripts/asr_quiet_bench.sh speed es # interleaved rounds (targets >= 2.5x en, >= 2x es); each about 4 min on 2
#                                       # quiet cores (last round's quiet-ish times: en 31+75 s, es 53+68 s a round)
#   scripts/asr_quiet_bench.sh memory   # peak RSS of the 45-min English file (target <= 1210 MB); about 8 min
#                                       # (45 min of audio at the ~6x real time of the en file above)
# Builds the files it needs into bench-results/cache/variants (once) from ../shared/testdata/speech.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
uptime
case "${1:-speed}" in
  speed)
    .venv/bin/python - <<'PY'
from pathlib import Path
from habla.asr.bench import VARIANTS, build_variant, read_manifest
clips = read_manifest(Path("../shared/testdata/speech"))
for lang in ("en", "es"):  # both, so the files exist for either call
    build_variant(clips, VARIANTS["ordered"], lang, Path("bench-results/cache/variants"), 3.0, "held-out-3")
PY
    .venv/bin/python scripts/asr_interleaved.py "bench-results/cache/variants/ordered-${2:-en}-3min-held-out-3-v3.wav"
    ;;
  memory)
    /usr/bin/time -v .venv/bin/python scripts/asr_long_memory.py 2>&1 | grep -v "Warn\|warn" \
      | grep -E "WER|wer|Maximum resident|Elapsed|User time|System time|MB"
    ;;
  *) echo "usage: $0 speed en|es, or memory" >&2; exit 2 ;;
esac
uptime

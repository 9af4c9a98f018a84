"""WER and peak memory of habla alone on the held-out 45-minute English bench variant, in one process.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/asr_long_memory.py [WORK_DIR]   # default bench-results/cache
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path


def main() -> None:
    from habla.asr.bench import VARIANTS, build_variant, read_manifest
    from habla.asr.transcriber import Transcriber
    from habla.asr.wer import word_error_rate

    work = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results/cache")
    clips = read_manifest(Path("../shared/testdata/speech"))
    built = build_variant(clips, VARIANTS["45-min"], "en", work / "variants", 3.0, "held-out")
    if built is None:
        raise SystemExit("no English clips with text in the manifest")
    transcriber = Transcriber.from_settings()
    transcriber.warm("base")
    started = time.perf_counter()
    transcript = transcriber.transcribe(built.path, "base", transcriber.default_options(language="en"))
    seconds = time.perf_counter() - started
    wer = word_error_rate([built.text], [transcript.text], "en")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{built.path.name}: {built.seconds / 60:.1f} min, WER {100 * wer.wer:.2f} % (ins {wer.insertions}, "
          f"del {wer.deletions}, sub {wer.substitutions} of {wer.words}), peak RSS {peak:.0f} MB, {seconds:.0f} s")


if __name__ == "__main__":
    main()

"""habla alone on already-built bench variant files, in one process (model loaded once): WER per file, texts.

Used to choose the chunking and re-decoding defaults on tuning-seed files (docs/asr.md, "Chunking and skipped
speech"). Arguments after the output file set module constants before the run, e.g.
``habla.asr.pipeline.MIN_CHUNK_FILL=1.0`` (the greedy cut) or ``habla.asr.pipeline.KEPT_SILENCE_SECONDS=1e9``
(silences not shortened, as before docs/asr.md's "Compacted silences").

    FILES='bench-results/cache/variants/*-tuning*-v3.wav' OMP_WAIT_POLICY=PASSIVE \\
        .venv/bin/python scripts/asr_tune.py out.json [module.CONSTANT=value ...]
"""

from __future__ import annotations

import ast
import glob
import importlib
import json
import os
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    out = Path(sys.argv[1])
    for assign in sys.argv[2:]:
        target, value = assign.split("=", 1)
        module, attr = target.rsplit(".", 1)
        setattr(importlib.import_module(module), attr, ast.literal_eval(value))
    from habla.asr import pipeline
    from habla.asr.transcriber import Transcriber
    from habla.asr.wer import word_error_rate

    # group_spans binds its defaults at import: rebind them to the (possibly changed) constants
    pipeline.group_spans.__defaults__ = (pipeline.WINDOW_SECONDS, pipeline.MAX_INNER_GAP_SECONDS,
                                         pipeline.MIN_CHUNK_FILL)
    pipeline.compact.__defaults__ = (pipeline.KEPT_SILENCE_SECONDS,)  # 1e9: every silence kept (before compaction)
    files = sorted(glob.glob(os.environ.get("FILES", "bench-results/cache/variants/*-tuning-v3.wav")))
    transcriber = Transcriber.from_settings()
    transcriber.warm("base")
    results: dict[str, dict] = {}
    for file in files:
        name = Path(file).stem
        lang = "es" if "-es-" in name else "en"
        reference = Path(file).with_suffix(".txt").read_text(encoding="utf-8")
        started, cpu_started = time.perf_counter(), time.process_time()
        transcript = transcriber.transcribe(file, "base", transcriber.default_options(language=lang))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started  # CPU time: comparable across runs while the machine is loaded
        wer = word_error_rate([reference], [transcript.text], lang)
        results[name] = {"wer": round(100 * wer.wer, 2), "S": wer.substitutions, "D": wer.deletions,
                         "I": wer.insertions, "sec": round(seconds, 1), "cpu": round(cpu, 1), "text": transcript.text,
                         "segments": [(s.start, s.end, s.text) for s in transcript.segments]}
        out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"{name:40s} {100 * wer.wer:6.2f}  S{wer.substitutions} D{wer.deletions} I{wer.insertions}  "
              f"{seconds:.0f}s  cpu {cpu:.0f}s  load {os.getloadavg()[0]:.1f}  peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)


if __name__ == "__main__":
    main()

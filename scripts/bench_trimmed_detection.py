"""Language detection of short requests, three ways on the same model (``WhisperEngine.detect_languages``):

- ``full``: each clip alone on Whisper's 30-s window (``asr.trimmed_detection`` off);
- ``trimmed``: each clip alone on its own length + 3 s of silence, at least 8 s (the default);
- ``batched``: trimmed, ``--batch`` clips of both languages (shuffled, fixed seed) in one model call, the windows
  padded to the batch's longest, as the server's batch scheduler detects concurrent requests.

Prints per language the clips detected right each way, and wall and CPU seconds per clip (CPU counts every thread:
what the detection takes from other requests on a busy server). Packing cannot help detection (a packed window gives
one language for all its chunks, and packing needs the language first), so a cheaper encoder window and batching
are what is left for requests that do not name their language. No constant is tuned here.

Usage: .venv/bin/python scripts/bench_trimmed_detection.py [--max-seconds 10] [--batch 8]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench_results import save_report  # scripts/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"
WAYS = ("full", "trimmed", "batched")


def timed(call: Callable[[], list[str]]) -> tuple[list[str], float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    languages = call()
    return languages, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    from habla.asr.bench import read_manifest
    from habla.asr.transcriber import Transcriber
    from habla.audio.decode import decode

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=8, help="Clips in one call for the batched way.")
    args = parser.parse_args()
    clips = [c for c in read_manifest(SPEECH) if c.lang in ("en", "es") and c.text.strip()
             and c.seconds <= args.max_seconds]
    random.Random(0).shuffle(clips)
    audios: list[np.ndarray] = [decode(c.path) for c in clips]
    transcriber = Transcriber.from_settings()
    found: dict[str, list[str]] = {}
    seconds: dict[str, tuple[float, float]] = {}
    with transcriber.models.use(transcriber.asr.model) as engine:
        engine.detect_languages(audios[:1])  # warm-up

        def alone(trimmed: bool) -> list[str]:
            engine.trimmed_detection = trimmed  # type: ignore[attr-defined]
            return [engine.detect_languages([a])[0][0] for a in audios]

        def batched() -> list[str]:
            engine.trimmed_detection = True  # type: ignore[attr-defined]
            return [language for i in range(0, len(audios), args.batch)
                    for language, _ in engine.detect_languages(audios[i:i + args.batch])]

        report: dict[str, Any] = {"args": vars(args), "load_before": os.getloadavg()[0], "languages": {}}
        for way, call in (("full", lambda: alone(False)), ("trimmed", lambda: alone(True)), ("batched", batched)):
            found[way], wall, cpu = timed(call)
            seconds[way] = (wall / len(clips), cpu / len(clips))
        engine.trimmed_detection = transcriber.asr.trimmed_detection  # type: ignore[attr-defined]
    for language in ("en", "es"):
        mine = [k for k, c in enumerate(clips) if c.lang == language]
        row: dict[str, Any] = {"clips": len(mine)}
        for way in WAYS:
            row[f"right_{way}"] = sum(found[way][k] == language for k in mine)
        row["batched_differs_from_trimmed"] = [clips[k].id for k in mine if found["batched"][k] != found["trimmed"][k]]
        report["languages"][language] = row
        print(f"{language}: {len(mine)} clips ≤ {args.max_seconds} s right: "
              + ", ".join(f"{way} {row[f'right_{way}']}" for way in WAYS)
              + f"; batched ≠ trimmed alone: {row['batched_differs_from_trimmed']}", flush=True)
    report["seconds_per_clip"] = {way: {"wall": round(w, 3), "cpu": round(c, 3)} for way, (w, c) in seconds.items()}
    print("s a clip (wall / CPU): " + ", ".join(f"{way} {w:.3f} / {c:.3f}" for way, (w, c) in seconds.items()))
    report["load_after"] = os.getloadavg()[0]
    out = save_report(report, "trimmed-detection")
    print(f"load average before {report['load_before']:.1f}, after {report['load_after']:.1f}; written to {out}")


if __name__ == "__main__":
    main()

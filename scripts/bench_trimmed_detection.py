"""Can language detection of short requests run on a trimmed window? Detection on Whisper's 30-s window (what
habla does: ``WhisperEngine.detect_language``) against the same clip's features trimmed to its length + ``--margin``
seconds of silence (at least ``--min-seconds``), interleaved clip by clip on the same model.

Prints per language: clips detected right both ways, and seconds per clip. Packing cannot help detection (a packed
window gives one language for all its chunks, and packing needs the language first), so a cheaper encoder window is
what is left for requests that do not name their language. No constant is tuned here.

Usage: .venv/bin/python scripts/bench_trimmed_detection.py [--max-seconds 10] [--margin 3] [--min-seconds 8]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_results import save_report  # scripts/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"
FRAMES_PER_SECOND = 100


def trimmed_language(model: Any, audio: np.ndarray, margin: float, minimum: float) -> str:
    import ctranslate2

    features = model.feature_extractor(audio, padding=0)
    frames = min(3000, max(features.shape[-1] + int(margin * FRAMES_PER_SECOND), int(minimum * FRAMES_PER_SECOND)))
    padded = np.pad(features, ((0, 0), (0, max(0, frames - features.shape[-1]))))[:, :frames]
    storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(padded[None], np.float32))
    token, _ = model.model.detect_language(storage)[0][0]
    return str(token)[2:-2]  # "<|es|>" → "es"


def main() -> None:
    from habla.asr.bench import read_manifest
    from habla.asr.transcriber import Transcriber
    from habla.audio.decode import decode

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--margin", type=float, default=3.0)
    parser.add_argument("--min-seconds", type=float, default=8.0)
    args = parser.parse_args()
    transcriber = Transcriber.from_settings()
    report: dict[str, Any] = {"args": vars(args), "load_before": os.getloadavg()[0], "languages": {}}
    with transcriber.models.use(transcriber.asr.model) as engine:
        for language in ("en", "es"):
            clips = [c for c in read_manifest(SPEECH)
                     if c.lang == language and c.text.strip() and c.seconds <= args.max_seconds]
            right = {"full": 0, "trimmed": 0}
            seconds = {"full": 0.0, "trimmed": 0.0}
            wrong: list[dict[str, str]] = []
            for clip in clips:
                audio = decode(clip.path)
                started = time.perf_counter()
                full, _ = engine.detect_language(audio)
                seconds["full"] += time.perf_counter() - started
                started = time.perf_counter()
                trimmed = trimmed_language(engine.model, audio, args.margin, args.min_seconds)  # type: ignore[attr-defined]
                seconds["trimmed"] += time.perf_counter() - started
                right["full"] += full == language
                right["trimmed"] += trimmed == language
                if full != language or trimmed != language:
                    wrong.append({"id": clip.id, "full": full, "trimmed": trimmed})
            row = {"clips": len(clips), "right_full": right["full"], "right_trimmed": right["trimmed"],
                   "full_s_per_clip": round(seconds["full"] / len(clips), 3),
                   "trimmed_s_per_clip": round(seconds["trimmed"] / len(clips), 3), "wrong": wrong}
            report["languages"][language] = row
            print(f"{language}: {len(clips)} clips ≤ {args.max_seconds} s: right with 30-s windows {right['full']}, "
                  f"trimmed {right['trimmed']}; s/clip {row['full_s_per_clip']} → {row['trimmed_s_per_clip']}; "
                  f"wrong: {wrong}", flush=True)
    report["load_after"] = os.getloadavg()[0]
    out = save_report(report, "trimmed-detection")
    print(f"load average before {report['load_before']:.1f}, after {report['load_after']:.1f}; written to {out}")


if __name__ == "__main__":
    main()

"""Trimmed encoder windows for short chunks: full 30-s windows against windows trimmed to the batch's longest chunk
plus a margin (at least a minimum), on the same batches of clips ≤ ``--max-seconds``.

Full windows go through the engine as the pipeline calls it (forced to 30 s); each ``--windows`` rule
``margin:minimum`` (10-ms feature frames; 300:800 is habla/asr/whisper.py's) goes through the same CTranslate2
model (greedy for English, beam 5 otherwise, text only, Whisper's silence rule). WER per language on the
even-numbered clips (a tuning half), the odd-numbered ones (held out) and all, with CPU seconds a clip (CPU time
does not depend on the machine's load).

Usage: .venv/bin/python scripts/bench_trimmed_windows.py [--batch 8] [--max-seconds 8] [--languages en,es]
                                                         [--windows 300:800,600:1000,1000:1500]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from habla.asr.whisper import WhisperEngine, is_silent
from bench_results import save_report  # scripts/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"
HALVES = {"tuning": slice(0, None, 2), "held-out": slice(1, None, 2), "all": slice(None)}


def trimmed_decode(engine: WhisperEngine, audios: list[np.ndarray], language: str, beam: int, margin: int,
                   minimum: int) -> list[str]:
    results = engine.runtime.decode_windows(audios, language=language, task="transcribe", prompt=None, prompt_tokens=0,
                                            beam_size=beam, temperature=0.0, min_frames=minimum, margin_frames=margin)
    return ["" if is_silent(r.no_speech_prob, r.avg_logprob) else r.text.strip() for r in results]


def full_decode(engine: WhisperEngine, audios: list[np.ndarray], language: str, options: Any) -> list[str]:
    from habla.asr.batching import lay_out

    joined, _, spans = lay_out(audios)
    return [r.text.strip() for r in engine.decode_chunks(joined, spans, language, options, 0.0)]


def main() -> None:
    from habla.asr.bench import read_manifest
    from habla.asr.transcriber import Transcriber
    from habla.asr.wer import word_error_rate
    from habla.audio.decode import decode

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=8.0)
    parser.add_argument("--languages", default="en,es")
    parser.add_argument("--windows", default="300:800", help="margin:minimum rules, comma-separated (10-ms frames)")
    args = parser.parse_args()
    rules = {rule: tuple(int(x) for x in rule.split(":")) for rule in args.windows.split(",")}
    transcriber = Transcriber.from_settings()
    report: dict[str, Any] = {"args": vars(args), "load_before": os.getloadavg()[0], "languages": {}}
    with transcriber.models.use(transcriber.asr.model) as engine:
        engine.short_window_seconds = 0.0  # the full windows: 30 s whatever the setting
        for language in args.languages.split(","):
            clips = [c for c in read_manifest(SPEECH)
                     if c.lang == language and c.text.strip() and c.seconds <= args.max_seconds]
            options = transcriber.default_options(language=language)
            beam = options.beam_for(language)
            audios = [decode(c.path) for c in clips]
            batches = [audios[i:i + args.batch] for i in range(0, len(clips), args.batch)]
            texts: dict[str, list[str]] = {}
            cpu: dict[str, float] = {}
            for name in ["30 s", *rules]:
                started, texts[name] = time.process_time(), []
                for batch in batches:
                    texts[name] += (full_decode(engine, batch, language, options) if name == "30 s"
                                    else trimmed_decode(engine, batch, language, beam, *rules[name]))
                cpu[name] = (time.process_time() - started) / len(clips)
            refs = [c.text for c in clips]
            rows = {}
            for name, hyps in texts.items():
                wers = {half: round(100 * word_error_rate(refs[part], hyps[part], language).wer, 2)
                        for half, part in HALVES.items()}
                rows[name] = {**wers, "cpu_s_per_clip": round(cpu[name], 3)}
                print(f"{language} {name:10s} " + "  ".join(f"{half} {wer:5.2f}" for half, wer in wers.items())
                      + f"  CPU {cpu[name]:.3f} s a clip", flush=True)
            report["languages"][language] = {"clips": len(clips), "rules": rows}
    report["load_after"] = os.getloadavg()[0]
    out = save_report(report, "trimmed-windows")
    print(f"load average before {report['load_before']:.1f}, after {report['load_after']:.1f}; written to {out}")


if __name__ == "__main__":
    main()

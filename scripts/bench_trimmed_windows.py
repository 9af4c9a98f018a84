"""Would trimmed encoder windows help batched short requests? Full 30-s windows against windows trimmed to the
batch's longest chunk + 3 s (at least 8 s; the rule habla/voice/listener.py uses for talk), on the same batches.

Each batch of ``--batch`` short clips (≤ ``--max-seconds``) is decoded both ways, interleaved, so both see the same
machine load: full windows through the engine (what the batching scheduler calls), trimmed windows through the
same CTranslate2 model (greedy for English, beam 5 otherwise, text only, Whisper's silence rule). Prints and writes
seconds per clip and corpus WER per language; no constant here was tuned on these clips.

Usage: .venv/bin/python scripts/bench_trimmed_windows.py [--batch 8] [--max-seconds 8] [--languages en,es]
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
SILENCE_AFTER, MIN_FRAMES = 300, 800  # the defaults in habla/asr/whisper.py, measured by this script


def trimmed_decode(engine: WhisperEngine, audios: list[np.ndarray], language: str, beam: int) -> list[str]:
    results = engine.runtime.decode_windows(audios, language=language, task="transcribe", prompt=None, prompt_tokens=0,
                                            beam_size=beam, temperature=0.0, min_frames=MIN_FRAMES,
                                            margin_frames=SILENCE_AFTER)
    return ["" if is_silent(r.no_speech_prob, r.avg_logprob) else r.text.strip() for r in results]


def main() -> None:
    from habla.asr.bench import read_manifest
    from habla.asr.transcriber import Transcriber
    from habla.asr.wer import word_error_rate
    from habla.audio.decode import SAMPLE_RATE, decode

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=8.0)
    parser.add_argument("--languages", default="en,es")
    args = parser.parse_args()
    transcriber = Transcriber.from_settings()
    report: dict[str, Any] = {"args": vars(args), "load_before": os.getloadavg()[0], "languages": {}}
    with transcriber.models.use(transcriber.asr.model) as engine:
        for language in args.languages.split(","):
            clips = [c for c in read_manifest(SPEECH)
                     if c.lang == language and c.text.strip() and c.seconds <= args.max_seconds]
            options = transcriber.default_options(language=language)
            beam = options.beam_for(language)
            refs, full, trimmed, t_full, t_trim = [], [], [], 0.0, 0.0
            for i in range(0, len(clips), args.batch):
                group = clips[i:i + args.batch]
                audios = [decode(c.path) for c in group]
                positions = np.cumsum([0] + [len(a) for a in audios])
                spans = [((p + 0.25) / SAMPLE_RATE, (p + len(a) + 0.25) / SAMPLE_RATE)
                         for p, a in zip(positions, audios)]
                started = time.perf_counter()
                full += [r.text.strip() for r in engine.decode_chunks(np.concatenate(audios), spans, language,
                                                                      options, 0.0)]
                t_full += time.perf_counter() - started
                started = time.perf_counter()
                trimmed += trimmed_decode(engine, audios, language, beam)
                t_trim += time.perf_counter() - started
                refs += [c.text for c in group]
            row = {"clips": len(clips), "audio_seconds": round(sum(c.seconds for c in clips), 1),
                   "full_s_per_clip": round(t_full / len(clips), 3), "trimmed_s_per_clip": round(t_trim / len(clips), 3),
                   "full_wer": round(word_error_rate(refs, full, language).wer, 4),
                   "trimmed_wer": round(word_error_rate(refs, trimmed, language).wer, 4),
                   "differing_texts": [(r, f, t) for r, f, t in zip(refs, full, trimmed) if f != t][:10]}
            report["languages"][language] = row
            print(f"{language}: {row['clips']} clips ≤ {args.max_seconds} s, batches of {args.batch}: full windows "
                  f"{row['full_s_per_clip']} s/clip WER {row['full_wer']:.1%}; trimmed {row['trimmed_s_per_clip']} "
                  f"s/clip WER {row['trimmed_wer']:.1%}", flush=True)
    report["load_after"] = os.getloadavg()[0]
    out = save_report(report, "trimmed-windows")
    print(f"load average before {report['load_before']:.1f}, after {report['load_after']:.1f}; written to {out}")


if __name__ == "__main__":
    main()

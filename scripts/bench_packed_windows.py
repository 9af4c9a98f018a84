"""Window packing against one window per chunk, through the batching scheduler on the real model.

Each group of ``--group`` short clips (≤ ``--max-seconds``; each clip one request, the whole clip one chunk, as a
short upload is) is decoded twice, interleaved so both see the same machine load: by a scheduler with
``pack_windows`` off (one 30-s window per clip, batches of ``--batch``), and by one with it on (clips packed into
windows with ``pack_gap_seconds`` of silence, ``--batch`` windows per call). Prints per language the corpus WER both
ways, the clips whose text differs, how many packed clips had to be decoded alone, and seconds per clip.
No setting is tuned here: the gap and the longest packed chunk are the defaults in habla/config.py.

Usage: .venv/bin/python scripts/bench_packed_windows.py [--group 16] [--batch 8] [--max-seconds 10]
       [--languages en,es]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import Any
from bench_results import save_report  # scripts/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"


class AloneCounter(logging.Handler):
    """Counts the chunks the scheduler had to decode alone (its debug line says how many)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.alone = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "could not be split" in record.getMessage():
            self.alone += int(record.args[0])  # type: ignore[index]


def main() -> None:
    from habla.asr.batching import BatchScheduler
    from habla.asr.bench import read_manifest
    from habla.asr.transcriber import Transcriber
    from habla.asr.wer import word_error_rate
    from habla.audio.decode import SAMPLE_RATE, decode
    from habla.config import BatchingSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", type=int, default=16, help="Concurrent requests per round.")
    parser.add_argument("--batch", type=int, default=8, help="max_batch: windows per model call.")
    parser.add_argument("--max-seconds", type=float, default=10.0)
    parser.add_argument("--languages", default="en,es")
    args = parser.parse_args()
    counter = AloneCounter()
    batching_log = logging.getLogger("habla.asr.batching")
    batching_log.addHandler(counter)
    batching_log.setLevel(logging.DEBUG)
    transcriber = Transcriber.from_settings()
    report: dict[str, Any] = {"args": vars(args), "load_before": os.getloadavg()[0], "languages": {}}
    with transcriber.models.use(transcriber.asr.model) as engine:
        unpacked = BatchScheduler(engine, BatchingSettings(max_batch=args.batch))
        packed = BatchScheduler(engine, BatchingSettings(max_batch=args.batch, pack_windows=True))
        for language in args.languages.split(","):
            clips = [c for c in read_manifest(SPEECH)
                     if c.lang == language and c.text.strip() and c.seconds <= args.max_seconds]
            options = transcriber.default_options(language=language)
            texts: dict[str, list[str]] = {"unpacked": [], "packed": []}
            seconds = {"unpacked": 0.0, "packed": 0.0}
            alone_before = counter.alone
            for i in range(0, len(clips), args.group):
                audios = [decode(c.path) for c in clips[i:i + args.group]]
                for name, scheduler in (("unpacked", unpacked), ("packed", packed)):
                    started = time.perf_counter()
                    requests = [scheduler.submit(a, [(0.0, len(a) / SAMPLE_RATE)], language, options, 0.0)
                                for a in audios]
                    while scheduler.step():
                        pass
                    texts[name] += ["".join(r.text for r in scheduler.wait(q)).strip() for q in requests]
                    seconds[name] += time.perf_counter() - started
            refs = [c.text for c in clips]
            row = {"clips": len(clips), "audio_seconds": round(sum(c.seconds for c in clips), 1),
                   "unpacked_wer": round(word_error_rate(refs, texts["unpacked"], language).wer, 4),
                   "packed_wer": round(word_error_rate(refs, texts["packed"], language).wer, 4),
                   "decoded_alone": counter.alone - alone_before,
                   "unpacked_s_per_clip": round(seconds["unpacked"] / len(clips), 3),
                   "packed_s_per_clip": round(seconds["packed"] / len(clips), 3),
                   "differing": [{"id": c.id, "reference": c.text, "unpacked": u, "packed": p}
                                 for c, u, p in zip(clips, texts["unpacked"], texts["packed"], strict=True)
                                 if u != p]}
            report["languages"][language] = row
            print(f"{language}: {row['clips']} clips ≤ {args.max_seconds} s ({row['audio_seconds']} s), groups of "
                  f"{args.group}: WER unpacked {row['unpacked_wer']:.2%}, packed {row['packed_wer']:.2%}; "
                  f"{len(row['differing'])} texts differ; {row['decoded_alone']} packed clips decoded alone; "
                  f"s/clip unpacked {row['unpacked_s_per_clip']}, packed {row['packed_s_per_clip']}", flush=True)
            for d in row["differing"]:
                print(f"  {d['id']}: ref {d['reference']!r}\n    unpacked {d['unpacked']!r}\n    packed   "
                      f"{d['packed']!r}")
    report["load_after"] = os.getloadavg()[0]
    out = save_report(report, "packed-windows")
    print(f"load average before {report['load_before']:.1f}, after {report['load_after']:.1f}; written to {out}")


if __name__ == "__main__":
    main()

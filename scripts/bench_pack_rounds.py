"""How often packed chunks fail to split, and what packing them again saves: in-process, through the scheduler.

The server benchmark's 100 requests (bench_server.py's short English clips, cycled), in a shuffled order per seed,
all submitted at once to a packing ``BatchScheduler`` on the real model and decoded batch by batch; each
``--rounds`` value (``batching.pack_rounds``) runs on the same orders, interleaved. Prints per run the Whisper
windows encoded, the chunks decoded alone, the process CPU seconds (not inflated by the machine's load the way
wall time is), CPU seconds per audio second and the corpus WER.

Usage: OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/bench_pack_rounds.py [--seeds 1,2] [--rounds 2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

import bench_server as bench  # scripts/ is on sys.path when a script runs


class Counter:
    def __init__(self) -> None:
        self.windows = self.alone = 0

    def on_batch(self, size: int, waits: object) -> None:
        pass

    def on_packing(self, windows: int, chunks: int, alone: int) -> None:
        self.windows += windows
        self.alone += alone


def main() -> None:
    from habla.asr.batching import BatchScheduler
    from habla.asr.transcriber import Transcriber
    from habla.asr.wer import word_error_rate
    from habla.audio.decode import SAMPLE_RATE, decode
    from habla.config import BatchingSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--rounds", default="2,4")
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    clips = bench.short_clips()
    clips = [clips[i % len(clips)] for i in range(args.requests)]
    audios = [decode(c["path"]) for c in clips]
    seconds = sum(len(a) for a in audios) / SAMPLE_RATE
    transcriber = Transcriber.from_settings()
    options = transcriber.default_options(language="en")
    with transcriber.models.use(transcriber.asr.model) as engine:
        for seed in map(int, args.seeds.split(",")):
            order = list(range(len(clips)))
            random.Random(seed).shuffle(order)
            for rounds in map(int, args.rounds.split(",")):
                counter = Counter()
                scheduler = BatchScheduler(engine, BatchingSettings(enabled=True, pack_rounds=rounds), counter)
                cpu = time.process_time()
                requests = [scheduler.submit(audios[k], [(0.0, len(audios[k]) / SAMPLE_RATE)], "en", options, 0.0)
                            for k in order]
                while scheduler.step():
                    pass
                cpu = time.process_time() - cpu
                texts = ["".join(r.text for r in scheduler.wait(q)).strip() for q in requests]
                wer = word_error_rate([clips[k]["text"] for k in order], texts)
                print(json.dumps({"seed": seed, "pack_rounds": rounds, "windows": counter.windows,
                                  "alone": counter.alone, "cpu_s": round(cpu, 1),
                                  "cpu_s_per_audio_s": round(cpu / seconds, 3), "wer": round(wer.wer, 4),
                                  "load": round(os.getloadavg()[0], 1)}), flush=True)


if __name__ == "__main__":
    main()

"""Why packed chunks fail to split: the server benchmark's 100 requests packed in shuffled orders (one per seed),
decoded once with word timings; each failed chunk printed (empty, or beside a crossed gap) with its window's text.

Usage: [GAP=1.0] OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/diagnose_pack_failures.py 1 2 3
"""
import os
import random
import sys
import time

import numpy as np
from habla.asr.transcriber import Transcriber
from habla.asr.packing import plan_packs, pack_audio, split_words
from habla.asr.batching import WINDOW_SECONDS
from habla.audio.decode import SAMPLE_RATE, decode
from dataclasses import replace
import bench_server as bench

clips = bench.short_clips()
clips = [clips[i % len(clips)] for i in range(100)]
audios = [decode(c["path"]) for c in clips]
t = Transcriber.from_settings()
opts = t.default_options(language="en").with_(word_timestamps=True)
fails = {"crossed": 0, "empty": 0, "silentwin": 0}
total = 0
with t.models.use(t.asr.model) as engine:
    for seed in map(int, sys.argv[1:]):
        order = list(range(len(clips)))
        random.Random(seed).shuffle(order)
        gap = float(os.environ.get("GAP", "1.0"))
        packs = plan_packs([len(audios[k]) / SAMPLE_RATE for k in order], WINDOW_SECONDS, gap, 10.0)
        wins = [pack_audio([audios[k] for k in order], p) for p in packs]
        starts = np.cumsum([0] + [len(w) for w in wins])[:-1]
        spans = [((s + .25) / SAMPLE_RATE, (s + len(w) + .25) / SAMPLE_RATE) for s, w in zip(starts, wins, strict=True)]
        c0 = time.process_time()
        res = list(engine.decode_chunks(np.concatenate(wins), spans, "en", opts, 0.0))
        print(f"seed {seed}: {len(packs)} windows, cpu {time.process_time()-c0:.1f}s", flush=True)
        for p, s, r in zip(packs, starts, res, strict=True):
            ws = s / SAMPLE_RATE
            rel = [replace(w, start=w.start - ws, end=w.end - ws) for w in r.words]
            parts = split_words(rel, p.regions)
            bounds = [(p.regions[i][1], p.regions[i + 1][0]) for i in range(len(p.regions) - 1)]
            crossed = {i for i, (e, st) in enumerate(bounds) if any(w.start < e and w.end > st for w in rel)}
            total += len(p.members)
            if not r.words:
                fails["silentwin"] += len(p.members)
                print("  SILENT WINDOW", r.no_speech_prob, r.avg_logprob, repr(r.text[:200]))
                continue
            for i, (m, reg, part) in enumerate(zip(p.members, p.regions, parts, strict=True)):
                if part is None:
                    fails["crossed"] += 1
                    g = i if i in crossed else i - 1
                    e, st = bounds[g]
                    ws_ = [f"{w.word}[{w.start:.2f}-{w.end:.2f}]" for w in rel if w.end > e - 1.5 and w.start < st + 1.5]
                    print(f"  CROSSED member {i}/{len(p.members)} gap {e:.2f}-{st:.2f}: {' '.join(ws_)}")
                elif not part:
                    fails["empty"] += 1
                    near = [f"{w.word}[{w.start:.2f}-{w.end:.2f}]" for w in rel if w.end > reg[0] - 3 and w.start < reg[1] + 3]
                    print(f"  EMPTY member {i}/{len(p.members)} region {reg[0]:.2f}-{reg[1]:.2f} ref={clips[order[m]]['text']!r}")
                    print(f"     window text: {r.text!r}")
                    print(f"     near words: {' '.join(near)}")
print(fails, "of", total)

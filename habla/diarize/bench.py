"""The diarization benchmark: DER (0.25 s collar), speaker-count accuracy, speed and cold start on built
conversations (habla.diarize.corpus), tuning and held-out sets reported apart."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from habla.audio.decode import SAMPLE_RATE
from habla.audio.vad import speech_spans
from habla.diarize.corpus import Conversation, Material, conversation_set, tts_synthesizer
from habla.diarize.der import DERResult, diarization_error
from habla.diarize.service import Diarizer

COLLAR = 0.25

_COLD_START = """
import time, numpy as np
t, c = time.perf_counter(), time.process_time()
from habla.diarize.service import Diarizer
Diarizer.from_settings().diarize(np.zeros(16000, dtype=np.float32), speech=[(0.0, 1.0)])
print(time.perf_counter() - t, time.process_time() - c)
"""


def cold_start_seconds() -> tuple[float, float]:
    """A fresh process: import, locate and verify the model, load it, embed one second (interpreter start apart).
    Wall and CPU seconds."""
    out = subprocess.run([sys.executable, "-c", _COLD_START], capture_output=True, text=True, check=True)
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def score_set(diarizer: Diarizer, conversations: list[Conversation],
              on_step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    total = DERResult(0, 0, 0, 0)
    rows: list[dict[str, Any]] = []
    vad_seconds = embed_seconds = cpu_seconds = 0.0
    for conv in conversations:
        t0 = time.perf_counter()
        speech = speech_spans(conv.audio)
        t1 = time.perf_counter()
        c1 = time.process_time()
        result = diarizer.diarize(conv.audio, speech=speech)
        cpu_seconds += time.process_time() - c1
        t2 = time.perf_counter()
        vad_seconds += t1 - t0
        embed_seconds += t2 - t1
        score = diarization_error(conv.turns, result.turns, COLLAR)
        total = total + score
        rows.append({"name": conv.name, "speakers": conv.speakers, "found": len(result.speakers),
                     "der": round(score.der, 4), "seconds": round(len(conv.audio) / SAMPLE_RATE, 1)})
        on_step(f"{conv.name}: DER {score.der:.1%}, {len(result.speakers)} speakers for {conv.speakers}")
    audio_seconds = sum(r["seconds"] for r in rows)
    return {
        "conversations": len(rows),
        "audio_seconds": round(audio_seconds, 1),
        "der": round(total.der, 4),
        "missed": round(total.missed / total.reference, 4),
        "false_alarm": round(total.false_alarm / total.reference, 4),
        "confusion": round(total.confusion / total.reference, 4),
        "worst_der": max(float(r["der"]) for r in rows),
        "count_exact": round(sum(bool(r["speakers"] == r["found"]) for r in rows) / len(rows), 4),
        "rtf_diarize": round(embed_seconds / audio_seconds, 4),  # given the VAD regions, as with --diarize
        "rtf_with_vad": round((embed_seconds + vad_seconds) / audio_seconds, 4),
        # CPU seconds of this process per audio second: on a shared machine wall time says more about the others.
        "cpu_rtf_diarize": round(cpu_seconds / audio_seconds, 4),
        "rows": rows,
    }


def benchmark(testdata: Path, cache: Path, splits: tuple[str, ...] = ("tune", "test"),
              on_step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    material = Material(testdata, tts_synthesizer(cache))
    wall, cpu = cold_start_seconds()
    report: dict[str, Any] = {"collar": COLLAR, "cold_start_seconds": round(wall, 2),
                              "cold_start_cpu_seconds": round(cpu, 2)}
    on_step(f"cold start {wall:.2f} s ({cpu:.2f} s CPU)")
    diarizer = Diarizer.from_settings()
    diarizer.warm()
    for split in splits:
        report[split] = score_set(diarizer, conversation_set(material, split), on_step)
    return report

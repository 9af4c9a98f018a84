"""Diarization error rate, as NIST md-eval computes it: (missed + false alarm + speaker confusion) / reference
speech, with an optimal one-to-one speaker mapping and a no-score collar around every reference boundary.

``collar`` is per side (md-eval's ``-c 0.25`` convention: ±0.25 s); pyannote.metrics' ``collar=0.5`` is the same.
Scored on a 10 ms grid, which puts results within 0.01 s per boundary of an exact computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from habla.diarize.protocol import SpeakerTurn

STEP = 0.01


@dataclass(frozen=True)
class DERResult:
    reference: float  # seconds of scored reference speech (counted once per speaker when they overlap)
    missed: float
    false_alarm: float
    confusion: float

    @property
    def der(self) -> float:
        return (self.missed + self.false_alarm + self.confusion) / self.reference if self.reference else 0.0

    def __add__(self, other: DERResult) -> DERResult:
        return DERResult(self.reference + other.reference, self.missed + other.missed,
                         self.false_alarm + other.false_alarm, self.confusion + other.confusion)


def _activity(turns: Sequence[SpeakerTurn], frames: int) -> tuple[list[str], np.ndarray]:
    speakers = sorted({t.speaker for t in turns})
    grid = np.zeros((len(speakers), frames), dtype=bool)
    for t in turns:
        grid[speakers.index(t.speaker), round(t.start / STEP):round(t.end / STEP)] = True
    return speakers, grid


def diarization_error(reference: Sequence[SpeakerTurn], hypothesis: Sequence[SpeakerTurn],
                      collar: float = 0.25) -> DERResult:
    from scipy.optimize import linear_sum_assignment

    end = max([t.end for t in [*reference, *hypothesis]], default=0.0)
    frames = round(end / STEP) + 1
    _, ref = _activity(reference, frames)
    _, hyp = _activity(hypothesis, frames)
    scored = np.ones(frames, dtype=bool)
    if collar > 0:
        c = round(collar / STEP)
        for t in reference:
            for edge in (round(t.start / STEP), round(t.end / STEP)):
                scored[max(0, edge - c):edge + c] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    correct = 0
    if len(ref) and len(hyp):
        overlap = ref.astype(np.int64) @ hyp.T.astype(np.int64)
        rows, cols = linear_sum_assignment(-overlap)
        matched = np.zeros_like(n_ref)
        for r, h in zip(rows, cols, strict=False):
            matched += ref[r] & hyp[h]
        correct = int(matched.sum())
    missed = int(np.maximum(n_ref - n_hyp, 0).sum())
    false_alarm = int(np.maximum(n_hyp - n_ref, 0).sum())
    confusion = int(np.minimum(n_ref, n_hyp).sum()) - correct
    return DERResult(float(n_ref.sum()) * STEP, missed * STEP, false_alarm * STEP, confusion * STEP)

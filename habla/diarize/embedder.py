"""CAM++ speaker embeddings on CPU (torch), from the catalog's verified weights."""

from __future__ import annotations

import threading
from typing import Any
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from habla.errors import ModelNotFound

# CAM++ pools statistics over time; a piece shorter than 0.5 s (a short VAD region) is repeated up to 0.5 s so the
# network's strided convolutions and its 100-frame segment pooling see enough frames. Not tuned.
MIN_PIECE_SAMPLES = 8000


def _torch() -> Any:  # the torch module (imported on first use: habla[diarize] is optional)
    try:
        import torch
    except ImportError as exc:
        raise ModelNotFound("diarization needs PyTorch", hint="pip install 'habla[diarize]'") from exc
    return torch


class CamPlusPlusEmbedder:
    """Thread-safe (one forward pass at a time). Batches pieces of similar length together."""

    dimension = 192

    def __init__(self, weights: Path, name: str = "campplus-zh-en", batch_size: int = 32, threads: int = 0) -> None:
        torch = _torch()
        from habla.diarize.campplus import CAMPPlus
        from habla.diarize.fbank import Fbank

        if threads:
            torch.set_num_threads(threads)
        self.name = name
        self.batch_size = batch_size
        self._fbank = Fbank()
        self._model = CAMPPlus(embedding_size=self.dimension)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        self._model.load_state_dict(state)
        self._model.eval()
        self._lock = threading.Lock()

    def embed(self, pieces: Sequence[np.ndarray]) -> np.ndarray:
        torch = _torch()
        if not pieces:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        out = np.zeros((len(pieces), self.dimension), dtype=np.float32)
        with self._lock, torch.inference_mode():
            for first in range(0, len(order), self.batch_size):
                batch = order[first:first + self.batch_size]
                feats = [self._fbank(torch.from_numpy(_long_enough(pieces[i]))) for i in batch]
                frames = min(f.shape[0] for f in feats)  # similar lengths (sorted): trim to the shortest
                emb = self._model(torch.stack([f[:frames] for f in feats]))
                out[batch] = torch.nn.functional.normalize(emb, dim=1).numpy()
        return out


def _long_enough(piece: np.ndarray) -> np.ndarray:
    piece = np.ascontiguousarray(piece, dtype=np.float32)
    if len(piece) >= MIN_PIECE_SAMPLES:
        return piece
    if len(piece) == 0:
        return np.zeros(MIN_PIECE_SAMPLES, dtype=np.float32)
    return np.tile(piece, MIN_PIECE_SAMPLES // len(piece) + 1)[:MIN_PIECE_SAMPLES]

"""CAM++ speaker embeddings on CPU, from the catalog's verified weights: ONNX Runtime by default (a graph exported
once from the torch weights, ``onnx_export``), or torch."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from habla.errors import ModelNotFound

# CAM++ pools statistics over time; a piece shorter than 0.5 s (a short VAD region) is repeated up to 0.5 s so the
# network's strided convolutions and its 100-frame segment pooling see enough frames. Not tuned.
MIN_PIECE_SAMPLES = 8000

Network = Callable[[np.ndarray], np.ndarray]  # (batch, frames, 80) fbank → (batch, 192) raw embeddings


def _torch() -> Any:  # the torch module (imported on first use: habla[diarize] is optional)
    try:
        import torch
    except ImportError as exc:
        raise ModelNotFound("diarization needs PyTorch", hint="pip install 'habla[diarize]'") from exc
    return torch


def torch_network(weights: Path, threads: int = 0) -> Network:
    torch = _torch()
    from habla.diarize.campplus import CAMPPlus

    if threads:
        torch.set_num_threads(threads)
    model = CAMPPlus(embedding_size=CamPlusPlusEmbedder.dimension)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()

    def run(feats: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(feats)).numpy()

    return run


def onnx_network(graph: Path, threads: int = 0) -> Network:
    from habla.diarize.onnx_export import session

    sess = session(graph, threads)

    def run(feats: np.ndarray) -> np.ndarray:
        return np.asarray(sess.run(None, {"feats": feats})[0])

    return run


class CamPlusPlusEmbedder:
    """Thread-safe (one forward pass at a time). Batches pieces of similar length together."""

    dimension = 192

    def __init__(self, network: Network, name: str = "campplus-zh-en", batch_size: int = 32,
                 runtime: str = "torch") -> None:
        from habla.diarize.fbank import Fbank

        self.name, self.batch_size, self.runtime = name, batch_size, runtime
        self._network = network
        self._fbank = Fbank()
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
                emb = self._network(torch.stack([f[:frames] for f in feats]).numpy())
                out[batch] = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return out


def _long_enough(piece: np.ndarray) -> np.ndarray:
    piece = np.ascontiguousarray(piece, dtype=np.float32)
    if len(piece) >= MIN_PIECE_SAMPLES:
        return piece
    if len(piece) == 0:
        return np.zeros(MIN_PIECE_SAMPLES, dtype=np.float32)
    return np.tile(piece, MIN_PIECE_SAMPLES // len(piece) + 1)[:MIN_PIECE_SAMPLES]

"""CAM++ as an ONNX Runtime graph, exported once from the verified torch weights and cached.

Why: on the 555 windows of a 9.6-min 4-speaker conversation, one thread, the same fbank features, ONNX Runtime
(conv+batch-norm fusion, fewer per-op dispatches) took 16.6 / 17.1 s of CPU against torch's 27.9 / 26.3 s (two
interleaved rounds, load 19-22), embeddings equal to cosine 0.9999999. The export (legacy TorchScript exporter,
needs the ``onnx`` package) costs about 5 s of CPU, so it runs once and the graph is cached under the models
cache, named after the torch file's sha256: new weights get a new graph, never a stale one.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from habla.errors import ModelNotFound

log = logging.getLogger(__name__)

OPSET = 17
FEAT_DIM = 80
# The exported graph must give the torch network's embeddings: checked on random features at export time.
MIN_EXPORT_COSINE = 0.9999


def onnx_path(cache_dir: Path, weights_sha256: str) -> Path:
    # A dot folder: never mistaken for a model folder named in the cache.
    return cache_dir / ".derived" / f"campplus-{weights_sha256[:16]}-opset{OPSET}.onnx"


def cached_onnx(weights: Path, weights_sha256: str, cache_dir: Path) -> Path:
    """The ONNX graph of the CAM++ ``weights`` (export it if this sha256 has none yet)."""
    target = onnx_path(cache_dir, weights_sha256)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # A temp file in the same folder, renamed into place: two processes exporting at once both write whole files.
    fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        export(weights, Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the models cache is readable by all
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("exported CAM++ to %s", target)
    return target


def export(weights: Path, out: Path) -> None:
    """Export the torch network of ``weights`` to ``out`` with dynamic batch and frame axes, and check it."""
    try:
        import onnx  # noqa: F401  (the exporter serialises through it)
        import torch
    except ImportError as exc:
        raise ModelNotFound("exporting the speaker-embedding model to ONNX needs the onnx package",
                            hint="pip install 'habla[diarize]'") from exc
    from habla.diarize.campplus import CAMPPlus

    model = CAMPPlus(embedding_size=192)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    example = torch.randn(2, 148, FEAT_DIM)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
        torch.onnx.export(model, (example,), str(out), input_names=["feats"], output_names=["embedding"],
                          dynamic_axes={"feats": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
        check = torch.randn(3, 251, FEAT_DIM)  # another batch and length than the example
        expected = model(check).numpy()
    got = session(out, threads=1).run(None, {"feats": check.numpy()})[0]
    cosine = np.sum(_unit(expected) * _unit(got), axis=1)
    if cosine.min() < MIN_EXPORT_COSINE:
        raise ModelNotFound(f"the ONNX export of {weights.name} differs from torch (cosine {cosine.min():.6f})")


def session(path: Path, threads: int = 1) -> Any:  # onnxruntime.InferenceSession (imported on first use)
    """An ONNX Runtime CPU session; ``threads`` 0 = ONNX Runtime's default (one per core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No spin-waiting between ops: on a busy machine spinning threads cost CPU the others need (as torch's did).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)

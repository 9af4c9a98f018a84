"""The ONNX graph cache of the speaker-embedding model: named after the weights' sha256, exported once, never left
half-written, and diarization falls back to torch when it cannot be made."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from habla.diarize import onnx_export
from habla.diarize.onnx_export import cached_onnx, onnx_path
from habla.errors import ModelNotFound

SHA_A = "a" * 64
SHA_B = "b" * 64


def test_graphs_of_different_weights_never_share_a_file(tmp_path: Path) -> None:
    assert onnx_path(tmp_path, SHA_A) != onnx_path(tmp_path, SHA_B)
    assert onnx_path(tmp_path, SHA_A).parent.name.startswith(".")  # not a model folder of the cache


def test_the_graph_is_exported_once_then_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def fake_export(weights: Path, out: Path) -> None:
        calls.append(out)
        out.write_bytes(b"graph")

    monkeypatch.setattr(onnx_export, "export", fake_export)
    first = cached_onnx(tmp_path / "w.pt", SHA_A, tmp_path)
    second = cached_onnx(tmp_path / "w.pt", SHA_A, tmp_path)
    assert first == second == onnx_path(tmp_path, SHA_A)
    assert first.read_bytes() == b"graph"
    assert len(calls) == 1 and calls[0] != first  # written elsewhere, then renamed into place
    assert first.stat().st_mode & 0o044 == 0o044  # readable by the cache's other users


def test_a_failed_export_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_export(weights: Path, out: Path) -> None:
        out.write_bytes(b"half a gra")
        raise ModelNotFound("no onnx")

    monkeypatch.setattr(onnx_export, "export", broken_export)
    with pytest.raises(ModelNotFound):
        cached_onnx(tmp_path / "w.pt", SHA_A, tmp_path)
    assert list(onnx_path(tmp_path, SHA_A).parent.iterdir()) == []


def test_diarization_falls_back_to_torch_when_no_graph_can_be_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("torch")
    from habla.config import DiarizeSettings, ModelSettings
    from habla.diarize import service
    from habla.models.store import ModelLocation, ModelStore

    (tmp_path / "w.pt").write_bytes(b"weights")
    store = ModelStore(ModelSettings(cache_dir=tmp_path))
    monkeypatch.setattr(store, "locate", lambda name: ModelLocation(name, tmp_path, "folder"))

    def no_graph(weights: Path, sha: str, cache: Path) -> Path:
        raise ModelNotFound("exporting needs the onnx package")

    monkeypatch.setattr(service, "cached_onnx", no_graph)
    monkeypatch.setattr(service, "torch_network", lambda weights, threads: lambda feats: np.ones((len(feats), 192)))
    diarizer = service.Diarizer(DiarizeSettings(), store)
    with caplog.at_level(logging.WARNING), diarizer.models.use("campplus-zh-en") as embedder:
        assert embedder.runtime == "torch"
        assert embedder.embed([np.zeros(16000, np.float32)]).shape == (1, 192)
    assert "onnx package" in caplog.text

"""Official checkpoints: a wrong hash is refused; a checkpoint written in OpenAI's format (random weights, tiny
dims) converts to Hugging Face and CTranslate2, registers, and loads in faster-whisper; CT2 weights read back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from habla.config import ModelSettings  # noqa: E402
from habla.errors import InvalidOption, ModelCorrupt  # noqa: E402
from habla.models import catalog  # noqa: E402
from habla.models.catalog import OfficialCheckpoint  # noqa: E402
from habla.models.store import ModelStore, sha256_file  # noqa: E402

DIMS = {"n_mels": 80, "n_vocab": 51865, "n_audio_ctx": 1500, "n_audio_state": 64, "n_audio_head": 2,
        "n_audio_layer": 2, "n_text_ctx": 448, "n_text_state": 64, "n_text_head": 2, "n_text_layer": 2}


def official_state(dims: dict[str, int], seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights named and shaped as in openai/whisper's model.py (written out here, not derived from habla)."""
    gen = torch.Generator().manual_seed(seed)
    d, mels = dims["n_audio_state"], dims["n_mels"]

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * 0.05

    state = {"encoder.conv1.weight": rnd(d, mels, 3), "encoder.conv1.bias": rnd(d),
             "encoder.conv2.weight": rnd(d, d, 3), "encoder.conv2.bias": rnd(d),
             "encoder.positional_embedding": rnd(dims["n_audio_ctx"], d),
             "encoder.ln_post.weight": 1 + rnd(d), "encoder.ln_post.bias": rnd(d),
             "decoder.token_embedding.weight": rnd(dims["n_vocab"], d),
             "decoder.positional_embedding": rnd(dims["n_text_ctx"], d),
             "decoder.ln.weight": 1 + rnd(d), "decoder.ln.bias": rnd(d)}
    for side, layers, attns in (("encoder", dims["n_audio_layer"], ("attn",)),
                                ("decoder", dims["n_text_layer"], ("attn", "cross_attn"))):
        for i in range(layers):
            block = f"{side}.blocks.{i}"
            for attn in attns:
                for proj in ("query", "key", "value", "out"):
                    state[f"{block}.{attn}.{proj}.weight"] = rnd(d, d)
                    if proj != "key":  # Whisper's key projections have no bias
                        state[f"{block}.{attn}.{proj}.bias"] = rnd(d)
                state[f"{block}.{attn}_ln.weight"], state[f"{block}.{attn}_ln.bias"] = 1 + rnd(d), rnd(d)
            state[f"{block}.mlp.0.weight"], state[f"{block}.mlp.0.bias"] = rnd(4 * d, d), rnd(4 * d)
            state[f"{block}.mlp.2.weight"], state[f"{block}.mlp.2.bias"] = rnd(d, 4 * d), rnd(d)
            state[f"{block}.mlp_ln.weight"], state[f"{block}.mlp_ln.bias"] = 1 + rnd(d), rnd(d)
    return state


@pytest.fixture
def checkpoint(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    state = official_state(DIMS)
    path = tmp_path / "tiny.pt"
    torch.save({"dims": DIMS, "model_state_dict": state}, path)
    return path, state


@pytest.fixture
def settings(tmp_path: Path) -> ModelSettings:
    """Registered models go to a private folder; the real cache (with the pip-shipped base) stays as it is."""
    return ModelSettings(dir=tmp_path / "models")


def test_a_file_with_an_unknown_hash_is_refused(tmp_path: Path, settings: ModelSettings) -> None:
    from habla.finetune.importer import import_checkpoint

    bad = tmp_path / "base.pt"
    bad.write_bytes(b"not the weights OpenAI published" * 100)
    with pytest.raises(ModelCorrupt, match="not an official Whisper checkpoint") as err:
        import_checkpoint(bad, settings)
    assert "--trust" in (err.value.hint or "")
    assert not (tmp_path / "models").exists()  # nothing registered


def test_a_trusted_file_that_is_no_checkpoint_is_refused_clearly(tmp_path: Path, settings: ModelSettings) -> None:
    from habla.finetune.importer import import_checkpoint

    bad = tmp_path / "junk.pt"
    bad.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(ModelCorrupt, match="not a readable PyTorch checkpoint"):
        import_checkpoint(bad, settings, name="junk", trust=True)


def test_official_checkpoint_is_identified_by_hash_converted_and_registered(
        checkpoint: tuple[Path, dict[str, torch.Tensor]], settings: ModelSettings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from faster_whisper import WhisperModel

    from habla.finetune.checkpoint import read_ct2
    from habla.finetune.importer import import_checkpoint

    path, state = checkpoint
    # Stand in for OpenAI's published hash of tiny.pt: the catalog is the one place that maps hash → name.
    monkeypatch.setitem(catalog.OFFICIAL_CHECKPOINTS, "tiny", OfficialCheckpoint("tiny", sha256_file(path)))
    result = import_checkpoint(path, settings)
    assert result.checkpoint is not None and result.checkpoint.name == "tiny"
    assert sorted(result.models) == ["tiny", "tiny-int8"]

    folder = ModelStore(settings).locate("tiny").path
    assert folder == settings.dir / "tiny"
    manifest = json.loads((folder / "habla-model.json").read_text())
    assert manifest["origin"]["sha256"] == sha256_file(path) and manifest["origin"]["official"] is True
    ct2 = read_ct2(folder / "model.bin")
    np.testing.assert_allclose(ct2["encoder/conv1/weight"].astype(np.float32),
                               state["encoder.conv1.weight"].numpy(), atol=1e-3)
    fused = ct2["decoder/layer_1/attention/linear_1/weight"].astype(np.float32)  # cross-attention key ++ value
    np.testing.assert_allclose(fused[64:], state["decoder.blocks.1.cross_attn.value.weight"].numpy(), atol=1e-3)
    config = json.loads((folder / "config.json").read_text())
    assert len(config["lang_ids"]) == 99  # language detection works after conversion

    model = WhisperModel(str(folder), device="cpu", compute_type="int8")
    language, probability, _ = model.detect_language(np.zeros(16000, np.float32))
    assert language and 0 <= probability <= 1


def test_a_catalog_model_with_pinned_files_is_not_replaced(
        checkpoint: tuple[Path, dict[str, torch.Tensor]], monkeypatch: pytest.MonkeyPatch) -> None:
    from habla.finetune.importer import default_name

    path, _ = checkpoint
    assert default_name(OfficialCheckpoint("base", "0" * 64), None) == "base-openai"
    assert default_name(OfficialCheckpoint("small", "0" * 64), None) == "small"
    with pytest.raises(InvalidOption):
        default_name(None, None)


def test_ct2_weights_read_back_into_pytorch(tmp_path: Path) -> None:
    from transformers import WhisperForConditionalGeneration

    from habla.finetune.checkpoint import ct2_to_hf, openai_to_hf
    from habla.finetune.export import to_ct2
    from habla.finetune.processor import default_tokenizer_file, load_processor, save_processor

    model = openai_to_hf(DIMS, official_state(DIMS, seed=1))
    model.save_pretrained(tmp_path / "hf")
    save_processor(load_processor(default_tokenizer_file(ModelSettings()), 80), tmp_path / "hf")
    for quant, tolerance in (("float32", 1e-6), ("int8", 2e-3)):
        to_ct2(tmp_path / "hf", tmp_path / quant, quant)
        back: WhisperForConditionalGeneration = ct2_to_hf(tmp_path / quant / "model.bin")
        original, restored = model.state_dict(), back.state_dict()
        assert set(original) == set(restored)
        for key, value in original.items():
            np.testing.assert_allclose(restored[key].numpy(), value.numpy(), atol=tolerance, err_msg=key)

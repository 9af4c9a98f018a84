"""Whisper weights between three layouts: OpenAI's ``.pt``, Hugging Face ``WhisperForConditionalGeneration``,
and CTranslate2's ``model.bin`` (read back, so a pip-shipped CT2 model like ``base`` can be fine-tuned).

transformers 5 no longer ships its OpenAI converter, so the key mapping lives here (tested both ways).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from habla.errors import ModelCorrupt

if TYPE_CHECKING:
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

# OpenAI name fragment → Hugging Face name fragment, applied in order (longer, more specific ones first).
OPENAI_TO_HF = (
    ("blocks", "layers"),
    ("mlp.0", "fc1"),
    ("mlp.2", "fc2"),
    ("mlp_ln", "final_layer_norm"),
    (".cross_attn.query", ".encoder_attn.q_proj"),
    (".cross_attn.key", ".encoder_attn.k_proj"),
    (".cross_attn.value", ".encoder_attn.v_proj"),
    (".cross_attn.out", ".encoder_attn.out_proj"),
    (".cross_attn_ln", ".encoder_attn_layer_norm"),
    (".attn.query", ".self_attn.q_proj"),
    (".attn.key", ".self_attn.k_proj"),
    (".attn.value", ".self_attn.v_proj"),
    (".attn.out", ".self_attn.out_proj"),
    (".attn_ln", ".self_attn_layer_norm"),
    ("decoder.ln.", "decoder.layer_norm."),
    ("encoder.ln_post.", "encoder.layer_norm."),
    ("token_embedding", "embed_tokens"),
    ("encoder.positional_embedding", "encoder.embed_positions.weight"),
    ("decoder.positional_embedding", "decoder.embed_positions.weight"),
)
DIMS = ("n_mels", "n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
        "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer")


def hf_key(openai_key: str) -> str:
    for old, new in OPENAI_TO_HF:
        openai_key = openai_key.replace(old, new)
    return openai_key


def whisper_config(dims: dict[str, int]) -> WhisperConfig:
    """A transformers config from OpenAI's ``dims``; token ids follow the vocabulary size as in openai/whisper."""
    from transformers import WhisperConfig

    missing = [k for k in DIMS if k not in dims]
    if missing:
        raise ModelCorrupt(f"the checkpoint's dims lack {', '.join(missing)}", hint="is this a Whisper .pt file?")
    eot = 50257 if dims["n_vocab"] >= 51865 else 50256  # multilingual vocabularies have one more byte-level token
    return WhisperConfig(
        vocab_size=dims["n_vocab"], num_mel_bins=dims["n_mels"], d_model=dims["n_audio_state"],
        encoder_layers=dims["n_audio_layer"], encoder_attention_heads=dims["n_audio_head"],
        decoder_layers=dims["n_text_layer"], decoder_attention_heads=dims["n_text_head"],
        encoder_ffn_dim=4 * dims["n_audio_state"], decoder_ffn_dim=4 * dims["n_text_state"],
        max_source_positions=dims["n_audio_ctx"], max_target_positions=dims["n_text_ctx"],
        bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, decoder_start_token_id=eot + 1)


def load_openai(path: Path) -> tuple[dict[str, int], dict[str, torch.Tensor]]:
    """``dims`` and weights of an OpenAI ``.pt``; ``weights_only`` so a hostile pickle cannot run code."""
    import pickle

    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as exc:
        raise ModelCorrupt(f"{path} is not a readable PyTorch checkpoint: {exc}".splitlines()[0]) from None
    if not isinstance(checkpoint, dict) or "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        raise ModelCorrupt(f"{path} is not an OpenAI Whisper checkpoint (no 'dims' and 'model_state_dict')")
    return dict(checkpoint["dims"]), dict(checkpoint["model_state_dict"])


def openai_to_hf(dims: dict[str, int], state: dict[str, torch.Tensor]) -> WhisperForConditionalGeneration:
    """Build the transformers model from OpenAI weights; every weight of the model must be filled."""
    from transformers import WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration(whisper_config(dims))
    renamed = {hf_key(k): v for k, v in state.items() if k not in ("alignment_heads", "decoder.mask")}
    missing, unexpected = model.model.load_state_dict(renamed, strict=False)
    if missing or unexpected:
        raise ModelCorrupt("the checkpoint does not fit the Whisper architecture",
                           hint=f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.tie_weights()  # proj_out shares the token embedding, as in openai/whisper
    return model


# -- CTranslate2 model.bin ------------------------------------------------------------------------------------
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path: Path) -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 ``model.bin`` (binary format 6; bfloat16 is widened to float32)."""
    out: dict[str, np.ndarray] = {}
    with path.open("rb") as fh:
        def num(fmt: str) -> int:
            return struct.unpack(fmt, fh.read(struct.calcsize(fmt)))[0]

        def text() -> str:
            return fh.read(num("H"))[:-1].decode()

        version = num("I")
        if version < 5:
            raise ModelCorrupt(f"{path}: CTranslate2 binary version {version} is too old to read back")
        spec = text()
        num("I")  # the spec revision: the layout of Whisper weights has not changed across revisions
        count = num("I")
        if spec != "WhisperSpec":
            raise ModelCorrupt(f"{path} holds a {spec}, not a Whisper model")
        for _ in range(count):
            name = text()
            shape = [num("I") for _ in range(num("B"))]
            type_id, size = num("B"), num("I")
            raw = fh.read(size)
            if type_id == 5:  # bfloat16: the high half of a float32
                arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(raw, _CT2_DTYPES[type_id])
            out[name] = arr.reshape(shape)
        for _ in range(num("I")):  # aliases (the tied output projection)
            alias, target = text(), text()
            out[alias] = out[target]
    return out


def _weight(ct2: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    weight = ct2[f"{prefix}/weight"]
    if weight.dtype == np.int8:  # CTranslate2 int8 keeps one scale per output row: w = q / scale
        scale = ct2[f"{prefix}/weight_scale"].astype(np.float32)
        return weight.astype(np.float32) / scale.reshape(-1, *([1] * (weight.ndim - 1)))
    return weight.astype(np.float32)


def _linear(ct2: dict[str, np.ndarray], prefix: str, names: tuple[str, ...], biased: tuple[bool, ...],
            out: dict[str, np.ndarray]) -> None:
    """Split a (possibly fused) CT2 linear into the HF projections ``names``; CT2 gave k_proj a zero bias."""
    weights = np.split(_weight(ct2, prefix), len(names))
    biases = np.split(ct2[f"{prefix}/bias"].astype(np.float32), len(names))
    for name, weight, bias, has_bias in zip(names, weights, biases, biased, strict=True):
        out[f"{name}.weight"] = weight
        if has_bias:
            out[f"{name}.bias"] = bias


def _norm(ct2: dict[str, np.ndarray], prefix: str, name: str, out: dict[str, np.ndarray]) -> None:
    out[f"{name}.weight"] = ct2[f"{prefix}/gamma"].astype(np.float32)
    out[f"{name}.bias"] = ct2[f"{prefix}/beta"].astype(np.float32)


def _ct2_layer(ct2: dict[str, np.ndarray], side: str, i: int, out: dict[str, np.ndarray]) -> None:
    src, dst = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
    _norm(ct2, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm", out)
    _linear(ct2, f"{src}/self_attention/linear_0", tuple(f"{dst}.self_attn.{p}_proj" for p in "qkv"),
            (True, False, True), out)
    _linear(ct2, f"{src}/self_attention/linear_1", (f"{dst}.self_attn.out_proj",), (True,), out)
    if side == "decoder":
        _norm(ct2, f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm", out)
        _linear(ct2, f"{src}/attention/linear_0", (f"{dst}.encoder_attn.q_proj",), (True,), out)
        _linear(ct2, f"{src}/attention/linear_1", (f"{dst}.encoder_attn.k_proj", f"{dst}.encoder_attn.v_proj"),
                (False, True), out)
        _linear(ct2, f"{src}/attention/linear_2", (f"{dst}.encoder_attn.out_proj",), (True,), out)
    _norm(ct2, f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm", out)
    _linear(ct2, f"{src}/ffn/linear_0", (f"{dst}.fc1",), (True,), out)
    _linear(ct2, f"{src}/ffn/linear_1", (f"{dst}.fc2",), (True,), out)


def _layer_count(ct2: dict[str, np.ndarray], side: str) -> int:
    return len({k.split("/")[1] for k in ct2 if re.match(rf"{side}/layer_\d+/", k)})


def ct2_to_hf(model_bin: Path) -> WhisperForConditionalGeneration:
    """Rebuild the transformers model from a CTranslate2 Whisper ``model.bin`` (float or int8 weights)."""
    import torch

    ct2 = read_ct2(model_bin)
    emb = ct2["decoder/embeddings/weight"]
    conv1 = ct2["encoder/conv1/weight"]
    dims = {"n_mels": conv1.shape[1], "n_vocab": emb.shape[0], "n_audio_state": conv1.shape[0],
            "n_audio_ctx": ct2["encoder/position_encodings/encodings"].shape[0],
            "n_audio_head": int(ct2["encoder/num_heads"]), "n_audio_layer": _layer_count(ct2, "encoder"),
            "n_text_ctx": ct2["decoder/position_encodings/encodings"].shape[0], "n_text_state": emb.shape[1],
            "n_text_head": int(ct2["decoder/num_heads"]), "n_text_layer": _layer_count(ct2, "decoder")}
    state: dict[str, np.ndarray] = {"model.decoder.embed_tokens.weight": _weight(ct2, "decoder/embeddings")}
    for side in ("encoder", "decoder"):
        state[f"model.{side}.embed_positions.weight"] = ct2[f"{side}/position_encodings/encodings"].astype(np.float32)
        _norm(ct2, f"{side}/layer_norm", f"model.{side}.layer_norm", state)
        for i in range(dims[f"n_{'audio' if side == 'encoder' else 'text'}_layer"]):
            _ct2_layer(ct2, side, i, state)
    for conv in ("conv1", "conv2"):
        state[f"model.encoder.{conv}.weight"] = _weight(ct2, f"encoder/{conv}")
        state[f"model.encoder.{conv}.bias"] = ct2[f"encoder/{conv}/bias"].astype(np.float32)
    from transformers import WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration(whisper_config(dims))
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or set(missing) - {"proj_out.weight"}:
        raise ModelCorrupt(f"{model_bin} does not map onto Whisper", hint=f"missing {missing[:3]} {unexpected[:3]}")
    model.tie_weights()
    return model

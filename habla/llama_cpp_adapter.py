"""The one module that touches llama.cpp's Python binding, cyllama.

habla runs GGUF chat models in-process (habla/llm/embedded.py) and reads one forward pass's next-token distribution
(habla/llm/turn_end.py). Both go through ``GGUFModel``, ``LlamaContext`` and ``Sampler`` here, written for cyllama
``CYLLAMA_VERSION`` (pinned in pyproject.toml), including its one gap: cyllama 0.2.18's ``get_logits`` reads
``model.n_vocab``, which its ``LlamaModel`` lacks (``_model_class`` adds it). Nothing else in habla imports cyllama.
The import is lazy: importing habla must not need it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from habla.errors import LLMUnavailable, ModelCorrupt

CYLLAMA_VERSION = "0.2.18"


@functools.cache
def _binding() -> Any:
    try:
        from cyllama.llama import llama_cpp
    except ImportError as exc:
        raise LLMUnavailable("the embedded LLM needs the llama.cpp binding cyllama",
                             hint='pip install "habla[llm]", or set HABLA_LLM__BACKEND=remote') from exc
    llama_cpp.disable_logging()
    llama_cpp.ggml_backend_load_all()
    return llama_cpp


@functools.cache
def _model_class() -> Any:
    lib = _binding()

    class Model(lib.LlamaModel):  # type: ignore[name-defined]
        """cyllama 0.2.18's get_logits reads ``model.n_vocab``, which its LlamaModel lacks."""

        @property
        def n_vocab(self) -> int:
            return int(self.get_vocab().n_vocab)

    return Model


class GGUFModel:
    """A GGUF model's weights (memory-mapped: the page cache is shared between processes and contexts) and
    vocabulary. ``native`` is cyllama's object, for this module only."""

    def __init__(self, path: str | Path) -> None:
        params = _binding().LlamaModelParams()
        params.use_mmap = True
        try:
            self.native = _model_class()(str(path), params)
        except Exception as exc:  # the binding raises plain ValueError/RuntimeError on a bad file
            raise ModelCorrupt(f"cannot load the GGUF model {path}: {exc}") from exc
        self._vocab = self.native.get_vocab()
        self.n_vocab = int(self._vocab.n_vocab)
        self.n_ctx_train = int(self.native.n_ctx_train)

    def meta(self, key: str) -> str:
        """A metadata string ("" when the key is absent)."""
        try:
            return str(self.native.meta_val_str(key) or "")
        except ValueError:
            return ""

    def apply_template(self, template: str, messages: Sequence[tuple[str, str]], add_assistant: bool) -> str:
        """The chat as text, by llama.cpp's implementation of the model's template; messages are (role, content)."""
        lib = _binding()
        chat = [lib.LlamaChatMessage(role=role, content=content) for role, content in messages]
        return str(self.native.chat_apply_template(template, chat, add_assistant))

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        return list(self._vocab.tokenize(text, add_special=add_special, parse_special=parse_special))

    def detokenize(self, tokens: Sequence[int], max_chars: int | None = None) -> str:
        if max_chars is None:
            return str(self._vocab.detokenize(list(tokens)))
        return str(self._vocab.detokenize(list(tokens), text_len_max=max_chars))

    def piece(self, token: int) -> str:
        """The token's text, special tokens spelled out."""
        return str(self._vocab.token_to_piece(token, 0, True))

    def ends_turn(self, token: int) -> bool:
        """An end-of-generation or control token (Gemma's <start_of_turn> etc.)."""
        return bool(self._vocab.is_eog(token) or self._vocab.is_control(token))

    def context(self, size: int, batch: int, threads: int, *, keep_swa: bool = False,
                cancellable: bool = False) -> LlamaContext:
        return LlamaContext(self, size, batch, threads, keep_swa=keep_swa, cancellable=cancellable)


class LlamaContext:
    """A KV cache and its compute threads, for one sequence (0)."""

    def __init__(self, model: GGUFModel, size: int, batch: int, threads: int, *, keep_swa: bool,
                 cancellable: bool) -> None:
        lib = _binding()
        cp = lib.LlamaContextParams()
        cp.n_ctx = size
        cp.n_batch = cp.n_ubatch = batch
        cp.n_threads = cp.n_threads_batch = threads
        cp.swa_full = keep_swa  # sliding-window layers keep full KV, so a prefix can be kept and the rest removed
        cp.no_perf = True
        self.native = lib.LlamaContext(model.native, cp)
        if cancellable:  # llama.cpp then polls ``abort`` between graph ops
            self.native.install_cancel_callback()

    @property
    def abort(self) -> bool:
        return bool(self.native.cancel)

    @abort.setter
    def abort(self, value: bool) -> None:
        self.native.cancel = value

    def set_threads(self, threads: int) -> None:
        self.native.set_n_threads(threads, threads)

    def keep_prefix(self, keep: int) -> bool:
        """Drop the KV after the first ``keep`` positions; False when the cache cannot be cut there."""
        return bool(self.native.memory_seq_rm(0, keep, -1))

    def clear(self) -> None:
        self.native.kv_cache_clear()

    def decode(self, tokens: Sequence[int], position: int) -> None:
        """Evaluate ``tokens`` from ``position``; InterruptedError when aborted (the batch's KV is then partial)."""
        self.native.decode(_binding().llama_batch_get_one(list(tokens), position))

    def last_logits(self) -> list[float]:
        """The next-token logits after the last evaluated token."""
        return list(self.native.get_logits_ith(-1))

    def token_log_probs(self, tokens: Sequence[int], first: int) -> list[float]:
        """From an empty cache, log P(tokens[i] | tokens[:i]) for each i >= ``first``, in one decode: only the
        positions that predict those tokens output logits (each is a whole vocabulary: 262k floats for Gemma)."""
        if not 0 < first < len(tokens):
            return []
        batch = _binding().LlamaBatch(n_tokens=len(tokens), embd=0, n_seq_max=1)
        for i, token in enumerate(tokens[:-1]):  # the last token predicts nothing asked
            batch.add(token, i, [0], i >= first - 1)
        self.clear()
        self.native.decode(batch)
        out = []
        for i in range(first, len(tokens)):
            logits = np.asarray(self.native.get_logits_ith(i - 1), dtype=np.float64)
            logits -= logits.max()
            out.append(float(logits[tokens[i]] - np.log(np.exp(logits).sum())))
        return out


class Sampler:
    """llama.cpp's sampler chain: greedy at temperature 0, else top-k, top-p, temperature and a seeded draw; a
    repetition penalty over the last ``penalty_window`` tokens when it is not 1."""

    def __init__(self, *, temperature: float, top_k: int, top_p: float, seed: int, repeat_penalty: float,
                 penalty_window: int) -> None:
        lib = _binding()
        self._sampler = lib.LlamaSampler(lib.LlamaSamplerChainParams())
        if repeat_penalty != 1.0:
            self._sampler.add_penalties(penalty_window, repeat_penalty, 0.0, 0.0)
        if temperature == 0:
            self._sampler.add_greedy()
        else:
            self._sampler.add_top_k(top_k)
            self._sampler.add_top_p(top_p, 1)
            self._sampler.add_temp(temperature)
            self._sampler.add_dist(seed)

    def sample(self, context: LlamaContext) -> int:
        return int(self._sampler.sample(context.native, -1))  # llama.cpp also accepts it: the penalty sees it

    def accept(self, tokens: Sequence[int]) -> None:
        """Count ``tokens`` as already generated, for the repetition penalty."""
        for token in tokens:
            self._sampler.accept(token)


_FILE_TYPES = {"q4_0": 2, "q8_0": 7, "f16": 1}  # llama_ftype values (LLAMA_FTYPE_MOSTLY_*)


def requantize(source: str | Path, target: str | Path, file_type: str) -> None:
    """llama.cpp's quantizer: ``source``'s weights written to ``target`` as ``file_type`` (metadata, vocabulary and
    chat template kept). Deterministic: the same source gives the same bytes, whatever the threads or the CPU."""
    lib = _binding()
    params = lib.LlamaModelQuantizeParams()
    params.ftype = _FILE_TYPES[file_type]
    params.allow_requantize = True
    try:
        lib.model_quantize(str(source), str(target), params)
    except Exception as exc:  # the binding raises RuntimeError with llama.cpp's error code
        raise ModelCorrupt(f"cannot convert {Path(source).name} to {file_type}: {exc}") from exc

"""End-of-turn probability from a chat model, the way LiveKit's turn detector works: format the user's words so far as
a chat turn, leave the turn open, and read what the model expects next. A finished request ("please hold while we
try to connect you") makes the end of the turn or a sentence mark likely; a cut one ("please hold while we") makes
another word likely. One forward pass over a short context, on a context of its own (the reply's KV cache is not
disturbed), one thread (it runs while the reply's LLM and TTS use the cores), results cached per transcript.

Like LiveKit, the text is lowercased and its trailing punctuation removed: Whisper writes a full stop after speech
cut mid-sentence too, and SmolLM2-135M-Instruct followed that full stop. Measured on the tuning half of `habla bench
voice`'s pauses (scripts/tune_turn_end.py, docs/talk.md): separating a turn's end from a pause inside it, ROC AUC
P(<|im_end|>) on Whisper's text 0.90 en / 0.63 es; P(<|im_end|> or . ? ! …) on the stripped, lowercased text
0.81 en / 0.71 es.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from habla.errors import InvalidOption, ModelCorrupt
from habla.llm.embedded import _binding, common_prefix

CONTEXT_TOKENS = 512  # room for the template and the last MAX_TEXT_TOKENS of the transcript
MAX_TEXT_TOKENS = 128  # the end of the transcript is what decides; LiveKit keeps a few turns of ~128 tokens
CACHE_SIZE = 256  # transcripts remembered (a turn asks again for the same text at every pause)
_TRAILING_MARKS = re.compile(r"[\s.?!…,;:\-–—]+$")
_SENTENCE_MARKS = re.compile(r"\s*[.?!…]+\s*")  # a token made of these ends the sentence


def _model_class(lib: Any) -> Any:
    class Model(lib.LlamaModel):
        """cyllama 0.2.18's get_logits reads ``model.n_vocab``, which its LlamaModel lacks."""

        @property
        def n_vocab(self) -> int:
            return int(self.get_vocab().n_vocab)

    return Model


class TurnEndModel:
    """Thread-safe; one forward pass per new transcript (only the tokens after the cached prefix)."""

    def __init__(self, model_path: str | Path, threads: int = 1) -> None:
        lib = _binding()
        self._lib = lib
        lib.disable_logging()
        lib.ggml_backend_load_all()
        params = lib.LlamaModelParams()
        params.use_mmap = True  # the reply engine's weights, already in the page cache
        try:
            self._model = _model_class(lib)(str(model_path), params)
        except Exception as exc:  # the binding raises plain ValueError/RuntimeError on a bad file
            raise ModelCorrupt(f"cannot load the GGUF model {model_path}: {exc}") from exc
        self._vocab = self._model.get_vocab()
        self._template = str(self._model.meta_val_str("tokenizer.chat_template") or "")
        end = list(self._vocab.tokenize("<|im_end|>", add_special=False, parse_special=True))
        if not self._template or len(end) != 1:
            raise InvalidOption(f"{Path(model_path).name} is not a ChatML chat model (no <|im_end|> token)",
                                hint="end-of-turn prediction needs e.g. smollm2-135m")
        self._ends = [end[0], *(i for i in range(self._vocab.n_vocab)
                               if _SENTENCE_MARKS.fullmatch(self._vocab.token_to_piece(i, 0, True)))]
        cp = lib.LlamaContextParams()
        cp.n_ctx = cp.n_batch = cp.n_ubatch = CONTEXT_TOKENS
        cp.n_threads = cp.n_threads_batch = threads
        cp.no_perf = True
        self._ctx = lib.LlamaContext(self._model, cp)
        self._cached: list[int] = []
        self._results: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def prompt_tokens(self, text: str) -> list[int]:
        """The chat with the user's turn open: the template's text up to (not including) its <|im_end|>."""
        text = _TRAILING_MARKS.sub("", text.strip()).lower()
        words = self._vocab.tokenize(text.strip(), add_special=False, parse_special=False)
        text = self._vocab.detokenize(list(words)[-MAX_TEXT_TOKENS:]) if len(words) > MAX_TEXT_TOKENS else text
        message = self._lib.LlamaChatMessage(role="user", content=text.strip())
        chat = str(self._model.chat_apply_template(self._template, [message], False))
        return list(self._vocab.tokenize(chat[:chat.rindex("<|im_end|>")], add_special=True, parse_special=True))

    def probability(self, text: str) -> float:
        """P(<|im_end|> or a sentence mark next | the user's words so far)."""
        with self._lock:
            if (cached := self._results.get(text)) is not None:
                self._results.move_to_end(text)
                return cached
            p = self._forward(self.prompt_tokens(text))
            self._results[text] = p
            if len(self._results) > CACHE_SIZE:
                self._results.popitem(last=False)
            return p

    def _forward(self, tokens: list[int]) -> float:
        keep = min(common_prefix(self._cached, tokens), len(tokens) - 1)
        if not self._ctx.memory_seq_rm(0, keep, -1):
            self._ctx.kv_cache_clear()
            keep = 0
        self._cached = tokens[:keep]
        self._ctx.decode(self._lib.llama_batch_get_one(tokens[keep:], keep))
        self._cached = tokens
        logits = self._ctx.get_logits_ith(-1)
        top = max(logits)
        return sum(math.exp(logits[i] - top) for i in self._ends) / sum(math.exp(x - top) for x in logits)

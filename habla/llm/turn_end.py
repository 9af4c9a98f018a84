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

from habla.errors import InvalidOption
from habla.llama_cpp_adapter import GGUFModel
from habla.llm.embedded import common_prefix

CONTEXT_TOKENS = 512  # room for the template and the last MAX_TEXT_TOKENS of the transcript
MAX_TEXT_TOKENS = 128  # the end of the transcript is what decides; LiveKit keeps a few turns of ~128 tokens
CACHE_SIZE = 256  # transcripts remembered (a turn asks again for the same text at every pause)
_TRAILING_MARKS = re.compile(r"[\s.?!…,;:\-–—]+$")
_SENTENCE_MARKS = re.compile(r"\s*[.?!…]+\s*")  # a token made of these ends the sentence


class TurnEndModel:
    """Thread-safe; one forward pass per new transcript (only the tokens after the cached prefix)."""

    def __init__(self, model_path: str | Path, threads: int = 1) -> None:
        self._model = GGUFModel(model_path)  # the reply engine's weights, already in the page cache
        self._template = self._model.meta("tokenizer.chat_template")
        end = self._model.tokenize("<|im_end|>", add_special=False, parse_special=True)
        if not self._template or len(end) != 1:
            raise InvalidOption(f"{Path(model_path).name} is not a ChatML chat model (no <|im_end|> token)",
                                hint="end-of-turn prediction needs e.g. smollm2-135m")
        self._ends = [end[0], *(i for i in range(self._model.n_vocab)
                               if _SENTENCE_MARKS.fullmatch(self._model.piece(i)))]
        self._ctx = self._model.context(CONTEXT_TOKENS, CONTEXT_TOKENS, threads)
        self._cached: list[int] = []
        self._results: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def prompt_tokens(self, text: str) -> list[int]:
        """The chat with the user's turn open: the template's text up to (not including) its <|im_end|>."""
        text = _TRAILING_MARKS.sub("", text.strip()).lower()
        words = self._model.tokenize(text.strip(), add_special=False, parse_special=False)
        text = self._model.detokenize(words[-MAX_TEXT_TOKENS:]) if len(words) > MAX_TEXT_TOKENS else text
        chat = self._model.apply_template(self._template, [("user", text.strip())], False)
        return self._model.tokenize(chat[:chat.rindex("<|im_end|>")], add_special=True, parse_special=True)

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
        if not self._ctx.keep_prefix(keep):
            self._ctx.clear()
            keep = 0
        self._cached = tokens[:keep]
        self._ctx.decode(tokens[keep:], keep)
        self._cached = tokens
        logits = self._ctx.last_logits()
        top = max(logits)
        return sum(math.exp(logits[i] - top) for i in self._ends) / sum(math.exp(x - top) for x in logits)

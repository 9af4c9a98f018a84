"""Candidate segments reranked by how likely the question is after them (query likelihood, as in UPR: Sachan et al.,
"Improving Passage Retrieval with Zero-Shot Question Generation", 2022).

A segment that answers a question makes the question's words predictable: after "Tickets are free but you have to
book them online", "How much do the tickets cost?" is likelier than after "The three candidates were a mystery…".
The score is the mean log-probability per question token after the passage, less the same without a passage (so a
question whose words are rare anyway is not penalised). Gemma 3 270M (pretrained, multilingual) reads the passage;
it is already shipped for the word vectors.

Why not a verifier asking the model "Does this passage answer the question? yes/no": on the looked-at splits, with
SmolLM2-135M-Instruct, P(yes) separated the right candidate from the wrong ones at ROC AUC 0.48 (chance) and
answerable from unanswerable questions at 0.57; query likelihood with Gemma 3 270M separated right from wrong
candidates at about 0.7 (scripts/bench_assistant.py, docs/llm.md). Neither separates unanswerable questions well
enough to refuse on: refusals stay with the lexical coverage test.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from habla.llama_cpp_adapter import GGUFModel

CONTEXT_TOKENS = 512  # a segment, its neighbours and a question: ~150 tokens; a longer passage is cut at its start
MAX_PASSAGE_TOKENS = 384
CACHE_SIZE = 64  # questions whose passage-free log-probability is remembered
PROMPT = "\nQuestion:"


class QueryLikelihood:
    """Thread-safe (one context, one lock). ``score`` costs one passage prefill and one step per question token."""

    def __init__(self, model_path: str | Path, threads: int = 0) -> None:
        from habla.hardware import physical_cores

        self._model = GGUFModel(model_path)
        self._ctx = self._model.context(CONTEXT_TOKENS, CONTEXT_TOKENS, threads or physical_cores())
        self._lock = threading.Lock()
        self._alone: OrderedDict[str, float] = OrderedDict()

    def score(self, passage: str, question: str) -> float:
        """Mean log P(question token | passage) less mean log P(question token | nothing), in nats per token."""
        with self._lock:
            asked = self._question_tokens(question)
            if not asked:
                return 0.0
            alone = self._alone.get(question)
            if alone is None:
                alone = self._log_likelihood(PROMPT.strip(), asked)
                self._alone[question] = alone
                if len(self._alone) > CACHE_SIZE:
                    self._alone.popitem(last=False)
            return (self._log_likelihood(passage.strip() + PROMPT, asked) - alone) / len(asked)

    def _question_tokens(self, question: str) -> list[int]:
        return self._model.tokenize(" " + question.strip(), add_special=False, parse_special=False)

    def _log_likelihood(self, prefix: str, asked: list[int]) -> float:
        tokens = self._model.tokenize(prefix, add_special=True, parse_special=False)
        if len(tokens) > MAX_PASSAGE_TOKENS:  # keep the BOS and the passage's end, next to the question
            tokens = tokens[:1] + tokens[-(MAX_PASSAGE_TOKENS - 1):]
        self._ctx.clear()
        self._ctx.decode(tokens, 0)
        position, total = len(tokens), 0.0
        for token in asked:  # the adapter reads the last position's logits only: one step per question token
            logits = np.asarray(self._ctx.last_logits(), dtype=np.float64)
            top = float(logits.max())
            total += float(logits[token]) - top - math.log(float(np.exp(logits - top).sum()))
            self._ctx.decode([token], position)
            position += 1
        return total

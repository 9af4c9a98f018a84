"""Candidate segments reranked by how likely the question is after them (query likelihood, as in UPR: Sachan et al.,
"Improving Passage Retrieval with Zero-Shot Question Generation", 2022).

A segment that answers a question makes the question's words predictable: after "Tickets are free but you have to
book them online", "How much do the tickets cost?" is likelier than after "The three candidates were a mystery…".
The score is the mean log-probability per question token after the passage. Only the order of one question's
candidates matters (refusals stay with the lexical coverage test), so the question's own likelihood without a
passage, the same for every candidate, is not computed: that saves a quarter of the time. Gemma 3 270M
(pretrained, multilingual) reads the passage; it is already shipped for the word vectors.

Why not a verifier asking the model "Does this passage answer the question? yes/no": on 48 looked-at questions, with
SmolLM2-135M-Instruct, P(yes) separated the right candidate from the wrong ones at ROC AUC 0.48 (chance) and
answerable from unanswerable questions at 0.57; query likelihood with Gemma 3 270M separated right from wrong
candidates at 0.70-0.75 on 32-41 of them (a one-off script; docs/llm.md). Neither separates unanswerable questions
well enough to refuse on: refusals stay with the lexical coverage test. Even so, reranking did not raise right answers
on the looked-at splits (docs/llm.md), so it is off by default (``assistant.reranker``).
"""

from __future__ import annotations

import threading
from pathlib import Path

from habla.llama_cpp_adapter import GGUFModel

CONTEXT_TOKENS = 512  # a segment, its neighbours and a question: ~150 tokens; a longer passage is cut at its start
MAX_PASSAGE_TOKENS = 384
PROMPT = "\nQuestion:"
# One thread: at load 12 on 2 cores, two threads took 4.1 s of CPU and 19.8 s of wall for the worst of five questions
# (step-by-step decoding then; llama.cpp's threads spin at every step's barrier while the other is descheduled).
THREADS = 1


class QueryLikelihood:
    """Thread-safe (one context, one lock). ``score`` costs one decode of the passage and the question."""

    def __init__(self, model_path: str | Path, threads: int = THREADS) -> None:
        self._model = GGUFModel(model_path)
        self._ctx = self._model.context(CONTEXT_TOKENS, CONTEXT_TOKENS, threads)
        self._lock = threading.Lock()

    def score(self, passage: str, question: str) -> float:
        """Mean log P(question token | passage), in nats per token."""
        with self._lock:
            asked = self._question_tokens(question)
            if not asked:
                return 0.0
            return self._log_likelihood(passage.strip() + PROMPT, asked) / len(asked)

    def _question_tokens(self, question: str) -> list[int]:
        return self._model.tokenize(" " + question.strip(), add_special=False, parse_special=False)

    def _log_likelihood(self, prefix: str, asked: list[int]) -> float:
        tokens = self._model.tokenize(prefix, add_special=True, parse_special=False)
        if len(tokens) > MAX_PASSAGE_TOKENS:  # keep the BOS and the passage's end, next to the question
            tokens = tokens[:1] + tokens[-(MAX_PASSAGE_TOKENS - 1):]
        return sum(self._ctx.token_log_probs(tokens + asked, len(tokens)))

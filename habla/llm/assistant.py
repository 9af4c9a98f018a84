"""The transcript assistant: summaries (map-reduce when the transcript exceeds the context) and cited answers.

Every prompt is measured with the engine's own tokenizer before it is sent, so no call exceeds the context.
Answers only cite timestamps where a segment really starts (see ``citations``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from habla.asr.types import Transcript
from habla.config import LLMSettings
from habla.errors import Cancelled, InvalidOption
from habla.llm import prompts
from habla.llm.citations import Citation, Grounded, TranscriptLines, ground_answer, ground_bullets
from habla.llm.protocol import ChatMessage, ChatOptions, LLMEngine

log = logging.getLogger(__name__)
MARGIN_TOKENS = 16  # a template may add a token or two that counting the parts apart misses
MIN_RELATIVE_SCORE = 0.5  # a retrieved segment is shown when its BM25 score is at least this share of the best
_DEFAULTS = LLMSettings()  # the defaults live in config.py


@dataclass(frozen=True)
class AssistantOptions:
    summary_tokens: int = 320  # longest reply of one summary call
    answer_tokens: int = 160
    chunk_tokens: int = _DEFAULTS.summary_chunk_tokens  # transcript tokens per map step
    context_segments: int = 8  # retrieved segments shown for a question
    repeat_penalty: float = _DEFAULTS.repeat_penalty
    temperature: float = _DEFAULTS.temperature


@dataclass
class Answer:
    text: str
    citations: list[Citation]
    model: str = ""
    calls: int = 0  # LLM calls made
    max_prompt_tokens: int = 0  # the largest prompt sent, in the model's tokens
    chunks: int = 0  # transcript pieces summarised separately (1 = no map-reduce)

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "model": self.model, "citations": [c.__dict__ for c in self.citations],
                "calls": self.calls, "max_prompt_tokens": self.max_prompt_tokens, "chunks": self.chunks}


@dataclass
class _Run:
    engine: LLMEngine
    options: ChatOptions
    cancel: threading.Event | None
    answer: Answer = field(default_factory=lambda: Answer("", []))

    def call(self, messages: list[ChatMessage]) -> str:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("cancelled")
        used = self.engine.count_chat_tokens(messages)
        if used + self.options.max_tokens > self.engine.context_size:  # a bug in the budgeting, never the user's
            raise InvalidOption(f"prompt of {used} tokens does not fit the context of {self.engine.context_size}")
        self.answer.calls += 1
        self.answer.max_prompt_tokens = max(self.answer.max_prompt_tokens, used)
        return self.engine.chat(messages, self.options, self.cancel).text()


class Assistant:
    def __init__(self, engine: LLMEngine, options: AssistantOptions | None = None) -> None:
        self.engine = engine
        self.options = options or AssistantOptions()

    # -- summaries --------------------------------------------------------------------------------------
    def summarize(self, transcript: Transcript, cancel: threading.Event | None = None) -> Answer:
        lines = TranscriptLines(transcript)
        if not lines.lines:
            raise InvalidOption("the transcript has no speech to summarise")
        run = _Run(self.engine, self._chat_options(self.options.summary_tokens), cancel)
        budget = self._budget(prompts.summary_messages(""), run.options.max_tokens)
        chunks = self._pack(lines.lines, budget)
        run.answer.chunks = len(chunks)
        partials = []
        for chunk in chunks:  # map: each piece on its own, citations checked against that piece only
            ids = set(chunk)
            text = run.call(prompts.summary_messages("\n".join(lines.lines[i] for i in chunk)))
            partials.append(ground_bullets(text, lines, ids).text)
        result = ground_bullets(partials[0], lines) if len(partials) == 1 else self._reduce(run, lines, partials)
        run.answer.text, run.answer.citations, run.answer.model = result.text, result.citations, self.engine.name
        return run.answer

    def _reduce(self, run: _Run, lines: TranscriptLines, partials: list[str]) -> Grounded:
        """Merge partial summaries level by level until one prompt holds them all."""
        budget = self._budget(prompts.merge_messages(""), run.options.max_tokens)
        while True:
            items = [p for p in partials if p.strip()]
            groups = self._pack(items, budget)
            if len(groups) == 1 and len(items) == 1:
                return ground_bullets(items[0], lines)
            if len(groups) == len(items):  # no two fit together: keep each one's first half so the next level merges
                items = ["\n".join(p.splitlines()[: max(1, len(p.splitlines()) // 2)]) for p in items]
                groups = self._pack(items, budget)
            merged = []
            for group in groups:
                text = run.call(prompts.merge_messages("\n".join(items[i] for i in group)))
                merged.append(ground_bullets(text, lines).text or "\n".join(items[i] for i in group[:1]))
            if len(groups) == 1:
                return ground_bullets(merged[0], lines)
            partials = merged

    # -- questions --------------------------------------------------------------------------------------
    def ask(self, transcript: Transcript, question: str, cancel: threading.Event | None = None) -> Answer:
        if not question.strip():
            raise InvalidOption("the question is empty")
        lines = TranscriptLines(transcript)
        if not lines.lines:
            raise InvalidOption("the transcript has no speech to ask about")
        run = _Run(self.engine, self._chat_options(self.options.answer_tokens, stop=("\n\n", "\n[", "\nQuestion:")),
                   cancel)
        budget = self._budget(prompts.ask_messages("", question), run.options.max_tokens)
        hits = lines.index.top(question, self.options.context_segments)
        # Only lines that match about as well as the best: a small model copies whichever line it sees.
        ranked = [i for i, score in hits if score >= MIN_RELATIVE_SCORE * hits[0][1]]
        shown = self._context(lines, ranked, budget)
        text = run.call(prompts.ask_messages("\n".join(lines.lines[i] for i in shown), question))
        grounded = ground_answer(text, lines, shown, ranked[0] if ranked else None)
        run.answer.text, run.answer.citations, run.answer.model = grounded.text, grounded.citations, self.engine.name
        run.answer.chunks = 1
        return run.answer

    def _context(self, lines: TranscriptLines, ranked: list[int], budget: int) -> list[int]:
        """The best-matching segments, best first, within the token budget.

        Neighbours are not added: a small model tends to copy whichever line it sees, so every line shown
        should be one that matches the question.
        """
        chosen: list[int] = []
        used = 0
        for i in ranked or range(len(lines.lines)):  # no word matches: the start of the transcript
            cost = self.engine.count_tokens(lines.lines[i]) + 1
            if used + cost > budget:
                break
            chosen.append(i)
            used += cost
        return chosen or [(ranked or [0])[0]]

    # -- budgeting --------------------------------------------------------------------------------------
    def _chat_options(self, max_tokens: int, stop: tuple[str, ...] = ()) -> ChatOptions:
        # A reply may not take more than a quarter of the context, so the input always has room.
        limit = max(32, min(max_tokens, self.engine.context_size // 4))
        return ChatOptions(max_tokens=limit, temperature=self.options.temperature,
                           repeat_penalty=self.options.repeat_penalty, stop=stop)

    def _budget(self, empty_prompt: list[ChatMessage], reply_tokens: int) -> int:
        """Transcript tokens one call may carry: the context less the prompt's fixed text and the reply."""
        fixed = self.engine.count_chat_tokens(empty_prompt) + MARGIN_TOKENS
        room = self.engine.context_size - fixed - reply_tokens
        if room < 64:
            raise InvalidOption(f"the model's context ({self.engine.context_size} tokens) is too small")
        return min(room, self.options.chunk_tokens)

    def _pack(self, texts: Sequence[str], budget: int) -> list[list[int]]:
        """Consecutive texts grouped so each group's tokens fit the budget; an over-long text is cut to fit."""
        groups: list[list[int]] = [[]]
        used = 0
        for i, text in enumerate(texts):
            cost = self.engine.count_tokens(text) + 1
            if cost > budget:
                raise InvalidOption(f"one transcript segment has {cost} tokens, more than a call can carry ({budget})",
                                    hint="re-transcribe with VAD so segments stay short, or raise the context size")
            if used + cost > budget and groups[-1]:
                groups.append([])
                used = 0
            groups[-1].append(i)
            used += cost
        return groups

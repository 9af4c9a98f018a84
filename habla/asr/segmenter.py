"""Cut decoded chunks into readable segments at pauses, sentence ends and a maximum length."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from habla.asr.protocol import ChunkText
from habla.asr.types import Segment, Word, compression_ratio, words_logprob

SENTENCE_END = (".", "?", "!", "。", "？", "！", "…")


@dataclass(frozen=True)
class SegmentRules:
    pause_seconds: float = 0.8  # a silence this long always ends a segment
    max_seconds: float = 12.0
    max_chars: int = 120
    min_seconds_before_sentence_cut: float = 1.5  # avoid one-word segments after "Mr."


def _ends_sentence(word: Word) -> bool:
    return word.word.rstrip().endswith(SENTENCE_END)


def split_words(words: Iterable[Word], rules: SegmentRules = SegmentRules()) -> Iterator[list[Word]]:
    current: list[Word] = []
    for word in words:
        if current:
            gap = word.start - current[-1].end
            duration = word.end - current[0].start
            chars = sum(len(w.word) for w in current) + len(word.word)
            sentence_done = (_ends_sentence(current[-1])
                             and current[-1].end - current[0].start >= rules.min_seconds_before_sentence_cut)
            if gap >= rules.pause_seconds or sentence_done or duration > rules.max_seconds or chars > rules.max_chars:
                yield current
                current = []
        current.append(word)
    if current:
        yield current


def chunk_segments(chunk: ChunkText, rules: SegmentRules = SegmentRules()) -> Iterator[Segment]:
    """Segments (ids 0) for one chunk; a chunk without word timings becomes one segment, with the chunk's figures.

    A segment cut out of a chunk by its words has its own tokens, mean token log-probability and compression ratio
    (the tokens and log-probability left out when the words do not carry them), and the chunk's no-speech
    probability: that is the decode window's, as in openai-whisper (see ``Segment``)."""
    if not chunk.words:
        if chunk.text.strip():
            yield Segment(id=0, start=chunk.span[0], end=chunk.span[1], text=chunk.text, tokens=chunk.tokens,
                          avg_logprob=chunk.avg_logprob, no_speech_prob=chunk.no_speech_prob,
                          compression_ratio=chunk.compression_ratio, temperature=chunk.temperature)
        return
    for group in split_words(chunk.words, rules):
        text = "".join(w.word for w in group)
        if text.strip():
            tokens, avg_logprob = words_logprob(group)
            yield Segment(id=0, start=group[0].start, end=group[-1].end, text=text, words=tuple(group),
                          tokens=tokens, avg_logprob=avg_logprob, no_speech_prob=chunk.no_speech_prob,
                          compression_ratio=compression_ratio(text), temperature=chunk.temperature)

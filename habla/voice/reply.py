"""The LLM and TTS stages: reply text streamed token by token, cut into sentences as soon as each is certain
(the first at a clause, so speech starts after a few words), each sentence synthesised and resampled for the client.
Both stop at the next token or sentence once ``cancel`` is set."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from habla.llm.protocol import ChatMessage, ChatOptions, ChatUsage, LLMEngine
from habla.tts.protocol import Voice
from habla.tts.sentences import SentenceSplitter, has_words
from habla.tts.speaker import Speaker

# Complete sentences, then text without an end mark: the shipped 270M model often emits junk before its end of
# turn ("Paris. fonctionnement", "number.那我"), and a reply cut by max_tokens ends mid-sentence. Neither is worth
# saying. Only the last piece of a reply is trimmed, and a reply that is one unfinished sentence is kept.
_UNFINISHED_TAIL = re.compile(r"^(.*[.!?…][\"'”’)\]]*)[^.!?…]+$", re.S)


def trim_stray_tail(piece: str) -> str:
    match = _UNFINISHED_TAIL.match(piece.strip())
    return match.group(1).strip() if match else piece


@dataclass(frozen=True)
class ReplyOptions:
    chat: ChatOptions
    max_sentences: int = 2
    first_clause_chars: int = 24
    max_sentence_chars: int = 300


@dataclass
class ReplyProgress:
    """Filled in by the LLM thread; read by the session for timings."""

    first_token: float | None = None  # perf_counter
    first_sentence: float | None = None
    usage: ChatUsage | None = None


def reply_sentences(engine: LLMEngine, messages: Sequence[ChatMessage], options: ReplyOptions,
                    cancel: threading.Event, on_delta: Callable[[str], None],
                    progress: ReplyProgress) -> Iterator[str]:
    """Sentences of the reply as they complete (sync: runs in a worker thread)."""
    stream = engine.chat(messages, options.chat, cancel)
    progress.usage = stream.usage
    try:
        yield from _sentences(stream, options, cancel, on_delta, progress)
    finally:
        close = getattr(stream.pieces, "close", None)
        if close:
            close()  # ends generation now and releases the engine (it is held while the stream is open)


def _sentences(stream: Iterable[str], options: ReplyOptions, cancel: threading.Event,
               on_delta: Callable[[str], None], progress: ReplyProgress) -> Iterator[str]:
    splitter = SentenceSplitter(options.first_clause_chars, options.max_sentence_chars)
    sentences = 0
    for delta in stream:
        if progress.first_token is None:
            progress.first_token = time.perf_counter()
        on_delta(delta)
        for sentence in splitter.feed(delta):
            progress.first_sentence = progress.first_sentence or time.perf_counter()
            yield sentence
            sentences += sentence[-1:] in ".!?…"  # the clause cut makes a first piece end in ","
            if sentences >= options.max_sentences:
                return  # enough said
    if cancel.is_set():
        return
    for sentence in splitter.flush():
        sentence = trim_stray_tail(sentence)
        if sentences and sentence[-1:] not in ".!?…":
            return  # unfinished text after a finished sentence (junk, or cut by max_tokens)
        if has_words(sentence):
            progress.first_sentence = progress.first_sentence or time.perf_counter()
            yield sentence


def resample(pcm: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling through FFmpeg's swresample (PyAV), for the client's and the recording's rate."""
    if rate == target or not len(pcm):
        return pcm.astype(np.float32, copy=False)
    import av

    frame = av.AudioFrame.from_ndarray(pcm.astype(np.float32)[None, :], format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def synthesize(speaker: Speaker, sentence: str, voice: Voice, rate: int, cancel: threading.Event,
               speed: float = 1.0) -> np.ndarray:
    """One sentence's audio at ``rate`` (sync: runs in a worker thread); empty when cancelled."""
    chunks = [c.float32() for c in speaker.speak_sentences([sentence], voice, speed, cancel)]
    if not chunks or cancel.is_set():
        return np.zeros(0, np.float32)
    return resample(np.concatenate(chunks), voice.sample_rate, rate)

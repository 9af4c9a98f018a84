"""Window packing: several short chunks in one Whisper window, decoded once, words split back by time.

Whisper's encoder always runs on a 30-s window, so a 3-s chunk decoded alone pays for 27 s of padding. Packing lays
short chunks (of any requests with the same language and options) one after another in one window, separated by
``gap`` seconds of silence, decodes the window once with word timings, and gives each chunk the words timed inside
its own region. A chunk whose words cannot be told apart this way (a word timed across a whole gap next to it, or no
words at all while it holds speech) is reported as unsplit, and the caller decodes it alone, as it would have been
unpacked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from habla.asr.protocol import ChunkText, Span
from habla.asr.types import Word, compression_ratio, words_logprob
from habla.audio.decode import SAMPLE_RATE

# Room left in a window: the engine's spans carry a quarter-sample edge, and feature extraction rounds to 10-ms frames.
WINDOW_MARGIN_SECONDS = 0.1


@dataclass(frozen=True)
class Pack:
    """Chunks (their indexes in the caller's list) that share one window, and where each one lies in it."""

    members: tuple[int, ...]
    regions: tuple[Span, ...]  # seconds from the window's start

    @property
    def seconds(self) -> float:
        return self.regions[-1][1]


def plan_packs(lengths: Sequence[float], window: float, gap: float, max_chunk: float) -> list[Pack]:
    """Short chunks in order, each pack filled until the next one would not fit; chunks longer than ``max_chunk``
    get a pack of their own (decoded exactly as unpacked) and do not break the short chunks' packs."""
    room = window - WINDOW_MARGIN_SECONDS
    packs: list[Pack] = []
    members: list[int] = []
    regions: list[Span] = []
    for index, length in enumerate(lengths):
        if length > max_chunk:
            packs.append(Pack((index,), ((0.0, length),)))
            continue
        start = regions[-1][1] + gap if regions else 0.0
        if regions and start + length > room:
            packs.append(Pack(tuple(members), tuple(regions)))
            members, regions, start = [], [], 0.0
        members.append(index)
        regions.append((start, start + length))
    if members:
        packs.append(Pack(tuple(members), tuple(regions)))
    return packs


def pack_audio(pieces: Sequence[np.ndarray], pack: Pack) -> np.ndarray:
    """One window's audio: the pack's chunks at their regions, silence between."""
    audio = np.zeros(round(pack.seconds * SAMPLE_RATE), np.float32)
    for member, (start, _) in zip(pack.members, pack.regions, strict=True):
        first = round(start * SAMPLE_RATE)
        piece = pieces[member][: len(audio) - first]
        audio[first:first + len(piece)] = piece
    return audio


def split_words(words: Sequence[Word], regions: Sequence[Span]) -> list[list[Word] | None]:
    """Each region's words (times relative to the window), or None for a region next to a gap that a word lies
    across: timing there is no guide to which chunk the word belongs to, so both chunks beside that gap are decoded
    alone, and the other chunks of the window keep their words. A word goes to the region nearest its middle.

    Per gap rather than per window: on the server benchmark (50 clients x 2 clips) a window that failed as a whole
    sent 9 of 101 chunks to be decoded alone, each on its own 30-s window."""
    bounds = [(regions[i][1], regions[i + 1][0]) for i in range(len(regions) - 1)]
    crossed = {i for i, (end, start) in enumerate(bounds) if any(w.start < end and w.end > start for w in words)}
    cuts = [(end + start) / 2 for end, start in bounds]  # the middle of each gap
    parts: list[list[Word]] = [[] for _ in regions]
    for word in words:
        middle = (word.start + word.end) / 2
        parts[sum(middle >= cut for cut in cuts)].append(word)
    return [None if i in crossed or i - 1 in crossed else part for i, part in enumerate(parts)]


def chunk_from_words(words: Sequence[Word], window: ChunkText) -> ChunkText:
    """One chunk's share of a packed window's decode (times as the window's): its own text, tokens, compression
    ratio (the loop guard reads it) and mean token log-probability (the window's when the words carry none: the
    decode guards need a figure); the no-speech probability is the window's, as for any segment of a window."""
    text = "".join(w.word for w in words)
    tokens, avg_logprob = words_logprob(list(words))
    return ChunkText(span=window.span, text=text, words=tuple(words),
                     avg_logprob=window.avg_logprob if avg_logprob is None else avg_logprob,
                     no_speech_prob=window.no_speech_prob, compression_ratio=compression_ratio(text), tokens=tokens,
                     temperature=window.temperature)


def unpack(window: ChunkText, pack: Pack, window_start: float) -> list[ChunkText | None]:
    """Each member's share of the window's decode, its words timed as the window's (the caller moves them) and
    kept inside the member's region (the gaps are silence habla put there: a word's alignment that reaches into
    one, as the first word after a pause can by half a second, belongs at its region's edge), or None for a member
    that must be decoded alone. ``window_start``: the window's place in the engine's audio."""
    if len(pack.members) == 1:
        return [window]
    relative = [replace(w, start=w.start - window_start, end=w.end - window_start) for w in window.words]
    parts = split_words(relative, pack.regions)
    return [chunk_from_words([_inside(w, region, window_start) for w in part], window) if part else None
            for part, region in zip(parts, pack.regions, strict=True)]


def _inside(word: Word, region: Span, window_start: float) -> Word:
    """A chunk's word, its times (relative to the window) kept inside the chunk's region and put back in the engine's
    time: a first word's start can be timed half a second into the silence before it, where no audio of its own
    request lies (seen once a failed gap elsewhere no longer sends the whole window to be decoded alone)."""
    start = min(max(word.start, region[0]), region[1])
    end = min(max(word.end, start), region[1])
    return replace(word, start=round(start + window_start, 3), end=round(end + window_start, 3))

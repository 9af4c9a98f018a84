"""The ASR stage: a turn is decoded piece by piece while the user speaks. Speech up to each short pause is decoded
(and kept) as soon as the pause is heard, so when the turn ends only the speech after the last pause is left to
decode, often nothing. Partial transcripts re-decode the undecided tail now and then, never queueing up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import numpy as np

from habla.asr.protocol import ASREngine
from habla.audio.decode import SAMPLE_RATE
from habla.audio.pcm import to_float32, to_int16

MIN_PIECE = int(0.3 * SAMPLE_RATE)  # shorter pieces are not worth a decode (and make Whisper guess)
TAIL_PAD = int(0.15 * SAMPLE_RATE)  # silence kept after a piece's last voiced sample
MAX_PIECE = 25 * SAMPLE_RATE  # a piece must fit one 30 s Whisper window


class InputTrack:
    """The whole input stream, growing; slices by sample position. int16 halves the memory of a long session."""

    def __init__(self) -> None:
        self._data = np.zeros(SAMPLE_RATE * 60, np.int16)
        self.length = 0

    def append(self, audio: np.ndarray) -> None:
        need = self.length + len(audio)
        if need > len(self._data):
            self._data = np.resize(self._data, max(need, 2 * len(self._data)))
        self._data[self.length:need] = to_int16(audio)
        self.length = need

    def slice(self, start: int, end: int) -> np.ndarray:
        start, end = max(0, start), min(end, self.length)
        return to_float32(self._data[start:end])

    def audio(self) -> np.ndarray:
        return self.slice(0, self.length)


Decode = Callable[[np.ndarray, str], str]  # (audio, prompt) -> text; sync, run in a thread


def piece_decoder(engine: ASREngine, language: str) -> Decode:
    """The engine's quick decoding of a turn's pieces, in ``language``. Whisper decodes each piece on a short
    encoder window: the piece plus 3 s of silence, at least 8 s, measured on 25 English clips on 2 busy cores: 0.25 s
    a clip against 1.84 s for the full window, WER 1.7 % against 1.1 % (see habla/asr/whisper.py)."""

    def decode(audio: np.ndarray, prompt: str) -> str:
        return engine.decode_piece(audio, language, prompt)

    return decode


class TurnListener:
    """One turn's transcript, built incrementally. Methods are called from the session's event loop."""

    def __init__(self, track: InputTrack, start: int, decode: Decode) -> None:
        self.track, self.start, self._decode = track, start, decode
        self.committed_until = start
        self.pieces: list[str] = []
        self._lock = asyncio.Lock()  # one decode at a time per turn, in order
        self._partial: asyncio.Task[str | None] | None = None
        self._previewed: tuple[int, int, list[str]] | None = None  # (from, until, texts) decoded, not yet kept

    @property
    def text(self) -> str:
        return " ".join(p for p in self.pieces if p)

    async def commit(self, until: int) -> None:
        """Decode the speech up to ``until`` (a pause or the end of the turn) and keep its text; a preview of the
        same speech is kept as it was decoded."""
        async with self._lock:
            until = min(until + TAIL_PAD, self.track.length)
            previewed, self._previewed = self._previewed, None
            if previewed is not None and previewed[:2] == (self.committed_until, until):
                self.pieces += previewed[2]
            else:
                async for end, text in self._pieces(until):
                    self.pieces.append(text)
                    self.committed_until = end
            self.committed_until = max(self.committed_until, until)  # past a sliver too short to hold a word

    async def preview(self, until: int) -> str:
        """The transcript up to ``until`` without keeping it: a speculative reply's text before the pause that may
        end the turn. The speech is decoded as ``commit(until)`` will decode it (the tail pad not yet heard is
        silence), and ``commit(until)`` keeps that decode instead of making it again."""
        async with self._lock:
            end = until + TAIL_PAD
            texts = [text async for _, text in self._pieces(end)]
            self._previewed = (self.committed_until, end, texts)
            return " ".join(p for p in (self.text, *texts) if p)

    async def _pieces(self, until: int) -> AsyncIterator[tuple[int, str]]:
        """Each piece of the speech from ``committed_until`` to ``until`` (at most MAX_PIECE, at least MIN_PIECE)
        decoded in order, prompted with the text before it; audio not heard yet is silence. Call under the lock."""
        start, texts = self.committed_until, [self.text]
        while until - start >= MIN_PIECE:
            end = min(until, start + MAX_PIECE)
            audio = self.track.slice(start, end)
            audio = np.pad(audio, (0, end - start - len(audio)))  # the part of a preview's tail pad not heard yet
            text = await asyncio.to_thread(self._decode, audio, " ".join(p for p in texts if p)[-200:])
            texts.append(text)
            yield end, text
            start = end

    async def partial(self) -> str | None:
        """The transcript so far with the undecided tail decoded, or None when a decode is already running."""
        if self._lock.locked():
            return None
        async with self._lock:
            end = self.track.length
            if end - self.committed_until < MIN_PIECE:
                return None
            audio = self.track.slice(max(self.committed_until, end - MAX_PIECE), end)
            tail = await asyncio.to_thread(self._decode, audio, self.text[-200:])
            return " ".join(p for p in (self.text, tail) if p)

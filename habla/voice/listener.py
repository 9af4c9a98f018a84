"""The ASR stage: a turn is decoded piece by piece while the user speaks. Speech up to each short pause is decoded
(and kept) as soon as the pause is heard, so when the turn ends only the speech after the last pause is left to
decode, often nothing. Partial transcripts re-decode the undecided tail now and then, never queueing up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

from habla.asr.whisper import is_silent
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

# Whisper's encoder takes 30 s windows, but CTranslate2 also encodes shorter ones, at a fraction of the cost: the
# piece plus 3 s of silence, at least 8 s, measured on 25 English clips on 2 busy cores: 0.25 s a clip against
# 1.84 s for the full window, WER 1.7 % against 1.1 % (/tmp measurements in the report). Shorter windows made the
# decoder repeat short phrases ("Change to which folder? Change to which folder?").
SILENCE_AFTER = 300  # feature frames (10 ms each)
MIN_FRAMES = 800


def whisper_decoder(model: Any, language: str) -> Decode:
    """Greedy, text-only decoding of one piece on a short encoder window (faster_whisper's WhisperModel, used
    through its CTranslate2 model and tokenizer). A piece Whisper deems silent comes back empty."""
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer

    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
    extractor = model.feature_extractor

    def decode(audio: np.ndarray, prompt: str) -> str:
        features = extractor(audio, padding=0)
        frames = features.shape[-1]
        target = min(3000, max(frames + SILENCE_AFTER, MIN_FRAMES))
        features = np.pad(features, ((0, 0), (0, max(0, target - frames))))[:, :target]
        tokens = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        if prompt:
            tokens = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[-100:], *tokens]
        result = model.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32)), [tokens],
            beam_size=1, max_length=len(tokens) + int(8 + 6 * len(audio) / SAMPLE_RATE), return_scores=True,
            return_no_speech_prob=True, suppress_blank=True)[0]
        ids = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        logprob = result.scores[0] / max(len(ids) + 1, 1)  # cumulative log-prob over the tokens and end of text
        if is_silent(result.no_speech_prob, logprob):
            return ""
        return str(tokenizer.decode(ids)).strip()

    return decode


class TurnListener:
    """One turn's transcript, built incrementally. Methods are called from the session's event loop."""

    def __init__(self, track: InputTrack, start: int, decode: Decode) -> None:
        self.track, self.start, self._decode = track, start, decode
        self.committed_until = start
        self.pieces: list[str] = []
        self._lock = asyncio.Lock()  # one decode at a time per turn, in order
        self._partial: asyncio.Task[str | None] | None = None

    @property
    def text(self) -> str:
        return " ".join(p for p in self.pieces if p)

    async def commit(self, until: int) -> None:
        """Decode the speech up to ``until`` (a pause or the end of the turn) and keep its text."""
        async with self._lock:
            until = min(until + TAIL_PAD, self.track.length)
            while until - self.committed_until >= MIN_PIECE:
                end = min(until, self.committed_until + MAX_PIECE)
                audio = self.track.slice(self.committed_until, end)
                self.pieces.append(await asyncio.to_thread(self._decode, audio, self.text[-200:]))
                self.committed_until = end
            if until > self.committed_until:
                self.committed_until = until  # a sliver after the last piece: too short to hold a word

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

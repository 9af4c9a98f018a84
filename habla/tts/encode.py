"""Audio chunks to wav, mp3, opus, flac, aac or raw pcm, as a stream of bytes or into a file, through PyAV.

Encoding is incremental so that an HTTP response can send each sentence as soon as it is synthesised. Output is
resampled to one rate (24 kHz by default: what OpenAI's speech API returns, and a rate Opus accepts).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from habla.audio.pcm import from_pcm16_bytes
from habla.errors import InvalidOption
from habla.tts.protocol import AudioChunk

_OPUS_RATES = (48000, 24000, 16000, 12000, 8000)


@dataclass(frozen=True)
class AudioFormat:
    name: str
    container: str  # FFmpeg muxer
    codec: str
    media_type: str
    options: tuple[tuple[str, str], ...] = ()


FORMATS: dict[str, AudioFormat] = {f.name: f for f in (
    # bitexact: no LIST/INFO chunk, so the header is the plain 44 bytes simple WAV readers expect.
    AudioFormat("wav", "wav", "pcm_s16le", "audio/wav", (("fflags", "+bitexact"),)),
    AudioFormat("mp3", "mp3", "libmp3lame", "audio/mpeg"),
    # Short Ogg pages: the muxer otherwise holds back up to a second of audio.
    AudioFormat("opus", "ogg", "libopus", "audio/ogg; codecs=opus", (("page_duration", "100000"),)),
    AudioFormat("flac", "flac", "flac", "audio/flac"),
    AudioFormat("aac", "adts", "aac", "audio/aac"),
    AudioFormat("pcm", "s16le", "pcm_s16le", "audio/pcm"),  # raw 16-bit little-endian mono, no header
)}
EXTENSIONS = {".wav": "wav", ".mp3": "mp3", ".opus": "opus", ".ogg": "opus", ".flac": "flac", ".aac": "aac",
              ".pcm": "pcm", ".raw": "pcm"}


def audio_format(name: str) -> AudioFormat:
    key = name.lower()
    found = FORMATS.get(key) or FORMATS.get(EXTENSIONS.get(f".{key}", ""))  # "ogg" and "raw" too
    if found is None:
        raise InvalidOption(f"unknown audio format {name!r}", hint=f"use one of: {', '.join(FORMATS)}")
    return found


def format_for_path(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise InvalidOption(f"cannot tell the audio format of {str(path)!r} from its extension",
                            hint=f"use one of: {', '.join(EXTENSIONS)} (or --format)")
    return EXTENSIONS[suffix]


class _Buffer:
    """A write-only file object PyAV muxes into; the bytes are taken out after every chunk."""

    def __init__(self) -> None:
        self._data = bytearray()

    def write(self, data: bytes) -> int:
        self._data += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._data)
        self._data.clear()
        return out


class AudioEncoder:
    """``encode(chunk)`` returns the bytes ready so far and ``finish()`` the rest (both ``b""`` when writing
    to a file). ``sample_rate`` 0 keeps the voice's own rate. ``whole=True`` muxes into a seekable buffer and
    returns everything from ``finish()``: the muxer then goes back and completes the header (FLAC's STREAMINFO
    gets the total length and the MD5 of the audio, which a stream cannot have)."""

    def __init__(self, fmt: str, sample_rate: int = 24000, path: str | Path | None = None,
                 whole: bool = False) -> None:
        self.format = audio_format(fmt)
        self.sample_rate = sample_rate
        self._path = path
        self._buffer = _Buffer()
        self._whole = io.BytesIO() if whole else None
        self._container: Any = None
        self._stream: Any = None
        self._resampler: Any = None

    def encode(self, chunk: AudioChunk) -> bytes:
        if self._container is None:
            self._open(chunk.sample_rate)
        frame = av.AudioFrame.from_ndarray(chunk.float32().reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = chunk.sample_rate
        self._mux(self._resampler.resample(frame))
        return self._buffer.take()

    def finish(self) -> bytes:
        if self._container is None:
            self._open(self.sample_rate or 24000)
        self._mux(self._resampler.resample(None))
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.start_encoding()  # no-op after a packet; else writes the header of an empty file
        self._container.close()
        return self._whole.getvalue() if self._whole is not None else self._buffer.take()

    def close(self) -> None:
        """Give up: release the container without finishing the stream."""
        if self._container is not None:
            self._container.close()

    def _open(self, input_rate: int) -> None:
        rate = self.sample_rate or input_rate
        if self.format.codec == "libopus" and rate not in _OPUS_RATES:
            rate = 48000
        target = str(self._path) if self._path is not None else self._whole or self._buffer
        self._container = av.open(target, "w", format=self.format.container, options=dict(self.format.options))
        self._stream = self._container.add_stream(self.format.codec, rate=rate, layout="mono")
        self._resampler = av.AudioResampler(format=self._stream.codec_context.format.name, layout="mono", rate=rate)

    def _mux(self, frames: list[Any]) -> None:
        for frame in frames:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)


def encode_stream(chunks: Iterable[AudioChunk], fmt: str, sample_rate: int = 24000) -> Iterator[bytes]:
    """Encoded bytes as chunks arrive; empty pieces are skipped."""
    encoder = AudioEncoder(fmt, sample_rate)
    for chunk in chunks:
        if data := encoder.encode(chunk):
            yield data
    if data := encoder.finish():
        yield data


def encode_whole(chunks: Iterable[AudioChunk], fmt: str, sample_rate: int = 24000) -> bytes:
    """All the audio as one complete file (a header that states the length), for responses that are not streamed."""
    encoder = AudioEncoder(fmt, sample_rate, whole=True)
    for chunk in chunks:
        encoder.encode(chunk)
    return encoder.finish()


def write_file(chunks: Iterable[AudioChunk], path: str | Path, fmt: str | None = None,
               sample_rate: int = 24000) -> float:
    """Encode into a file (format from the extension unless given); returns the seconds of audio written."""
    encoder = AudioEncoder(fmt or format_for_path(path), sample_rate, path=path)
    seconds = 0.0
    try:
        for chunk in chunks:
            encoder.encode(chunk)
            seconds += chunk.duration
    except BaseException:
        encoder.close()
        Path(path).unlink(missing_ok=True)  # no half-written file that looks like a result
        raise
    encoder.finish()
    return seconds


def decode_pcm16(data: bytes) -> np.ndarray:
    """Raw 16-bit little-endian PCM (the ``pcm`` format) as float32."""
    return from_pcm16_bytes(data)

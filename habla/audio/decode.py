"""Decode any container/codec PyAV reads into 16 kHz mono float32, whole or in bounded blocks."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from habla.audio.pcm import to_float32
from habla.errors import AudioDecodeError

SAMPLE_RATE = 16_000
AudioSource = str | os.PathLike | bytes | BinaryIO | np.ndarray


def _open(source: AudioSource) -> Any:  # av.container.InputContainer (PyAV is untyped)
    import av

    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise AudioDecodeError("the audio is empty (0 bytes)")
        source = io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise AudioDecodeError(f"no such file: {path}")
        if path.is_dir():
            raise AudioDecodeError(f"{path} is a folder, not an audio file")
        if path.stat().st_size == 0:
            raise AudioDecodeError(f"{path} is empty (0 bytes)")
        source = str(path)
    try:
        container = av.open(source, mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise AudioDecodeError(f"not a readable audio or video file ({_reason(exc)})") from exc
    if not container.streams.audio:
        container.close()
        raise AudioDecodeError("the file has no audio stream")
    return container


def _reason(exc: Exception) -> str:
    text = str(exc).split(":")[0] if ":" in str(exc) else str(exc)
    return text.strip() or type(exc).__name__


def probe_duration(source: AudioSource) -> float | None:
    """Duration in seconds from the container header, or None when it does not say."""
    if isinstance(source, np.ndarray):
        return len(source) / SAMPLE_RATE
    container = _open(source)
    try:
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / 1_000_000
        return None
    finally:
        container.close()
        if hasattr(source, "seek"):
            source.seek(0)


def check_audio(path: AudioSource) -> float | None:
    """Raise AudioDecodeError unless ``path`` (a file name or an open file) opens as audio; returns its duration
    when the header has it."""
    try:
        return probe_duration(path)
    except AudioDecodeError:
        raise
    except Exception as exc:  # any decoder failure means the file is not audio
        raise AudioDecodeError(f"not a readable audio file ({type(exc).__name__})") from exc


def iter_blocks(source: AudioSource, block_seconds: float = 600.0,
                first_block_seconds: float | None = None) -> Iterator[np.ndarray]:
    """Yield consecutive blocks of about ``block_seconds`` of 16 kHz mono float32 audio.

    Memory stays bounded by the block size, whatever the file's length. A shorter first block lets work
    (and the first output) start before a large block is decoded.
    """
    first = int((first_block_seconds or block_seconds) * SAMPLE_RATE)
    if isinstance(source, np.ndarray):
        yield source[:first].astype(np.float32, copy=False)
        step = int(block_seconds * SAMPLE_RATE)
        for i in range(first, len(source), step):
            yield source[i:i + step].astype(np.float32, copy=False)
        return

    import av

    block_samples = first
    container = _open(source)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    pending: list[np.ndarray] = []
    pending_len = 0
    decoded_any = False
    try:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                frame.pts = None  # let the resampler ignore broken timestamps
                for out in resampler.resample(frame):
                    pcm = out.to_ndarray().reshape(-1)
                    pending.append(pcm)
                    pending_len += len(pcm)
                    decoded_any = True
                    if pending_len >= block_samples:
                        block = np.concatenate(pending)
                        yield _to_float(block[:block_samples])
                        rest = block[block_samples:]
                        block_samples = int(block_seconds * SAMPLE_RATE)
                        pending, pending_len = ([rest], len(rest)) if len(rest) else ([], 0)
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().reshape(-1))
                pending_len += pending[-1].size
        except av.error.FFmpegError as exc:
            # A truncated file: keep what decoded, fail only if nothing did.
            if not decoded_any:
                raise AudioDecodeError(f"the audio could not be decoded ({_reason(exc)})") from exc
    finally:
        container.close()
    if not decoded_any and not pending_len:
        raise AudioDecodeError("the file contains no decodable audio")
    if pending_len:
        yield _to_float(np.concatenate(pending))


def _to_float(pcm: np.ndarray) -> np.ndarray:
    return to_float32(pcm)


def decode(source: AudioSource) -> np.ndarray:
    """The whole audio as one array (for short inputs; long files go through ``iter_blocks``)."""
    if isinstance(source, np.ndarray):
        return source.astype(np.float32, copy=False)
    blocks = list(iter_blocks(source, block_seconds=3600.0))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)

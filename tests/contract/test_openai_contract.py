"""OpenAI compatibility as a contract: every endpoint's answers validated against OpenAI's published OpenAPI schema
(the subset in openai-openapi-subset.json, with its source commit), the error status and body per case, and both
official SDKs as clients (Python here, Node through tests/node/contract.mjs).

One live `habla serve` for the module (real Whisper base, Piper voice, embedded LLM), no API key.
Chat tests assert shapes, never the words: the reply's quality belongs to the LLM's own tests.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.conftest import HablaServer, base_model_loaded

ROOT = Path(__file__).resolve().parents[2]
SPEECH = Path(os.environ.get("HABLA_TEST_SPEECH", ROOT.parent / "shared" / "testdata" / "speech"))
WELCOME = SPEECH / "ast-en-dir-welcome.flac"  # 1.8 s: "Welcome to the directory."
INVALID_PIN = SPEECH / "ast-en-conf-invalidpin.flac"  # 2.65 s: "That pin is invalid for this conference."
SPANISH = SPEECH / "ast-es-queue-callswaiting.flac"  # "Esperando por un representante."
SPEC = Path(__file__).with_name("openai-openapi-subset.json")
NODE_DIR = ROOT / "tests" / "node"
JOE = "en_US-joe-medium"


# -- the schema ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def schema() -> Any:
    from openapi_schema_validator import OAS31Validator

    components = json.loads(SPEC.read_text())["components"]

    def check(body: Any, name: str) -> None:
        """Raise with every violation of ``#/components/schemas/<name>``."""
        validator = OAS31Validator({"$ref": f"#/components/schemas/{name}", "components": components})
        problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
        assert not problems, f"{name}: " + "; ".join(problems)

    return check


def test_the_schema_check_can_fail(schema: Any) -> None:
    schema({"text": "hi", "usage": {"type": "duration", "seconds": 2}}, "CreateTranscriptionResponseJson")
    for wrong, name in (({"txt": "hi"}, "CreateTranscriptionResponseJson"),
                        ({"object": "list", "data": [{"id": "x", "object": "model"}]}, "ListModelsResponse"),
                        ({"error": {"message": "m", "type": "t", "code": None}}, "ErrorResponse"),
                        ({"type": "transcript.text.done", "text": "x", "usage": {"type": "duration", "seconds": 1}},
                         "TranscriptTextDoneEvent")):
        with pytest.raises(AssertionError):
            schema(wrong, name)


# -- the server ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HablaServer]:
    if not WELCOME.is_file():
        pytest.skip(f"test audio not found at {SPEECH}")
    with HablaServer(tmp_path_factory.mktemp("contract-server")) as srv:
        yield srv.start(ready=base_model_loaded)


@pytest.fixture(scope="module")
def client(server: HablaServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def models(server: HablaServer, schema: Any) -> list[dict[str, Any]]:
    response = server.http.get("/v1/models")
    assert response.status_code == 200
    schema(response.json(), "ListModelsResponse")
    return response.json()["data"]


def _transcribe(server: HablaServer, path: Path = WELCOME, **fields: Any) -> httpx.Response:
    with path.open("rb") as f:
        return server.http.post("/v1/audio/transcriptions", files={"file": (path.name, f)}, data=fields)


def _events(response: httpx.Response) -> list[Any]:
    """The JSON payloads of a server-sent event stream (CRLF or LF line ends)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = response.text.replace("\r\n", "\n").split("\n")
    return [json.loads(line[5:]) for line in lines if line.startswith("data:") and line[5:].strip() != "[DONE]"]


# -- models ---------------------------------------------------------------------------------------------------------
def test_models_list_names_every_kind_and_every_openai_alias(models: list[dict[str, Any]], server: HablaServer,
                                                             schema: Any) -> None:
    ids = {m["id"]: m for m in models}
    for alias in ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"):
        assert ids[alias]["alias_of"] == "base"
    for alias in ("tts-1", "tts-1-hd", "gpt-4o-mini-tts"):
        assert ids[alias]["family"] == "tts"
    assert JOE in ids and "gpt-4o-mini" in ids
    one = server.http.get("/v1/models/gpt-4o-transcribe")
    assert one.status_code == 200
    schema(one.json(), "Model")
    missing = server.http.get("/v1/models/large-v3")
    assert missing.status_code == 404
    schema(missing.json(), "ErrorResponse")


def test_every_listed_transcription_id_transcribes(models: list[dict[str, Any]], server: HablaServer,
                                                   schema: Any) -> None:
    whisper = [m["id"] for m in models if m["family"] == "whisper"]
    assert len(whisper) >= 4
    for model in whisper:
        response = _transcribe(server, model=model)
        assert response.status_code == 200, (model, response.text)
        schema(response.json(), "CreateTranscriptionResponseJson")
        assert response.json()["text"] == "Welcome to the directory.", model


def test_every_listed_speech_id_speaks(models: list[dict[str, Any]], server: HablaServer) -> None:
    speech = [m["id"] for m in models if m["family"] == "tts"]
    assert JOE in speech and "tts-1" in speech
    for model in [*speech, "gpt-4o-mini-tts-2025-12-15", "tts-1-1106"]:  # dated snapshots mean the same
        response = server.http.post("/v1/audio/speech", json={"model": model, "input": "Hi.", "voice": "alloy",
                                                              "response_format": "wav"})
        assert response.status_code == 200, (model, response.text)
        assert response.content[:4] == b"RIFF" and response.headers["x-habla-voice"] == JOE


# -- transcription and translation ------------------------------------------------------------------------------
def test_transcription_formats_match_the_spec(client: openai.OpenAI, schema: Any, server: HablaServer) -> None:
    with INVALID_PIN.open("rb") as f:
        verbose = client.audio.transcriptions.with_raw_response.create(
            model="gpt-4o-mini-transcribe", file=f, response_format="verbose_json",
            timestamp_granularities=["word", "segment"])
    body = json.loads(verbose.content)
    schema(body, "CreateTranscriptionResponseVerboseJson")
    assert body["words"] and body["segments"] and body["usage"]["type"] == "duration"
    # each segment's own decoded tokens and figures, measured (not re-encoded from its text, not null)
    assert all(s["tokens"] and s["avg_logprob"] is not None and s["no_speech_prob"] is not None
               for s in body["segments"])
    assert verbose.request_id and verbose.request_id.startswith("req_")
    with INVALID_PIN.open("rb") as f:
        text = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="text")
    # one line, as OpenAI; without word timings this 2-s clip is decoded on a short window, which hears "pen"
    assert text.count("\n") == 1 and text.endswith(" is invalid for this conference.\n"), text


def test_text_format_is_one_line_even_with_several_segments(server: HablaServer) -> None:
    response = _transcribe(server, INVALID_PIN, response_format="text", language="en")
    srt = _transcribe(server, INVALID_PIN, response_format="srt", language="en").text
    assert response.status_code == 200 and response.text.count("\n") == 1 and response.text.endswith("\n")
    cue_text = " ".join(line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit())
    assert response.text.strip() == cue_text.strip()


def test_stream_events_match_the_spec_and_end_with_token_usage(server: HablaServer, schema: Any,
                                                               client: openai.OpenAI) -> None:
    events = _events(_transcribe(server, INVALID_PIN, stream="true", model="gpt-4o-transcribe"))
    for event in events:
        schema(event, "CreateTranscriptionResponseStreamEvent")
    done = events[-1]
    schema(done, "TranscriptTextDoneEvent")  # its usage must be the token shape
    usage = done["usage"]
    assert usage["type"] == "tokens" and usage["output_tokens"] > 0
    assert usage["input_tokens"] == sum(usage["input_token_details"].values())
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    with INVALID_PIN.open("rb") as f:
        sdk_events = list(client.audio.transcriptions.create(model="whisper-1", file=f, stream=True))
    assert sdk_events[-1].type == "transcript.text.done" and sdk_events[-1].usage.type == "tokens"


@pytest.mark.parametrize(("fmt", "starts"), [("srt", "1\n00:00:00,000 --> "), ("vtt", "WEBVTT"),
                                             ("verbose_json", '{"task":"transcribe"')])
def test_stream_is_ignored_where_the_format_needs_the_whole_transcript(server: HablaServer, fmt: str,
                                                                      starts: str) -> None:
    streamed = _transcribe(server, WELCOME, response_format=fmt, stream="true")
    assert streamed.status_code == 200 and not streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.text.startswith(starts) and "Welcome to the directory." in streamed.text


def test_a_prompt_over_224_tokens_keeps_its_end(server: HablaServer) -> None:
    long_prompt = "Numbers: " + " ".join(str(n) for n in range(3000)) + " Conference PIN."  # ~15 kB, >224 tokens
    response = _transcribe(server, INVALID_PIN, prompt=long_prompt)
    assert response.status_code == 200, response.text
    assert response.json()["text"].lower().startswith("that pin is invalid")
    events = _events(_transcribe(server, INVALID_PIN, prompt=long_prompt, stream="true"))
    assert events[-1]["usage"]["input_token_details"]["text_tokens"] == 224


def test_translation_matches_the_spec(client: openai.OpenAI, schema: Any) -> None:
    for fmt, name in (("json", "CreateTranslationResponseJson"),
                      ("verbose_json", "CreateTranslationResponseVerboseJson")):
        with SPANISH.open("rb") as f:
            raw = client.audio.translations.with_raw_response.create(model="whisper-1", file=f, response_format=fmt)
        schema(json.loads(raw.content), name)


# -- speech ---------------------------------------------------------------------------------------------------------
def test_flac_states_its_length_and_md5(client: openai.OpenAI) -> None:
    import soundfile

    audio = client.audio.speech.create(model="tts-1", voice={"id": "alloy"}, input="One, two. Three, four.",
                                       response_format="flac")
    data = audio.content
    info = soundfile.info(io.BytesIO(data))
    assert info.samplerate == 24000 and 0.8 < info.duration < 5, info
    pcm, _ = soundfile.read(io.BytesIO(data))
    assert len(pcm) == info.frames
    streaminfo = data[8:42]  # "fLaC", a 4-byte block header, then STREAMINFO
    total = int.from_bytes(streaminfo[13:18], "big") & ((1 << 36) - 1)
    assert total == info.frames and streaminfo[18:34] != bytes(16)  # the MD5 of the audio is there


def test_speech_sse_events_match_the_spec(server: HablaServer, schema: Any) -> None:
    response = server.http.post("/v1/audio/speech", json={
        "model": "gpt-4o-mini-tts", "voice": "alloy", "input": "Good morning. It is sunny today.",
        "response_format": "pcm", "stream_format": "sse"})
    events = _events(response)
    for event in events:
        schema(event, "CreateSpeechResponseStreamEvent")
    assert [e["type"] for e in events][-1] == "speech.audio.done" and len(events) >= 2
    schema(events[-1], "SpeechAudioDoneEvent")
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    seconds = len(pcm) / 2 / 24000
    assert 1.0 < seconds < 6.0 and np.frombuffer(pcm, "<i2").std() > 100  # real audio, not silence


def test_speech_request_shapes_from_the_spec_are_accepted(server: HablaServer) -> None:
    """Every field OpenAI's CreateSpeechRequest allows (voice as an object, instructions, stream_format)."""
    body = {"model": "gpt-4o-mini-tts", "input": "Hello.", "voice": {"id": JOE}, "instructions": "Speak calmly.",
            "response_format": "mp3", "speed": 1.0, "stream_format": "audio"}
    response = server.http.post("/v1/audio/speech", json=body)
    assert response.status_code == 200 and response.headers["x-habla-voice"] == JOE and len(response.content) > 1000


# -- errors -----------------------------------------------------------------------------------------------------------
ERROR_CASES: list[tuple[str, str, dict[str, Any], int, str | None, str | None]] = [
    # (what, path, httpx kwargs, status, param, code)
    ("text as audio", "/v1/audio/transcriptions", {"files": {"file": ("a.wav", b"not audio " * 100)}}, 400, "file",
     "invalid_audio"),
    ("PNG as audio", "/v1/audio/translations", {"files": {"file": ("a.mp3", b"\x89PNG\r\n\x1a\n" + bytes(900))}}, 400,
     "file", "invalid_audio"),
    ("no file", "/v1/audio/transcriptions", {"data": {"model": "whisper-1"}}, 400, "file", "missing_parameter"),
    ("unknown model", "/v1/audio/transcriptions", {"files": {"file": ("a.flac", b"x")}, "data": {"model": "whisper-9"}},
     404, None, "model_not_found"),
    ("json with word timestamps", "/v1/audio/transcriptions", {"data": {"timestamp_granularities[]": "word"}}, 400,
     "timestamp_granularities", "invalid_option"),
    ("bad response_format", "/v1/audio/transcriptions", {"data": {"response_format": "xml"}}, 400,
     "response_format", "invalid_value"),
    ("speech: unknown model", "/v1/audio/speech", {"json": {"model": "tts-9", "input": "Hi.", "voice": "alloy"}}, 400,
     None, "invalid_option"),
    ("speech: unknown voice", "/v1/audio/speech", {"json": {"model": "tts-1", "input": "Hi.", "voice": "bob"}}, 404,
     None, "voice_not_found"),
    ("speech: voice object without id", "/v1/audio/speech", {"json": {"model": "tts-1", "input": "Hi.",
                                                                      "voice": {"name": "x"}}}, 400, None, None),
    ("speech: stream_format", "/v1/audio/speech", {"json": {"model": "tts-1", "input": "Hi.", "voice": "alloy",
                                                            "stream_format": "websocket"}}, 400, "stream_format",
     "invalid_value"),
    ("chat: unknown model", "/v1/chat/completions", {"json": {"model": "claude-3", "messages": [
        {"role": "user", "content": "Hi"}]}}, 404, None, "model_not_found"),
    ("chat: unknown role", "/v1/chat/completions", {"json": {"model": "gpt-4o-mini", "messages": [
        {"role": "robot", "content": "Hi"}]}}, 400, "messages.0.role", "invalid_value"),
    ("unknown route", "/v1/audio/nothing", {}, 404, None, "not_found"),
]


@pytest.mark.parametrize(("what", "path", "kwargs", "status", "param", "code"), ERROR_CASES,
                         ids=[case[0] for case in ERROR_CASES])
def test_error_status_and_body(server: HablaServer, schema: Any, what: str, path: str, kwargs: dict[str, Any],
                               status: int, param: str | None, code: str | None) -> None:
    if "transcr" in path and "files" not in kwargs and what != "no file":  # a good file: the error is elsewhere
        kwargs = {"files": {"file": ("a.flac", WELCOME.read_bytes())}, **kwargs}
    response = server.http.post(path, **kwargs)
    assert response.status_code == status, response.text
    schema(response.json(), "ErrorResponse")
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    assert (error["param"], error["code"]) == (param, code) or code is None, error
    assert not any(leak in response.text for leak in ("Errno", "Traceback", "Invalid data found", "/tmp/"))
    assert response.headers["x-request-id"].startswith("req_")


def test_sdk_raises_the_openai_error_classes(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.audio.transcriptions.create(model="whisper-1", file=("notes.wav", b"just some text " * 50))
    assert bad.value.code == "invalid_audio" and bad.value.request_id
    with pytest.raises(openai.NotFoundError):
        client.audio.transcriptions.create(model="whisper-9", file=WELCOME)
    with pytest.raises(openai.BadRequestError, match="verbose_json"):
        client.audio.transcriptions.create(model="whisper-1", file=WELCOME, timestamp_granularities=["word"])


def test_request_id_on_every_response(server: HablaServer) -> None:
    answers = [server.http.get("/healthz"), server.http.get("/v1/models"), server.http.get("/nowhere"),
               server.http.post("/v1/chat/completions", json={}), server.http.get("/")]
    ids = [a.headers.get("x-request-id") for a in answers]
    assert all(i and i.startswith("req_") for i in ids) and len(set(ids)) == len(ids)
    mine = server.http.get("/healthz", headers={"X-Request-Id": "client-abc.123"})
    assert mine.headers["x-request-id"] == "client-abc.123"  # a proxy's id is kept
    hostile = server.http.get("/healthz", headers={"X-Request-Id": "a b\tc" + "x" * 300})
    assert hostile.headers["x-request-id"].startswith("req_")


# -- chat (shapes only; the reply's words are the LLM's business) -------------------------------------------------
MESSAGES = [{"role": "system", "content": "You are brief."}, {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "4"}]


@pytest.mark.slow  # loads the LLM
def test_chat_completion_matches_the_spec(client: openai.OpenAI, schema: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES,  # type: ignore
                                                           max_tokens=16)
    body = json.loads(raw.content)
    schema(body, "CreateChatCompletionResponse")
    choice = body["choices"][0]
    assert choice["finish_reason"] in ("stop", "length") and choice["logprobs"] is None
    assert choice["message"]["refusal"] is None and isinstance(choice["message"]["content"], str)
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert raw.request_id


@pytest.mark.slow  # loads the LLM
def test_chat_stream_matches_the_spec(server: HablaServer, schema: Any, client: openai.OpenAI) -> None:
    response = server.http.post("/v1/chat/completions", json={
        "model": "gpt-4o-mini-2024-07-18", "messages": MESSAGES[:2], "max_tokens": 8, "stream": True,
        "stream_options": {"include_usage": True}})
    chunks = _events(response)
    for chunk in chunks:
        schema(chunk, "CreateChatCompletionStreamResponse")
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] in ("stop", "length") and not any(finishes[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] >= 1
    listed = [m.id for m in client.models.list() if getattr(m, "family", None) == "llm"]
    for model in listed:  # every chat id in /v1/models answers
        reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}],
                                               max_tokens=1)
        assert reply.choices[0].finish_reason in ("stop", "length"), model


# -- the Node SDK -----------------------------------------------------------------------------------------------------
@pytest.mark.slow  # the Node script chats too (loads the LLM when the tests above did not)
def test_node_sdk(server: HablaServer) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        pytest.skip("node is not installed (scripts/setup.sh installs nodejs and npm)")
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        assert npm, "npm is missing: scripts/setup.sh installs it"
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True,
                              timeout=600, check=False)
        assert done.returncode == 0, f"npm ci failed (scripts/setup.sh runs it):\n{done.stderr[-2000:]}"
    done = subprocess.run([node, "contract.mjs", f"{server.url}/v1", str(INVALID_PIN)], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["failed"] == [] and len(results["passed"]) >= 8, results

"""The remote LLM engine and the chat/assistant API against a real OpenAI-compatible server: a live `habla serve`
(its /v1/chat/completions runs the embedded SmolLM2 135M Instruct), driven through habla's RemoteEngine and through the
official openai SDK. One server for the module; replies are kept short."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from habla.asr.types import Segment, Transcript
from habla.errors import InvalidOption, LLMUnavailable, ModelNotFound
from habla.llm.assistant import Assistant, AssistantOptions
from habla.llm.protocol import ChatMessage, ChatOptions
from habla.llm.remote import RemoteEngine
from tests.conftest import SPEECH_DIR, HablaServer
from tests.e2e.test_jobs import Server

pytest.importorskip("cyllama", reason="needs habla[llm]")
CLIP = SPEECH_DIR / "ast-en-conf-adminmenu.flac"  # 19 s: "Please press 1 to mute or unmute yourself, 2 to lock ..."
MODEL = "smollm2-135m"
CAPITAL = [ChatMessage("user", "The capital of France is Paris. The capital of Italy is")]
CAPITALS = ("Rome", "Washington", "Tokyo", "Moscow", "Berlin", "Madrid", "London", "Lisbon", "Beijing")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("llm-server"), {"HABLA_LLM__CONTEXT_SIZE": "4096"}).start() as srv:
        yield srv


@pytest.fixture(scope="module")
def remote(server: HablaServer) -> Iterator[RemoteEngine]:
    engine = RemoteEngine(f"{server.url}/v1", MODEL, timeout=60)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def client(server: HablaServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def job_id(server: Server) -> str:
    created = server.submit(CLIP, language="en")
    assert created.status_code == 201, created.text
    done = server.wait_status(created.json()["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    return str(done["id"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- habla's RemoteEngine --------------------------------------------------------------------------------
def test_remote_engine_streams_a_reply_with_the_servers_usage(remote: RemoteEngine) -> None:
    stream = remote.chat(CAPITAL, ChatOptions(max_tokens=12))
    pieces = list(stream)
    assert len(pieces) >= 2 and "".join(pieces).strip()
    assert stream.usage.finish_reason in ("stop", "length") and 1 <= stream.usage.completion_tokens <= 12
    assert stream.usage.prompt_tokens > 10  # counted by the server's tokenizer, not estimated
    assert stream.usage.first_token_seconds is not None


def test_remote_engine_answers_a_transcript_question_with_a_real_timestamp(remote: RemoteEngine) -> None:
    rows = [(0.0, "Welcome to the quarterly review of the Lisbon office."),
            (14.2, "Revenue reached two point four million euros, up eight percent."),
            (37.0, "Ana Costa is our new security officer starting in May."),
            (62.3, "Remember that the parking garage closes at nine in the evening.")]
    ends = [s for s, _ in rows[1:]] + [80.0]
    transcript = Transcript(text=" ".join(t for _, t in rows), language="en", language_probability=1.0, duration=80.0,
                            segments=[Segment(i, s, e, f" {t}") for i, ((s, t), e) in enumerate(zip(rows, ends))])
    answer = Assistant(remote, AssistantOptions.defaults(answer_with_llm=True)).ask(
        transcript, "Who is the new security officer?")  # the LLM phrases it: the remote server is called
    assert answer.citations and answer.citations[0].segment_id == 2, answer.text
    assert answer.citations[0].timestamp == "[00:37]" and answer.model == MODEL


def test_remote_engine_with_an_unknown_model_names_the_served_ones(server: HablaServer) -> None:
    engine = RemoteEngine(f"{server.url}/v1", "no-such-model")
    with pytest.raises(ModelNotFound, match="has no model 'no-such-model'") as error:
        engine.chat(CAPITAL, ChatOptions(max_tokens=4))
    assert MODEL in (error.value.hint or "")
    engine.close()


def test_remote_engine_with_the_endpoint_down_is_llm_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    engine = RemoteEngine(url, MODEL, connect_timeout=2)
    with pytest.raises(LLMUnavailable, match=f"cannot connect to the LLM server at {url}") as error:
        engine.chat(CAPITAL, ChatOptions(max_tokens=4))
    assert error.value.exit_code == 6 and "HABLA_LLM__BASE_URL" in (error.value.hint or "")


def test_remote_engine_with_a_prompt_over_the_context_is_invalid_input(remote: RemoteEngine) -> None:
    with pytest.raises(InvalidOption, match="context"):
        remote.chat([ChatMessage("user", "word " * 20_000)], ChatOptions(max_tokens=4))  # 100 k characters


# -- the official openai SDK -----------------------------------------------------------------------------
def test_sdk_chat_completion_streaming_and_not_give_the_same_greedy_text(client: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the capital of France?"}]
    whole = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=48, temperature=0)
    text = whole.choices[0].message.content or ""
    # The default model is instruction-tuned and has its chat template: an answer that ends, no prompt echoed.
    assert "Paris" in text and "<|im_" not in text and "capital of France?" not in text, text
    assert whole.choices[0].finish_reason == "stop" and whole.model == MODEL
    assert whole.usage is not None and 1 <= whole.usage.completion_tokens < 48
    chunks = list(client.chat.completions.create(model="default", messages=messages, max_tokens=48, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 2
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_sdk_unknown_model_is_a_404_openai_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as error:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    body: Any = error.value.body
    assert "gpt-9" in body["message"] and body["type"] == "invalid_request_error"


@pytest.mark.parametrize("messages,expected", [
    ([], "messages"),
    ([{"role": "user", "content": "word " * 20_000}], "context"),  # 100 k characters
    ([{"role": "narrator", "content": "Hi"}], "role"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}], "text"),
])
def test_sdk_bad_chat_requests_are_400_openai_errors(client: openai.OpenAI, messages: list[Any],
                                                     expected: str) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model=MODEL, messages=messages, max_tokens=4)
    body: Any = error.value.body
    assert expected in body["message"] and body["type"] == "invalid_request_error"


# -- /v1/jobs/{id}/summary and /ask on a transcribed clip ------------------------------------------------
def test_summary_of_a_finished_job_cites_its_segments(server: Server, job_id: str) -> None:
    transcript = server.http.get(f"/v1/jobs/{job_id}/result", params={"format": "json"}).json()
    starts = {f"[{int(s['start']) // 60:02d}:{int(s['start']) % 60:02d}]" for s in transcript["segments"]}
    response = server.http.post(f"/v1/jobs/{job_id}/summary")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["object"] == "transcript.summary" and summary["model"] == MODEL
    assert summary["citations"] and {c["timestamp"] for c in summary["citations"]} <= starts
    assert any(word in summary["text"].lower() for word in ("mute", "lock", "conference")), summary["text"]


@pytest.mark.parametrize("style", ["chapters", "actions", "paragraph"])
def test_summary_styles_of_a_finished_job(server: Server, job_id: str, style: str) -> None:
    response = server.http.post(f"/v1/jobs/{job_id}/summary", json={"style": style})
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["style"] == style and summary["text"].strip()
    if style == "chapters":
        assert all(re.match(r"^\[\d\d:\d\d\] \S", row) for row in summary["text"].splitlines()), summary["text"]


def test_ask_about_something_not_said_is_refused(server: Server, job_id: str) -> None:
    response = server.http.post(f"/v1/jobs/{job_id}/ask", json={"question": "What is the price of a pizza?"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["refused"] and answer["text"] == "The transcript does not say." and not answer["citations"]


def test_ask_on_a_finished_job_points_at_the_segment_that_says_it(server: Server, job_id: str) -> None:
    transcript = server.http.get(f"/v1/jobs/{job_id}/result", params={"format": "json"}).json()
    response = server.http.post(f"/v1/jobs/{job_id}/ask", json={"question": "How do I lock the conference?"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["citations"], answer["text"]
    cited = transcript["segments"][answer["citations"][0]["segment_id"]]
    assert "lock" in cited["text"].lower() and answer["citations"][0]["timestamp"] in answer["text"]


@pytest.mark.parametrize("path,body,status,expected", [
    ("ask", {"question": ""}, 400, "question"),
    ("ask", {"question": "   "}, 400, "empty"),
    ("ask", {"question": "why? " * 20_000}, 400, "question"),  # 100 k characters
    ("ask", {}, 400, "question"),
    ("summary", {"style": "haiku"}, 400, "style"),
    ("summary", {"style": "bullets", "extra": 1}, 400, "extra"),
])
def test_bad_questions_are_clear_400s(server: Server, job_id: str, path: str, body: dict[str, Any], status: int,
                                      expected: str) -> None:
    response = server.http.post(f"/v1/jobs/{job_id}/{path}", json=body)
    assert response.status_code == status, response.text
    assert expected in response.json()["error"]["message"]


def test_summary_of_a_job_with_no_speech_is_a_clear_400(server: Server, quiet_files: dict[str, Path]) -> None:
    created = server.submit(quiet_files["silence"], language="en").json()
    assert server.wait_status(created["id"], {"succeeded", "failed"})["status"] == "succeeded"
    for path, body in (("summary", None), ("ask", {"question": "What was said?"})):
        response = server.http.post(f"/v1/jobs/{created['id']}/{path}", json=body)
        assert response.status_code == 400 and "no speech" in response.json()["error"]["message"], response.text


def test_summary_of_an_unknown_or_unfinished_job_is_refused(server: Server) -> None:
    response = server.http.post("/v1/jobs/no-such-job/summary")
    assert response.status_code == 404 and "no-such-job" in response.json()["error"]["message"]
    created = server.submit(CLIP, language="en").json()  # asked at once: still queued or running
    response = server.http.post(f"/v1/jobs/{created['id']}/summary")
    assert response.status_code in (409, 200), response.text  # 200 only if it finished within the request
    if response.status_code == 409:
        assert "it has no result" in response.json()["error"]["message"]
    server.wait_status(created["id"], {"succeeded", "failed"})

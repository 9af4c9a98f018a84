"""The pieces of OpenAI compatibility that need no server: model names, prompt truncation, token usage, request
ids and FLAC with a complete header."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from habla.models.openai_names import is_alias, undated
from habla.server.request_id import RequestIdMiddleware
from habla.asr.types import Segment, Transcript, Word
from habla.server.routers.openai_shapes import PROMPT_TOKENS, last_prompt_tokens, token_usage, verbose_json
from habla.tts.encode import encode_stream, encode_whole
from habla.tts.protocol import AudioChunk


@pytest.mark.parametrize(("name", "kind"), [
    ("whisper-1", "transcription"), ("gpt-4o-transcribe", "transcription"), ("gpt-4o-mini-transcribe", "transcription"),
    ("gpt-4o-mini-transcribe-2025-12-15", "transcription"), ("tts-1", "speech"), ("tts-1-hd-1106", "speech"),
    ("gpt-4o-mini-tts-2025-12-15", "speech"), ("piper", "speech"), ("gpt-4o-mini", "chat"),
    ("gpt-4o-mini-2024-07-18", "chat"), ("gpt-3.5-turbo-0125", "chat"), ("default", "chat")])
def test_openai_names_mean_the_default_model(name: str, kind: str) -> None:
    assert is_alias(name, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "kind"), [
    ("tts-1", "transcription"), ("whisper-1", "speech"), ("gpt-4o-mini-tts", "chat"), ("whisper-2", "transcription"),
    ("base", "transcription"), ("gpt-4o-mini-2024", "chat"), ("claude-3", "chat"), ("", "speech"),
    ("gpt-4o-mini-tts-2025-12-15-2025-12-15", "speech")])
def test_other_names_are_not_aliases(name: str, kind: str) -> None:
    assert not is_alias(name, kind)  # type: ignore[arg-type]


def test_undated_strips_one_snapshot_suffix() -> None:
    assert undated("gpt-4o-mini-tts-2025-12-15") == "gpt-4o-mini-tts"
    assert undated("tts-1-1106") == "tts-1"
    assert undated("gpt-4o") == "gpt-4o"


def test_a_long_prompt_keeps_its_last_224_tokens() -> None:
    from tokenizers import Tokenizer

    from habla.config import load_settings
    from habla.models.store import ModelStore

    model_dir = ModelStore(load_settings().models).locate("base").path
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    prompt = " ".join(f"word{n}" for n in range(2000)) + " The conference PIN."
    kept = last_prompt_tokens(prompt, model_dir)
    assert len(tokenizer.encode(kept, add_special_tokens=False).ids) <= PROMPT_TOKENS
    assert kept.endswith("word1999 The conference PIN.") and prompt.endswith(kept)
    assert last_prompt_tokens("Short prompt.", model_dir) == "Short prompt."


def test_token_usage_adds_up() -> None:
    usage = token_usage(2.65, 10, 9)
    assert usage["input_token_details"] == {"text_tokens": 10, "audio_tokens": 133}
    assert usage["input_tokens"] == 143 and usage["total_tokens"] == 152 and usage["type"] == "tokens"


def test_every_response_gets_a_request_id() -> None:
    app = FastAPI()

    @app.get("/ok")
    def ok() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(RequestIdMiddleware)
    client = TestClient(app)
    first, second, missing = client.get("/ok"), client.get("/ok"), client.get("/missing")
    ids = [r.headers["x-request-id"] for r in (first, second, missing)]
    assert all(i.startswith("req_") and len(i) == 36 for i in ids) and len(set(ids)) == 3
    assert client.get("/ok", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"
    for hostile in ("a b", "x" * 129, "a/b", ""):
        assert client.get("/ok", headers={"X-Request-Id": hostile}).headers["x-request-id"].startswith("req_")


def _sentences(rate: int = 22050) -> list[AudioChunk]:
    t = np.arange(rate) / rate
    return [AudioChunk((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate, f"tone {hz}")
            for hz in (220, 330, 440)]


def test_whole_flac_states_its_length_and_md5_and_a_stream_cannot() -> None:
    import soundfile

    whole = encode_whole(_sentences(), "flac", 24000)
    info = soundfile.info(io.BytesIO(whole))
    assert info.samplerate == 24000 and info.frames == pytest.approx(3 * 24000, abs=64)
    assert len(soundfile.read(io.BytesIO(whole))[0]) == info.frames
    assert whole[26:42] != bytes(16)  # STREAMINFO's MD5 of the audio
    streamed = b"".join(encode_stream(_sentences(), "flac", 24000))
    assert int.from_bytes(streamed[21:26], "big") & ((1 << 36) - 1) == 0  # what the issue saw: length unknown


def test_verbose_json_segments_carry_their_decoded_tokens_and_own_temperature() -> None:
    word = Word(0.0, 1.0, " Hola.", 0.9, tokens=(50, 51), logprob=-0.4)
    decoded = Segment(0, 0.0, 1.0, " Hola.", words=(word,), avg_logprob=-0.2, no_speech_prob=0.01,
                      compression_ratio=0.6, tokens=(50, 51), temperature=0.4)
    recorded = Segment(1, 1.0, 2.0, " Adiós.", speaker="SPEAKER_1")  # not decoded by Whisper: nothing measured
    body = verbose_json(Transcript(" Hola. Adiós.", "es", 1.0, 2.0, [decoded, recorded]), {"segment"})
    first, second = body["segments"]
    assert (first["tokens"], first["temperature"], first["avg_logprob"], first["seek"]) == ([50, 51], 0.4, -0.2, 0)
    # no ids re-encoded from the text, no invented figures; still every key OpenAI's schema requires
    assert (second["tokens"], second["avg_logprob"], second["no_speech_prob"]) == ([], None, None)
    assert list(second)[:6] == ["id", "seek", "start", "end", "text", "tokens"] and "speaker" not in second

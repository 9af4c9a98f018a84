"""OpenAI's response shapes for audio: verbose_json, usage and server-sent events."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

from habla.asr.types import Segment, Transcript
from habla.formats.json import segment_dict

AUDIO_TOKENS_PER_SECOND = 50  # Whisper's encoder: 1500 positions per 30 s window
PROMPT_TOKENS = 224  # OpenAI: "the model only considers the final 224 tokens of the prompt"


@lru_cache(maxsize=256)
def language_name(code: str) -> str:
    """OpenAI reports the language as a lowercase English name ("english", "spanish")."""
    if not code:
        return ""
    try:
        import langcodes

        return langcodes.Language.get(code).display_name("en").lower()
    except (ImportError, ValueError, LookupError):
        return code


@lru_cache(maxsize=8)
def _tokenizer(model_dir: Path) -> Any:  # tokenizers.Tokenizer (untyped)
    from tokenizers import Tokenizer  # comes with faster-whisper

    return Tokenizer.from_file(str(model_dir / "tokenizer.json"))


def text_encoder(model_dir: Path) -> Callable[[str], list[int]]:
    """Token ids of a text with the model's own tokenizer: what the usage figures count."""
    if not (model_dir / "tokenizer.json").is_file():
        return lambda text: []
    tokenizer = _tokenizer(model_dir)
    return lambda text: tokenizer.encode(text, add_special_tokens=False).ids


def usage(seconds: float) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(seconds)}


def token_usage(seconds: float, prompt_tokens: int, output_tokens: int) -> dict[str, Any]:
    """OpenAI's token usage (the final stream event's shape): audio tokens are Whisper encoder positions."""
    audio_tokens = math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)
    return {"type": "tokens", "input_tokens": audio_tokens + prompt_tokens,
            "input_token_details": {"text_tokens": prompt_tokens, "audio_tokens": audio_tokens},
            "output_tokens": output_tokens, "total_tokens": audio_tokens + prompt_tokens + output_tokens}


def last_prompt_tokens(prompt: str, model_dir: Path, limit: int = PROMPT_TOKENS) -> str:
    """The prompt's last ``limit`` tokens, as Whisper keeps them (a longer prompt is cut, never refused)."""
    if not (model_dir / "tokenizer.json").is_file():
        return prompt[-limit * 4:]  # no tokenizer: about 4 characters per token in English
    ids = _tokenizer(model_dir).encode(prompt, add_special_tokens=False).ids
    if len(ids) <= limit:
        return prompt
    return str(_tokenizer(model_dir).decode(ids[-limit:])).lstrip()


def _segment(segment: Segment) -> dict[str, Any]:
    """OpenAI's segment: openai-whisper's (habla's JSON format) without the speaker. Its schema requires every
    figure; every segment the Whisper engine decodes has them, and one that nothing measured (another engine's)
    says null rather than a made-up number (the OpenAI SDKs do not validate response fields)."""
    data = segment_dict(segment, words=False)
    data.pop("speaker", None)
    return {**data, **{key: data.get(key) for key in ("avg_logprob", "no_speech_prob")}}


def verbose_json(transcript: Transcript, granularities: set[str]) -> dict[str, Any]:
    """Segments unless only words were asked for (as OpenAI); words when asked for."""
    language = "english" if transcript.task == "translate" else language_name(transcript.language)
    body: dict[str, Any] = {"task": transcript.task, "language": language, "duration": round(transcript.duration, 3),
                            "text": transcript.text}
    if not granularities or "segment" in granularities:
        body["segments"] = [_segment(s) for s in transcript.segments]
    if "word" in granularities:
        body["words"] = [{"word": w.word.strip(), "start": w.start, "end": w.end}
                         for s in transcript.segments for w in s.words]
    body["usage"] = usage(transcript.duration)
    return body


def sse(data: dict[str, Any]) -> ServerSentEvent:
    """One OpenAI stream event: a JSON ``data`` line, framed by sse-starlette."""
    return ServerSentEvent(json.dumps(data, ensure_ascii=False), sep="\n")


def event_stream(events: AsyncIterator[ServerSentEvent], ping: float | None = None,
                 headers: dict[str, str] | None = None) -> EventSourceResponse:
    """Server-sent events, lines ended by "\n" as OpenAI's streams are; ``ping`` seconds between keep-alive
    comments on a quiet stream (sse-starlette also sets the no-cache and no-proxy-buffering headers)."""
    return EventSourceResponse(events, sep="\n", ping=ping, headers=headers)

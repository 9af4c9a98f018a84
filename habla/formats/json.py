"""JSON in openai-whisper's shape, plus habla's info fields, readable back with ``Transcript.from_dict``."""

from __future__ import annotations

import json
from typing import Any, TextIO

from habla.asr.types import Segment, Transcript, Word
from habla.formats.protocol import WriterOptions

# Whisper's "seek" counts mel frames (100 per second); habla has no decoding windows, so it marks the start.
_FRAMES_PER_SECOND = 100


# Whisper's figures that nothing measured (a segment not decoded by Whisper) are left out, not written as numbers.
_MEASURED = ("avg_logprob", "no_speech_prob")


def segment_dict(segment: Segment, words: bool = True) -> dict[str, Any]:
    """openai-whisper's segment shape: ``tokens`` are the decoded ids (see ``Segment`` for what each figure is)."""
    data: dict[str, Any] = {
        "id": segment.id,
        "seek": round(segment.start * _FRAMES_PER_SECOND),
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": list(segment.tokens),
        "temperature": segment.temperature,
        "avg_logprob": segment.avg_logprob,
        "compression_ratio": segment.compression_ratio,
        "no_speech_prob": segment.no_speech_prob,
    }
    for key in _MEASURED:
        if data[key] is None:
            del data[key]
    if segment.speaker is not None:
        data["speaker"] = segment.speaker
    if words and segment.words:
        data["words"] = [_word_dict(w) for w in segment.words]
    return data


def _word_dict(word: Word) -> dict[str, Any]:
    data: dict[str, Any] = {"start": word.start, "end": word.end, "word": word.word, "probability": word.probability}
    if word.speaker is not None:
        data["speaker"] = word.speaker
    return data


def transcript_dict(transcript: Transcript, words: bool = True) -> dict[str, Any]:
    return {
        "text": transcript.text,
        "segments": [segment_dict(s, words) for s in transcript.segments],
        "language": transcript.language,
        "language_probability": transcript.language_probability,
        "duration": transcript.duration,
        "model": transcript.model,
        "task": transcript.task,
    }


class JsonWriter:
    extension = "json"

    def write(self, transcript: Transcript, stream: TextIO, options: WriterOptions) -> None:
        json.dump(transcript_dict(transcript, options.word_timestamps), stream, ensure_ascii=False)
        stream.write("\n")

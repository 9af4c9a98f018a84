"""The faster-whisper adapter and the protocols voice uses through it: a live turn's piece decoded by the ASR
engine, Silero run window by window, and the endpointer driven by any streaming VAD."""

from __future__ import annotations

from importlib.metadata import version

import numpy as np
import pytest

from habla.asr.options import TranscribeOptions
from habla.asr.segmenter import chunk_segments
from habla.asr.types import words_logprob
from habla.asr.wer import word_error_rate
from habla.audio.vad import silero_stream
from habla.errors import InvalidOption
from habla.faster_whisper_adapter import FASTER_WHISPER_VERSION, language_codes
from habla.voice.endpoint import EndpointOptions, Endpointer
from habla.voice.listener import piece_decoder
from tests.conftest import RATE, speech_clip


def test_the_installed_faster_whisper_is_the_one_the_adapter_is_written_for() -> None:
    assert version("faster-whisper") == FASTER_WHISPER_VERSION


def test_languages_come_from_whisper_and_unknown_ones_are_refused() -> None:
    assert {"en", "es", "fr", "zh"} <= language_codes()
    assert TranscribeOptions(language=" ES ").language == "es"
    with pytest.raises(InvalidOption, match="unknown language"):
        TranscribeOptions(language="xx")


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return speech_clip("ast-en-vm-msginstruct")  # 14.6 s with four short pauses


def test_a_piece_is_decoded_through_the_engine_and_silence_is_empty(transcriber, speech: np.ndarray) -> None:  # noqa: ANN001
    with transcriber.models.use(transcriber.asr.model) as engine:
        decode_piece = piece_decoder(engine, "en")
        first = decode_piece(speech[: 5 * RATE], "")
        prompted = decode_piece(speech[5 * RATE: 10 * RATE], first)
        silence = decode_piece(np.zeros(3 * RATE, np.float32), "")  # (after a prompt Whisper may invent its echo)
        whole = engine.decode_piece(speech, "en", "")
    assert first and prompted and silence == ""
    # The two halves and the whole read the same words (a cut inside a word may change one of them).
    assert word_error_rate([whole], [f"{first} {prompted}"], "en").wer < 0.5
    assert len(whole.split()) > len(first.split())


def test_words_carry_their_decoded_token_ids_and_log_probabilities(transcriber, speech: np.ndarray) -> None:
    options = TranscribeOptions(language="en", word_timestamps=True)
    with transcriber.models.use(transcriber.asr.model) as engine:
        (chunk,) = engine.decode_chunks(speech, [(0.0, len(speech) / RATE)], "en", options, 0.0)
    assert chunk.words and tuple(t for w in chunk.words for t in w.tokens) == chunk.tokens  # every decoded token
    assert all(w.tokens and w.logprob is not None and w.logprob <= 0 for w in chunk.words)
    segments = list(chunk_segments(chunk))
    assert len(segments) >= 2 and [t for s in segments for t in s.tokens] == list(chunk.tokens)
    assert len({s.avg_logprob for s in segments}) == len(segments)  # each its own, not the window's
    # The alignment pass scores the decoded tokens much as the decode did (measured: within 0.046 on 40 clips).
    _, window_mean = words_logprob(chunk.words)
    assert window_mean is not None and abs(window_mean - chunk.avg_logprob) < 0.1


class ScriptedVAD:
    """A streaming VAD that answers from a script of probabilities, one per 10 ms window."""

    window = 160

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities, self.calls = probabilities, 0

    def probability(self, window: np.ndarray) -> float:
        assert len(window) == self.window
        p = self.probabilities[self.calls] if self.calls < len(self.probabilities) else 0.0
        self.calls += 1
        return p


def test_the_endpointer_works_with_any_streaming_vad() -> None:
    # 0.5 s silence, 1 s speech, 0.3 s pause, 0.5 s speech, 1 s silence: one turn, speech
    # confirmed after 250 ms and padded back 200 ms, a pause after each speech, the end after 600 ms of silence.
    script = [0.0] * 50 + [0.9] * 100 + [0.0] * 30 + [0.9] * 50 + [0.0] * 100
    vad = ScriptedVAD(script)
    endpointer = Endpointer(EndpointOptions(pause_ms=200, end_silence_ms=600, min_speech_ms=250,
                                            min_level_dbfs=-80), vad=vad)
    audio = np.full(len(script) * vad.window, 0.1, np.float32)  # loud enough for the level gate
    events = [(e.kind, e.sample * 1000 // RATE) for i in range(0, len(audio), 320) for e in endpointer.feed(audio[i:i + 320])]
    # (a resume is stamped at the end of its first voiced window)
    assert events == [("start", 300), ("pause", 1500), ("resume", 1810), ("pause", 2300), ("end", 2300)]
    assert vad.calls == len(script)


def test_silero_keeps_its_state_per_stream(speech: np.ndarray) -> None:
    first, second = silero_stream(), silero_stream()
    windows = [speech[i:i + first.window] for i in range(0, 3 * RATE, first.window)]
    a = [first.probability(w) for w in windows]
    b = [second.probability(w) for w in windows]
    assert a == b  # two streams share the model, not the state
    assert max(a) > 0.9 and min(a) < 0.1  # the clip speaks from 0.3 s, after silence

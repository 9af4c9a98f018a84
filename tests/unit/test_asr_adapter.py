"""The faster-whisper adapter and the protocols voice uses through it: a live turn's piece decoded by the ASR
engine, Silero run window by window, and the endpointer driven by any streaming VAD."""

from __future__ import annotations

from collections import deque
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from habla.asr.options import TranscribeOptions
from habla.asr.segmenter import chunk_segments
from habla.asr.types import words_logprob
from habla.asr.wer import word_error_rate
from habla.audio.vad import silero_stream
from habla.errors import InvalidOption
from habla import faster_whisper_adapter
from habla.faster_whisper_adapter import FASTER_WHISPER_VERSION, WhisperRuntime, language_codes
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


class _CutWindowsPipeline:
    """faster-whisper's batched pipeline as a model that emits timestamp tokens makes it behave: two batches; the
    first window is cut into two segments, the second gives none, the third (next batch) one."""

    BATCHES = (((" uno", " dos"), ()), ((" tres",),))

    def __init__(self, model: Any) -> None:
        self.scored: deque[list[Any]] = deque()
        self.windows: deque[tuple[int, float, float]] = deque()

    def transcribe(self, audio: np.ndarray, **options: Any) -> tuple[Any, None]:
        def segments() -> Any:
            for number, batch in enumerate(self.BATCHES):
                self.windows.extend((len(window), -0.1 * (number + 1), 0.01) for window in batch)
                for window in batch:
                    for text in window:
                        self.scored.append([])
                        yield SimpleNamespace(text=text, tokens=(len(text), 50257, 50400), words=None,
                                              avg_logprob=-0.1 * (number + 1), no_speech_prob=0.01,
                                              compression_ratio=1.0)
        return segments(), None


def test_a_window_cut_into_several_segments_or_none_still_gives_one_per_window(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faster_whisper_adapter, "_scoring_classes", lambda: (None, _CutWindowsPipeline))
    runtime = object.__new__(WhisperRuntime)
    runtime.model = SimpleNamespace(hf_tokenizer=SimpleNamespace(token_to_id=lambda token: 50257))
    windows = list(runtime.transcribe_batched(np.zeros(RATE), clip_timestamps=[{}, {}, {}]))
    assert [w.text for w in windows] == [" uno dos", "", " tres"]
    assert [w.tokens for w in windows] == [(4, 4), (), (5,)]  # text tokens only, in order
    assert [w.avg_logprob for w in windows] == [-0.1, -0.1, -0.2]  # the window's own score, also when empty
    assert windows[1].compression_ratio == 0.0


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

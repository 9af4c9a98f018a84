"""The one module that reaches into faster-whisper and CTranslate2 below their public ``transcribe`` API.

habla needs three things those libraries do not offer publicly: decoding a batch of short pieces on trimmed encoder
windows with a previous-text prompt (``WhisperModel.model.generate`` with the model's tokenizer and feature
extractor), Silero VAD run one 32 ms window at a time with its LSTM state kept by the caller (the ONNX session inside
``get_vad_model()``, whose ``h``/``c`` inputs are those of the silero_vad_v6 model faster-whisper 1.2 ships), and the
list of language codes Whisper knows (``faster_whisper.tokenizer._LANGUAGE_CODES``). Every such use is here, written
for faster-whisper ``FASTER_WHISPER_VERSION`` (pinned in pyproject.toml); nothing else in habla imports a private
name of either library. Imports are lazy: importing habla must not load CTranslate2.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FASTER_WHISPER_VERSION = "1.2.1"
WHISPER_MAX_FRAMES = 3000  # a full 30 s window: 100 feature frames a second


@functools.cache
def language_codes() -> frozenset[str]:
    """Every language code Whisper was trained on."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return frozenset(_LANGUAGE_CODES)


def cuda_device_count() -> int:
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count())


@dataclass(frozen=True)
class WindowText:
    """One piece decoded on its own window: the text tokens (no special ones) and Whisper's confidence figures."""

    ids: tuple[int, ...]
    text: str
    avg_logprob: float  # per token, the end of text counted, as faster-whisper computes it
    no_speech_prob: float


class WhisperRuntime:
    """A loaded faster-whisper ``WhisperModel``, with the calls habla makes on it."""

    def __init__(self, model_path: str, device: str, compute_type: str, cpu_threads: int, num_workers: int) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(model_path, device=device, compute_type=compute_type, cpu_threads=cpu_threads,
                                  num_workers=num_workers, local_files_only=True)
        self.multilingual = bool(self.model.model.is_multilingual)

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        language, probability, _ = self.model.detect_language(audio=audio, vad_filter=False)
        return str(language), float(probability)

    def detect_language_trimmed(self, audio: np.ndarray, *, min_frames: int, margin_frames: int) -> tuple[str, float]:
        """Language detection on a window trimmed to the audio plus ``margin_frames`` of silence, at least
        ``min_frames`` (a 30-s window of mostly padding costs the encoder six times as much)."""
        import ctranslate2

        features = self.model.feature_extractor(audio, padding=0)
        frames = min(WHISPER_MAX_FRAMES, max(features.shape[-1] + margin_frames, min_frames))
        window = np.pad(features, ((0, 0), (0, max(0, frames - features.shape[-1]))))[:, :frames]
        storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(window[None], dtype=np.float32))
        token, probability = self.model.model.detect_language(storage)[0][0]
        return str(token)[2:-2], float(probability)  # "<|es|>" → "es"

    def transcribe_batched(self, audio: np.ndarray, **options: Any) -> Iterable[Any]:
        """faster-whisper's batched pipeline (public API): its segments, lazily."""
        from faster_whisper import BatchedInferencePipeline

        # A pipeline per call: it keeps word-timing state between batches, so it must not be shared.
        segments, _ = BatchedInferencePipeline(self.model).transcribe(audio, **options)
        return segments

    def decode_windows(self, pieces: Sequence[np.ndarray], *, language: str, task: str, prompt: str | None,
                       prompt_tokens: int, beam_size: int, temperature: float, min_frames: int, margin_frames: int,
                       max_new_tokens: int | None = None) -> list[WindowText]:
        """Text-only decoding of each piece (≤ 30 s) in its own window, the batch's windows trimmed to its longest
        piece plus ``margin_frames`` of silence, at least ``min_frames``; prompted with the last ``prompt_tokens``
        tokens of ``prompt``. ``max_new_tokens`` caps the decode (None: Whisper's whole context)."""
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        tokenizer = Tokenizer(self.model.hf_tokenizer, self.multilingual, task=task, language=language)
        features = [self.model.feature_extractor(piece, padding=0) for piece in pieces]
        frames = min(WHISPER_MAX_FRAMES, max(max(f.shape[-1] for f in features) + margin_frames, min_frames))
        batch = np.stack([np.pad(f, ((0, 0), (0, max(0, frames - f.shape[-1]))))[:, :frames] for f in features])
        start = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        if prompt and prompt.strip():
            start = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[-prompt_tokens:], *start]
        max_length = self.model.max_length if max_new_tokens is None else len(start) + max_new_tokens
        results = self.model.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(batch, dtype=np.float32)), [start] * len(pieces),
            beam_size=beam_size, max_length=max_length, return_scores=True, return_no_speech_prob=True,
            suppress_blank=True, sampling_temperature=temperature)
        decoded = []
        for result in results:
            ids = tuple(t for t in result.sequences_ids[0] if t < tokenizer.eot)
            # CTranslate2's score is the length-normalised log-probability; faster-whisper's avg_logprob counts
            # the end of text as one more token.
            avg_logprob = float(result.scores[0]) * len(ids) / (len(ids) + 1)
            decoded.append(WindowText(ids, str(tokenizer.decode(list(ids))), avg_logprob,
                                      float(result.no_speech_prob)))
        return decoded


SILERO_WINDOW = 512  # samples the Silero v5/v6 model takes at 16 kHz (32 ms)
SILERO_CONTEXT = 64  # samples of the previous window it also sees
SILERO_STATE = (1, 1, 128)  # shape of the v6 model's LSTM h and c


class SileroStream:
    """Silero VAD over consecutive windows, its LSTM state carried from one to the next. The ONNX session is
    faster-whisper's, shared by the process; the state is this object's. Not thread-safe (one per stream)."""

    window = SILERO_WINDOW

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._session = get_vad_model().session
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros(SILERO_STATE, np.float32)
        self._c = np.zeros(SILERO_STATE, np.float32)
        self._context = np.zeros(SILERO_CONTEXT, np.float32)

    def probability(self, window: np.ndarray) -> float:
        """Speech probability of the next ``SILERO_WINDOW`` samples of 16 kHz float32 audio."""
        x = np.concatenate([self._context, window.astype(np.float32, copy=False)])[None, :]
        out, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = window[-SILERO_CONTEXT:]
        return float(np.asarray(out).reshape(-1)[0])


def silero_speech_timestamps(audio: np.ndarray, *, threshold: float, min_speech_ms: int, max_speech_s: float,
                             min_silence_ms: int, pad_ms: int) -> list[tuple[int, int]]:
    """faster-whisper's whole-file Silero pass (public API): speech regions as (start, end) samples."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(audio, VadOptions(
        threshold=threshold, min_speech_duration_ms=min_speech_ms, max_speech_duration_s=max_speech_s,
        min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms))
    return [(int(s["start"]), int(s["end"])) for s in found]

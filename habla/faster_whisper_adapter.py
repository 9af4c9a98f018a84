"""The one module that reaches into faster-whisper and CTranslate2 below their public ``transcribe`` API.

habla needs four things those libraries do not offer publicly: decoding a batch of short pieces on trimmed encoder
windows with a previous-text prompt (``WhisperModel.model.generate`` with the model's tokenizer and feature
extractor); each aligned word's token ids and their log-probabilities (``WhisperModel.find_alignment`` has them, but
its ``Word`` keeps only the text: ``_ScoringModel`` and ``_ScoringPipeline`` below keep them aside); Silero VAD run
one 32 ms window at a time with its LSTM state kept by the caller (the ONNX session inside ``get_vad_model()``, whose
``h``/``c`` inputs are those of the silero_vad_v6 model faster-whisper 1.2 ships); and the list of language codes
Whisper knows (``faster_whisper.tokenizer._LANGUAGE_CODES``). Every such use is here, written for faster-whisper
``FASTER_WHISPER_VERSION`` (pinned in pyproject.toml); nothing else in habla imports a private name of either
library. Imports are lazy: importing habla must not load CTranslate2.
"""

from __future__ import annotations

import copy
import functools
import math
import threading
from collections import deque
from collections.abc import Iterator, Sequence
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


@dataclass(frozen=True)
class AlignedWord:
    """One word of a window decoded with word timings: its times (seconds in the audio given), text, Whisper's word
    probability, the ids of the decoded tokens that spell it, and the sum of their log-probabilities."""

    start: float
    end: float
    word: str
    probability: float
    tokens: tuple[int, ...]
    logprob: float


@dataclass(frozen=True)
class WindowSegment:
    """What the batched pipeline decoded in one window."""

    text: str
    tokens: tuple[int, ...]  # the decoded text tokens, no special ones
    avg_logprob: float  # per token, the end of text counted, as faster-whisper computes it
    no_speech_prob: float
    compression_ratio: float
    words: tuple[AlignedWord, ...]  # empty without word timings


# Where ``_ScoringModel.find_alignment`` leaves the alignments of the batch it scored, for ``_ScoringPipeline.forward``
# (both run in one thread, in one call of ``forward``).
_aligned = threading.local()
# A token probability of exactly 0 would make the log -inf; float32 softmax underflows below this.
MIN_TOKEN_PROBABILITY = 1e-30


class _AlignRecorder:
    """CTranslate2's Whisper model, with the results of ``align`` kept (faster-whisper reads only each word's mean
    token probability from them)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.results: list[Any] = []

    def align(self, *args: Any, **kwargs: Any) -> Any:
        self.results = list(self._model.align(*args, **kwargs))
        return self.results

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


@functools.cache
def _scoring_classes() -> tuple[type, type]:
    """``WhisperModel`` and ``BatchedInferencePipeline`` subclasses that keep each aligned word's tokens and their
    log-probabilities (defined on first use: importing habla must not load faster-whisper)."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    class _ScoringModel(WhisperModel):
        def find_alignment(self, tokenizer: Any, text_tokens: list[list[int]], encoder_output: Any,
                           num_frames: int, median_filter_width: int = 7) -> list[list[dict[str, Any]]]:
            view = copy.copy(self)  # the same model, its CTranslate2 model seen through a recorder: thread-safe
            view.model = recorder = _AlignRecorder(self.model)
            alignments: list[list[dict[str, Any]]] = WhisperModel.find_alignment(
                view, tokenizer, text_tokens, encoder_output, num_frames, median_filter_width)
            for alignment, result in zip(alignments, recorder.results, strict=False):
                logprobs = [math.log(max(float(p), MIN_TOKEN_PROBABILITY)) for p in result.text_token_probs]
                position = 0
                for word in alignment:  # before punctuation is merged: each word's own tokens, in order
                    word["habla_logprobs"] = logprobs[position:position + len(word["tokens"])]
                    position += len(word["tokens"])
            _aligned.value = alignments
            return alignments

    class _ScoringPipeline(BatchedInferencePipeline):
        def __init__(self, model: Any) -> None:
            super().__init__(model)
            self.scored: deque[list[tuple[tuple[int, ...], float]]] = deque()  # per segment, in yield order
            # Per window, in order: how many segments faster-whisper cut it into, its avg_logprob and
            # no_speech_prob. Text-only decoding gives one segment, but a model that emits timestamp tokens anyway
            # (a fine-tune, random weights) is cut at them, and a window of nothing but timestamps gives none.
            self.windows: deque[tuple[int, float, float]] = deque()
            self._batch_scores: list[tuple[float, float]] = []

        def generate_segment_batched(self, features: Any, tokenizer: Any, options: Any) -> Any:
            encoder_output, outputs = super().generate_segment_batched(features, tokenizer, options)
            self._batch_scores = [(o["avg_logprob"], o["no_speech_prob"]) for o in outputs]  # read by forward
            return encoder_output, outputs

        def forward(self, features: Any, tokenizer: Any, chunks_metadata: Any, options: Any) -> Any:
            _aligned.value = []
            outputs = super().forward(features, tokenizer, chunks_metadata, options)
            self.windows.extend((len(subsegments), *scores)
                                for subsegments, scores in zip(outputs, self._batch_scores, strict=True))
            alignments = _aligned.value if options.word_timestamps else []
            for index, subsegments in enumerate(outputs):
                words = _emitted_words(alignments[index]) if index < len(alignments) else []
                for subsegment in subsegments:
                    count = len(subsegment.get("words") or ())
                    self.scored.append(words[:count])
                    words = words[count:]
            return outputs

    return _ScoringModel, _ScoringPipeline


def _emitted_words(alignment: list[dict[str, Any]]) -> list[tuple[tuple[int, ...], float]]:
    """Each word faster-whisper keeps (punctuation merged into its neighbours), as (token ids, summed log-prob).
    Merging moves tokens, never reorders them, so the words' tokens still follow the decoded order."""
    logprobs = [lp for word in alignment for lp in word.get("habla_logprobs", ())]
    kept, position = [], 0
    for word in alignment:
        count = len(word["tokens"])
        if word["word"]:
            kept.append((tuple(int(t) for t in word["tokens"]), float(sum(logprobs[position:position + count]))))
        position += count
    return kept


def _joined(pieces: list[WindowSegment], avg_logprob: float, no_speech_prob: float) -> WindowSegment:
    """The segments one window was cut into, as one (none: an empty one, with the window's scores)."""
    from faster_whisper.transcribe import get_compression_ratio

    text = "".join(piece.text for piece in pieces)
    return WindowSegment(text=text, tokens=tuple(t for piece in pieces for t in piece.tokens),
                         avg_logprob=avg_logprob, no_speech_prob=no_speech_prob,
                         compression_ratio=get_compression_ratio(text) if text else 0.0,
                         words=tuple(w for piece in pieces for w in piece.words))


class WhisperRuntime:
    """A loaded faster-whisper ``WhisperModel``, with the calls habla makes on it."""

    def __init__(self, model_path: str, device: str, compute_type: str, cpu_threads: int, num_workers: int) -> None:
        model_class, _ = _scoring_classes()
        self.model = model_class(model_path, device=device, compute_type=compute_type, cpu_threads=cpu_threads,
                                  num_workers=num_workers, local_files_only=True)
        self.multilingual = bool(self.model.model.is_multilingual)

    def detect_languages(self, audios: Sequence[np.ndarray], *, trim: tuple[int, int] | None = None
                         ) -> list[tuple[str, float]]:
        """Each audio's language and its probability, from one encoder call on the whole batch.

        Without ``trim`` each audio gets a full 30-s window, as faster-whisper's ``detect_language`` builds it. With
        ``trim=(min_frames, margin_frames)`` the batch's windows are its longest audio plus ``margin_frames`` of
        silence, at least ``min_frames`` (a 30-s window of mostly padding costs the encoder six times as much).
        """
        import ctranslate2

        if trim is None:
            features = [self.model.feature_extractor(audio) for audio in audios]
            frames = WHISPER_MAX_FRAMES
        else:
            min_frames, margin_frames = trim
            features = [self.model.feature_extractor(audio, padding=0) for audio in audios]
            frames = min(WHISPER_MAX_FRAMES, max(max(f.shape[-1] for f in features) + margin_frames, min_frames))
        batch = np.stack([np.pad(f, ((0, 0), (0, max(0, frames - f.shape[-1]))))[:, :frames] for f in features])
        storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(batch, dtype=np.float32))
        return [(str(ranked[0][0])[2:-2], float(ranked[0][1]))  # "<|es|>" → "es"
                for ranked in self.model.model.detect_language(storage)]

    def transcribe_batched(self, audio: np.ndarray, **options: Any) -> Iterator[WindowSegment]:
        """faster-whisper's batched pipeline in text-only mode over ``clip_timestamps``: one segment per window,
        lazily, in order; its words with their token ids and log-probabilities when ``word_timestamps`` is on."""
        _, pipeline_class = _scoring_classes()
        # A pipeline per call: it keeps word-timing state between batches, so it must not be shared.
        pipeline = pipeline_class(self.model)
        segments, _ = pipeline.transcribe(audio, **options)
        eot = self.model.hf_tokenizer.token_to_id("<|endoftext|>")
        pending: deque[WindowSegment] = deque()
        for _ in options["clip_timestamps"]:
            # A batch is decoded, and its windows recorded, when its first segment is asked for.
            while not pipeline.windows or len(pending) < pipeline.windows[0][0]:
                pending.append(self._window_segment(next(segments), pipeline.scored.popleft(), eot))
            count, avg_logprob, no_speech_prob = pipeline.windows.popleft()
            pieces = [pending.popleft() for _ in range(count)]
            yield pieces[0] if count == 1 else _joined(pieces, avg_logprob, no_speech_prob)

    @staticmethod
    def _window_segment(segment: Any, scored: list[tuple[tuple[int, ...], float]], eot: int) -> WindowSegment:
        words = tuple(AlignedWord(w.start, w.end, w.word, w.probability, tokens, logprob)
                      for w, (tokens, logprob) in zip(segment.words or (), scored, strict=True))
        return WindowSegment(text=segment.text, tokens=tuple(t for t in segment.tokens if t < eot),
                             avg_logprob=segment.avg_logprob, no_speech_prob=segment.no_speech_prob,
                             compression_ratio=segment.compression_ratio, words=words)

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

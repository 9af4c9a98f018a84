"""Whisper on CTranslate2 (faster-whisper): the default ASR engine."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence

import numpy as np

from habla.asr.options import TranscribeOptions
from habla.asr.protocol import ChunkText, Span
from habla.asr.types import Word
from habla.errors import ModelCorrupt
from habla.hardware import physical_cores

log = logging.getLogger(__name__)

# Whisper's own rule for a window that is silence: likely no speech and a low-confidence decode.
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0


def is_silent(no_speech_prob: float, avg_logprob: float) -> bool:
    """Whisper's rule: a window is silence when speech is unlikely and the decode is unsure."""
    return no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOW_LOGPROB


def pick_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:  # noqa: BLE001 — any CUDA probing failure means CPU
        return "cpu"


def pick_compute_type(compute_type: str, device: str) -> str:
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


class WhisperEngine:
    """One loaded Whisper model. Thread-safe for concurrent calls (CTranslate2 queues them)."""

    def __init__(self, model_path: str, name: str = "", device: str = "auto", compute_type: str = "auto",
                 cpu_threads: int = 0, parallel: int = 1) -> None:
        from faster_whisper import WhisperModel

        self.name = name or os.path.basename(model_path.rstrip("/"))
        self.device = pick_device(device)
        self.compute_type = pick_compute_type(compute_type, self.device)
        threads = cpu_threads or physical_cores()
        try:
            self.model = WhisperModel(model_path, device=self.device, compute_type=self.compute_type,
                                      cpu_threads=threads, num_workers=parallel, local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelCorrupt(f"model {self.name!r} at {model_path} could not be loaded: {exc}",
                               hint="the model files are incomplete or not a CTranslate2 Whisper model") from exc
        self.multilingual = self.model.model.is_multilingual

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        if not self.multilingual:
            return "en", 1.0
        language, probability, _ = self.model.detect_language(audio=audio[: 30 * 16000], vad_filter=False)
        return language, float(probability)

    def decode_chunks(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                      options: TranscribeOptions, offset: float) -> Iterator[ChunkText]:
        if not spans:
            return
        from faster_whisper import BatchedInferencePipeline

        # A pipeline per call: it keeps word-timing state between batches, so it must not be shared.
        pipeline = BatchedInferencePipeline(self.model)
        # Text-only decoding is both faster and more accurate in batches (with timestamp tokens the batched
        # decoder drops text after the last timestamp pair). Word timings come from cross-attention alignment,
        # which costs ~2 % and lets the pipeline cut segments and resume truncated chunks.
        segments, _ = pipeline.transcribe(
            audio, language=language, task=options.task, beam_size=options.beam_for(language),
            temperature=options.temperature, batch_size=len(spans),
            clip_timestamps=[{"start": s, "end": e} for s, e in spans], without_timestamps=True,
            word_timestamps=True, initial_prompt=options.initial_prompt, hotwords=options.hotwords)
        for span, seg in zip(spans, segments, strict=True):  # text-only mode: exactly one segment per chunk
            silent = is_silent(seg.no_speech_prob, seg.avg_logprob)
            words = () if silent else tuple(
                Word(round(w.start + offset, 3), round(w.end + offset, 3), w.word, round(w.probability, 4))
                for w in (seg.words or ()))
            yield ChunkText(span=(span[0] + offset, span[1] + offset), text="" if silent else seg.text,
                            words=words, avg_logprob=round(seg.avg_logprob, 4),
                            no_speech_prob=round(seg.no_speech_prob, 4),
                            compression_ratio=round(seg.compression_ratio, 4), tokens=tuple(seg.tokens),
                            temperature=options.temperature)

"""Whisper on CTranslate2 (faster-whisper): the default ASR engine."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence

import numpy as np

from habla.asr.options import TranscribeOptions
from habla.asr.protocol import ChunkText, Span
from habla.asr.types import Word, compression_ratio
from habla.audio.decode import SAMPLE_RATE
from habla.errors import ModelCorrupt
from habla.faster_whisper_adapter import WhisperRuntime, cuda_device_count
from habla.hardware import physical_cores

log = logging.getLogger(__name__)

# Whisper's own rule for a window that is silence: likely no speech and a low-confidence decode.
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
# Short windows (habla/voice/listener.py, scripts/bench_trimmed_windows.py): the encoder also takes windows shorter
# than 30 s, at a fraction of the cost. A batch's window is its longest chunk plus 3 s of silence, at least 8 s;
# shorter windows made the decoder repeat short phrases.
SHORT_WINDOW_MARGIN_FRAMES = 300  # feature frames (10 ms each)
SHORT_WINDOW_MIN_FRAMES = 800
MAX_PROMPT_TOKENS = 223  # Whisper's previous-text prompt: half its 448-token context, less one
# A live turn's piece (habla/voice/listener.py): the last 100 tokens of the turn as prompt, and at most 8 + 6 tokens
# a second of audio, so a piece that starts looping stops early (speech runs at 2-4 tokens a second).
PIECE_PROMPT_TOKENS = 100
PIECE_TOKENS_PER_SECOND = 6


def is_silent(no_speech_prob: float, avg_logprob: float) -> bool:
    """Whisper's rule: a window is silence when speech is unlikely and the decode is unsure."""
    return no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOW_LOGPROB


def pick_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        return "cuda" if cuda_device_count() > 0 else "cpu"
    except Exception:  # noqa: BLE001 — any CUDA probing failure means CPU
        return "cpu"


def pick_compute_type(compute_type: str, device: str) -> str:
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


class WhisperEngine:
    """One loaded Whisper model. Thread-safe for concurrent calls (CTranslate2 queues them)."""

    def __init__(self, model_path: str, name: str = "", device: str = "auto", compute_type: str = "auto",
                 cpu_threads: int = 0, parallel: int = 1, short_window_seconds: float = 0.0,
                 short_window_languages: frozenset[str] = frozenset(), trimmed_detection: bool = False) -> None:
        self.name = name or os.path.basename(model_path.rstrip("/"))
        self.device = pick_device(device)
        self.compute_type = pick_compute_type(compute_type, self.device)
        threads = cpu_threads or physical_cores()
        try:
            self.runtime = WhisperRuntime(model_path, device=self.device, compute_type=self.compute_type,
                                          cpu_threads=threads, num_workers=parallel)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelCorrupt(f"model {self.name!r} at {model_path} could not be loaded: {exc}",
                               hint="the model files are incomplete or not a CTranslate2 Whisper model") from exc
        self.multilingual = self.runtime.multilingual
        self.short_window_seconds = short_window_seconds
        self.short_window_languages = short_window_languages
        self.trimmed_detection = trimmed_detection

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        return self.detect_languages([audio])[0]

    def detect_languages(self, audios: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        if not self.multilingual:
            return [("en", 1.0)] * len(audios)
        firsts = [audio[: 30 * SAMPLE_RATE] for audio in audios]
        if not self.trimmed_detection:
            return self.runtime.detect_languages(firsts)
        # On the speech's own length + 3 s of silence (at least 8 s), as short windows do: the encoder is what
        # costs, and 30-s windows of mostly padding detected no better (scripts/bench_trimmed_detection.py:
        # English 64/64 both ways, Spanish 44 → 46 of 54 right, 1.7 → 0.2 s a clip).
        return self.runtime.detect_languages(firsts, trim=(SHORT_WINDOW_MIN_FRAMES, SHORT_WINDOW_MARGIN_FRAMES))

    def decode_chunks(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                      options: TranscribeOptions, offset: float) -> Iterator[ChunkText]:
        if not spans:
            return
        if self._short_windows_fit(spans, language, options):
            yield from self._decode_short(audio, spans, language, options, offset)
            return
        # Text-only decoding is both faster and more accurate in batches (with timestamp tokens the batched
        # decoder drops text after the last timestamp pair). Word timings come from cross-attention alignment,
        # which costs ~2 % and lets the pipeline cut segments and resume truncated chunks.
        segments = self.runtime.transcribe_batched(
            audio, language=language, task=options.task, beam_size=options.beam_for(language),
            temperature=options.temperature, batch_size=len(spans),
            clip_timestamps=[{"start": s, "end": e} for s, e in spans], without_timestamps=True,
            word_timestamps=True, initial_prompt=options.initial_prompt, hotwords=options.hotwords)
        for span, seg in zip(spans, segments, strict=True):  # one per span
            silent = is_silent(seg.no_speech_prob, seg.avg_logprob)
            words = () if silent else tuple(
                Word(round(w.start + offset, 3), round(w.end + offset, 3), w.word, round(w.probability, 4),
                     tokens=w.tokens, logprob=round(w.logprob, 4))
                for w in seg.words)
            yield ChunkText(span=(span[0] + offset, span[1] + offset), text="" if silent else seg.text,
                            words=words, avg_logprob=round(seg.avg_logprob, 4),
                            no_speech_prob=round(seg.no_speech_prob, 4),
                            compression_ratio=round(seg.compression_ratio, 4), tokens=seg.tokens,
                            temperature=options.temperature)

    def _short_windows_fit(self, spans: Sequence[Span], language: str, options: TranscribeOptions) -> bool:
        """Short chunks in a language measured for it, and a caller that needs no word timings (short windows
        decode text only)."""
        longest = max(e - s for s, e in spans)
        return (0 < longest <= self.short_window_seconds and language in self.short_window_languages
                and not options.word_timestamps and not options.hotwords)

    def _decode_short(self, audio: np.ndarray, spans: Sequence[Span], language: str,
                      options: TranscribeOptions, offset: float) -> Iterator[ChunkText]:
        """Each chunk in its own window, the batch's windows trimmed to its longest chunk + margin; text only."""
        pieces = [audio[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)] for s, e in spans]
        results = self.runtime.decode_windows(
            pieces, language=language, task=options.task, prompt=options.initial_prompt,
            prompt_tokens=MAX_PROMPT_TOKENS, beam_size=options.beam_for(language), temperature=options.temperature,
            min_frames=SHORT_WINDOW_MIN_FRAMES, margin_frames=SHORT_WINDOW_MARGIN_FRAMES)
        for (start, end), result in zip(spans, results, strict=True):
            silent = is_silent(result.no_speech_prob, result.avg_logprob)
            yield ChunkText(span=(start + offset, end + offset), text="" if silent else result.text, words=(),
                            avg_logprob=round(result.avg_logprob, 4), no_speech_prob=round(result.no_speech_prob, 4),
                            compression_ratio=compression_ratio(result.text), tokens=() if silent else result.ids,
                            temperature=options.temperature)

    def decode_piece(self, audio: np.ndarray, language: str, prompt: str) -> str:
        """Greedy, text-only decoding of one short piece (≤ 30 s) of a live turn, prompted with the turn's text so
        far; a piece Whisper deems silent comes back empty."""
        result = self.runtime.decode_windows(
            [audio], language=language, task="transcribe", prompt=prompt, prompt_tokens=PIECE_PROMPT_TOKENS,
            beam_size=1, temperature=0.0, min_frames=SHORT_WINDOW_MIN_FRAMES, margin_frames=SHORT_WINDOW_MARGIN_FRAMES,
            max_new_tokens=int(8 + PIECE_TOKENS_PER_SECOND * len(audio) / SAMPLE_RATE))[0]
        return "" if is_silent(result.no_speech_prob, result.avg_logprob) else result.text.strip()

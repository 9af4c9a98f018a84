"""Piper voices (VITS models in ONNX) through the ``piper-tts`` package, which phonemises with its own espeak-ng.

The ONNX Runtime session is built here rather than by ``PiperVoice.load`` so that threads and graph optimisation
are ours to set, and the voice is warmed up at load so the first request does not pay for kernel set-up.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from habla.errors import ModelCorrupt, ModelNotFound
from habla.hardware import physical_cores
from habla.tts.protocol import AudioChunk, Voice

log = logging.getLogger(__name__)
_PEAK = 0.95
# Piper's raw output peaks around 0.5-0.75; a fixed gain keeps loudness even from sentence to sentence
# (piper's own per-sentence normalisation makes every sentence peak at full scale).
_GAIN = 1.6


def _import_piper() -> tuple[Any, Any, Any]:  # onnxruntime, PiperVoice, SynthesisConfig (the optional extra)
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import SynthesisConfig
    except ImportError as exc:
        raise ModelNotFound("Piper voices need the piper-tts package", hint='pip install "habla[tts]"') from exc
    return onnxruntime, PiperVoice, SynthesisConfig


def read_voice_config(config_path: Path) -> dict:
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelCorrupt(f"Piper voice config {config_path} is unreadable: {exc}") from exc


class PiperEngine:
    """One loaded Piper voice. Thread-safe: ONNX Runtime sessions allow concurrent runs and piper serialises
    its espeak-ng phonemiser behind a lock."""

    name = "piper"

    def __init__(self, voice: Voice, model_path: Path, threads: int = 0, warm_up: bool = True) -> None:
        ort, piper_voice_cls, self._synthesis_config = _import_piper()
        config_path = Path(f"{model_path}.json")
        self.voice = voice
        options = ort.SessionOptions()
        # Intra-op threads do the work of one sentence; more inter-op threads only add contention on small CPUs.
        options.intra_op_num_threads = threads or physical_cores()
        options.inter_op_num_threads = 1
        # Spinning workers burn the cores they wait on: with Whisper or another process busy on a 2-core machine,
        # 2 spinning threads measured RTF 0.13 against 0.08 without spinning (scripts/bench_tts.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors on a bad file
            raise ModelCorrupt(f"Piper voice {voice.name!r} failed to load: {exc}",
                               hint="reinstall the voice package") from exc
        from piper.config import PiperConfig

        self._piper = piper_voice_cls(session=session, config=PiperConfig.from_dict(read_voice_config(config_path)))
        self._length_scale = float(self._piper.config.length_scale)
        if warm_up:
            for _ in self.synthesize("Hello.", voice):
                pass

    def voices(self) -> list[Voice]:
        return [self.voice]

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0,
                   cancel: threading.Event | None = None) -> Iterator[AudioChunk]:
        """Audio per sentence as espeak-ng's phonemiser splits ``text`` (callers usually pass one sentence)."""
        config = self._synthesis_config(length_scale=self._length_scale / speed, normalize_audio=False)
        rate = self._piper.config.sample_rate
        for sentence_phonemes in self._piper.phonemize(text):
            if cancel is not None and cancel.is_set():
                return
            if not sentence_phonemes:
                continue
            ids = self._piper.phonemes_to_ids(sentence_phonemes)
            audio = np.asarray(self._piper.phoneme_ids_to_audio(ids, config), dtype=np.float32).reshape(-1)
            yield AudioChunk(_level(audio), rate, text)


def _level(audio: np.ndarray) -> np.ndarray:
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    gain = _GAIN if peak * _GAIN <= _PEAK else _PEAK / max(peak, 1e-6)
    return audio * gain

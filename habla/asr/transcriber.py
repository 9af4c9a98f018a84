"""The one entry point for transcription: resolves models through the store and shares loaded engines."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from habla.asr.options import DecodeGuards, TranscribeOptions
from habla.asr.pipeline import ProgressCallback, SpeechCallback, TranscriptionRun
from habla.asr.types import Transcript
from habla.asr.whisper import WhisperEngine
from habla.audio.decode import AudioSource
from habla.config import Settings, load_settings
from habla.models.manager import ModelManager
from habla.models.store import ModelStore


class Transcriber:
    """Thread-safe. One per process is enough: models load once and are shared by every call."""

    def __init__(self, settings: Settings | None = None, on_load: Callable[[Hashable, float], None] | None = None,
                 on_unload: Callable[[Hashable], None] | None = None, store: ModelStore | None = None) -> None:
        self.settings = settings or load_settings()
        self.store = store or ModelStore(self.settings.models)
        self.models: ModelManager[WhisperEngine] = ModelManager(
            self._load, idle_seconds=self.settings.asr.idle_unload_seconds, on_load=on_load, on_unload=on_unload)

    def default_options(self, **overrides: object) -> TranscribeOptions:
        asr = self.settings.asr
        values: dict[str, object] = dict(beam_size=asr.beam_size, batch_size=asr.batch_size, vad=asr.vad,
                                         block_seconds=asr.block_seconds,
                                         condition_on_previous_text=asr.condition_on_previous_text,
                                         guards=DecodeGuards.from_settings(asr))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return TranscribeOptions(**values)  # type: ignore[arg-type]

    def stream(self, source: AudioSource, model: str | None = None, options: TranscribeOptions | None = None,
               cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None,
               on_speech: SpeechCallback | None = None) -> TranscriptionRun:
        """Start a transcription; ``run.info`` is ready at once, iterate ``run`` for segments as decoded."""
        name = model or self.settings.asr.model
        return TranscriptionRun(self.models.use(name), source, options or self.default_options(), name,
                                cancel=cancel, on_progress=on_progress, on_speech=on_speech)

    def transcribe(self, source: AudioSource, model: str | None = None, options: TranscribeOptions | None = None,
                   cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None) -> Transcript:
        return self.stream(source, model, options, cancel, on_progress).result()

    def warm(self, model: str | None = None) -> None:
        """Load a model now (e.g. at server start) rather than on the first request."""
        with self.models.use(model or self.settings.asr.model):
            pass

    def _load(self, key: Hashable) -> WhisperEngine:
        name = str(key)
        location = self.store.locate(name)
        asr = self.settings.asr
        return WhisperEngine(str(location.path), name=name, device=asr.device, compute_type=asr.compute_type,
                             cpu_threads=asr.cpu_threads, parallel=asr.parallel)

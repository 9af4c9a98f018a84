"""The one entry point for transcription: resolves models through the store and shares loaded engines."""

from __future__ import annotations

import threading
from typing import Any
from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager

from habla.asr.batching import BatchedEngine, BatchObserver, BatchScheduler, Priority
from habla.asr.options import DecodeGuards, TranscribeOptions
from habla.asr.pipeline import ProgressCallback, SpeechCallback, TranscriptionRun
from habla.asr.protocol import ASREngine
from habla.asr.types import Transcript
from habla.asr.whisper import WhisperEngine
from habla.audio.decode import AudioSource
from habla.config import ASRSettings, BatchingSettings, Settings, load_settings
from habla.models.manager import ModelManager
from habla.models.store import ModelStore


class Transcriber:
    """Thread-safe. One per process is enough: models load once and are shared by every call.

    With ``batching.enabled`` every loaded model gets one BatchScheduler, and each transcription decodes through
    it, so concurrent transcriptions share model calls (habla/asr/batching.py)."""

    def __init__(self, asr: ASRSettings, batching: BatchingSettings, store: ModelStore,
                 on_load: Callable[[Hashable, float], None] | None = None,
                 on_unload: Callable[[Hashable], None] | None = None,
                 batch_observer: BatchObserver | None = None) -> None:
        self.asr, self.batching, self.store = asr, batching, store
        self._on_unload = on_unload
        self.models: ModelManager[WhisperEngine] = ModelManager(
            self._load, idle_seconds=asr.idle_unload_seconds, on_load=on_load, on_unload=self._unloaded)
        self.batch_observer = batch_observer
        self._schedulers: dict[Hashable, BatchScheduler] = {}
        self._schedulers_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings | None = None, store: ModelStore | None = None,
                      **hooks: Any) -> Transcriber:
        """From the whole configuration (loaded from the environment when not given), with a store of its own
        unless one is shared; ``hooks``: ``on_load``, ``on_unload``, ``batch_observer``."""
        settings = settings or load_settings()
        return cls(settings.asr, settings.batching, store or ModelStore(settings.models), **hooks)

    def default_options(self, **overrides: object) -> TranscribeOptions:
        asr = self.asr
        values: dict[str, object] = dict(beam_size=asr.beam_size, batch_size=asr.batch_size, vad=asr.vad,
                                         block_seconds=asr.block_seconds,
                                         condition_on_previous_text=asr.condition_on_previous_text,
                                         guards=DecodeGuards.from_settings(asr))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return TranscribeOptions(**values)  # type: ignore[arg-type]

    def stream(self, source: AudioSource, model: str | None = None, options: TranscribeOptions | None = None,
               cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None,
               on_speech: SpeechCallback | None = None, priority: Priority = "interactive",
               principal: str = "") -> TranscriptionRun:
        """Start a transcription; ``run.info`` is ready at once, iterate ``run`` for segments as decoded.

        ``priority`` and ``principal`` (who asks: an API key's principal, a job) order the batching queue."""
        name = model or self.asr.model
        cancel = cancel or threading.Event()
        engine: AbstractContextManager[ASREngine] = self.models.use(name)
        if self.batching.enabled:
            engine = self._batched(name, priority, principal, cancel)
        return TranscriptionRun(engine, source, options or self.default_options(), name, cancel=cancel,
                                on_progress=on_progress, on_speech=on_speech)

    def transcribe(self, source: AudioSource, model: str | None = None, options: TranscribeOptions | None = None,
                   cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None,
                   priority: Priority = "interactive", principal: str = "") -> Transcript:
        return self.stream(source, model, options, cancel, on_progress, priority=priority,
                           principal=principal).result()

    def queued_chunks(self) -> int:
        """Speech chunks waiting for a model call, over every loaded model."""
        with self._schedulers_lock:
            schedulers = list(self._schedulers.values())
        return sum(s.queued_chunks() for s in schedulers)

    @contextmanager
    def _batched(self, name: str, priority: Priority, principal: str,
                 cancel: threading.Event) -> Iterator[ASREngine]:
        with self.models.use(name) as engine:
            view = BatchedEngine(self._scheduler(name, engine), priority, principal, cancel)
            view.expect()  # before the audio is decoded and its speech found (batching.py, "Filling windows")
            try:
                yield view
            finally:
                view.close()

    def _scheduler(self, name: Hashable, engine: ASREngine) -> BatchScheduler:
        with self._schedulers_lock:
            scheduler = self._schedulers.get(name)
            if scheduler is None or scheduler.engine is not engine:  # first use, or the model was reloaded
                if scheduler is not None:
                    scheduler.close()
                scheduler = BatchScheduler(engine, self.batching, self.batch_observer).start()
                self._schedulers[name] = scheduler
            return scheduler

    def _unloaded(self, key: Hashable) -> None:
        with self._schedulers_lock:
            scheduler = self._schedulers.pop(key, None)
        if scheduler is not None:
            scheduler.close()
        if self._on_unload:
            self._on_unload(key)

    def warm(self, model: str | None = None) -> None:
        """Load a model now (e.g. at server start) rather than on the first request."""
        with self.models.use(model or self.asr.model):
            pass

    def _load(self, key: Hashable) -> WhisperEngine:
        name = str(key)
        location = self.store.locate(name)
        asr = self.asr
        return WhisperEngine(str(location.path), name=name, device=asr.device, compute_type=asr.compute_type,
                             cpu_threads=asr.cpu_threads, parallel=asr.parallel,
                             short_window_seconds=asr.short_window_seconds,
                             short_window_languages=frozenset(asr.short_window_languages),
                             trimmed_detection=asr.trimmed_detection)

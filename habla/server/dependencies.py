"""The app's engines, built once in the lifespan and handed to routes as FastAPI dependencies.

``Engines`` is the one container: one ModelStore shared by ASR, LLM and TTS, the Transcriber, the JobService, the
LLMService, the Speaker, the voice engines and the tutor, plus the admission ``Slots``. Building it loads nothing
(models load on first use); ``close`` unloads what was loaded. Routes ask for what they use with the ``*Dep``
aliases, e.g. ``def chat(llm: LLMDep)``; a test can swap one with ``app.dependency_overrides``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from habla.asr.transcriber import Transcriber
from habla.config import Settings
from habla.jobs.service import JobService, JobServiceSettings
from habla.llm.service import LLMService
from habla.models.store import ModelStore
from habla.server.limits import Slots
from habla.server.metrics import Metrics
from habla.server.probes import StorageProbe
from habla.tts.speaker import Speaker
from habla.tutor.history import TutorStore
from habla.tutor.service import TutorService
from habla.voice.engines import VoiceEngines
from habla.voice.session import VoiceSession

if TYPE_CHECKING:
    from habla.diarize.service import Diarizer


@dataclass
class Engines:
    settings: Settings
    metrics: Metrics
    slots: Slots
    store: ModelStore
    transcriber: Transcriber
    jobs: JobService
    llm: LLMService
    speaker: Speaker
    voice: VoiceEngines
    tutor: TutorService
    voice_sessions: set[VoiceSession]
    storage_probe: StorageProbe
    _diarizer: Diarizer | None = field(default=None, init=False)
    _diarizer_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def diarizer(self) -> Diarizer:
        """The speaker-diarization engine, made on first use: habla[diarize] is optional (its import fails with
        a hint to install it), and a server that never diarizes never loads it."""
        with self._diarizer_lock:
            if self._diarizer is None:
                from habla.diarize.service import Diarizer

                self._diarizer = Diarizer(self.settings.diarize, self.store)
            return self._diarizer

    def close(self) -> None:
        """Stop the job workers and unload every model (the lifespan's exit)."""
        self.jobs.stop()
        self.transcriber.models.unload_all()
        self.llm.close()
        self.speaker.engines.unload_all()


def build_engines(settings: Settings, metrics: Metrics, slots: Slots) -> Engines:
    """Every service of the server, sharing one ModelStore and one Transcriber. Cheap: nothing is loaded."""
    store = ModelStore(settings.models)
    # The model runs as many transcriptions at once as the server admits (CTranslate2 would queue the rest).
    # Without batching the model runs as many transcriptions at once as the server admits (CTranslate2 would
    # queue the rest); with it, the scheduler makes ``batching.workers`` model calls at a time.
    parallel = settings.batching.workers if settings.batching.enabled else settings.server.max_concurrency
    parallel = max(settings.asr.parallel, parallel)
    transcriber = Transcriber(settings.asr.model_copy(update={"parallel": parallel}), settings.batching, store,
                              on_load=metrics.on_model_load, on_unload=metrics.on_model_unload, batch_observer=metrics)
    metrics.watch_batching(transcriber.queued_chunks)
    jobs = JobService(JobServiceSettings.from_settings(settings), transcriber)
    llm = LLMService(settings.llm, settings.assistant, store)
    speaker = Speaker(settings.tts, store)
    voice = VoiceEngines(transcriber, llm, speaker)
    tutor = TutorService(settings.tutor, settings.home, TutorStore(jobs.store.engine), jobs.storage.objects,
                         transcriber, llm, speaker)
    return Engines(settings=settings, metrics=metrics, slots=slots, store=store, transcriber=transcriber, jobs=jobs,
                   llm=llm, speaker=speaker, voice=voice, tutor=tutor, voice_sessions=set(),
                   storage_probe=StorageProbe(jobs.cached_storage_health, jobs.storage_health, jobs.storage_backend))


def engines(conn: HTTPConnection) -> Engines:
    """The container the lifespan put on ``app.state`` (HTTP requests and WebSockets alike)."""
    found: Engines = conn.app.state.engines
    return found


def _settings(conn: HTTPConnection) -> Settings:
    found: Settings = conn.app.state.settings
    return found


def _slots(conn: HTTPConnection) -> Slots:
    found: Slots = conn.app.state.slots
    return found


def _transcriber(e: Annotated[Engines, Depends(engines)]) -> Transcriber:
    return e.transcriber


def _jobs(e: Annotated[Engines, Depends(engines)]) -> JobService:
    return e.jobs


def _llm(e: Annotated[Engines, Depends(engines)]) -> LLMService:
    return e.llm


def _speaker(e: Annotated[Engines, Depends(engines)]) -> Speaker:
    return e.speaker


def _voice(e: Annotated[Engines, Depends(engines)]) -> VoiceEngines:
    return e.voice


def _tutor(e: Annotated[Engines, Depends(engines)]) -> TutorService:
    return e.tutor


EnginesDep = Annotated[Engines, Depends(engines)]
SettingsDep = Annotated[Settings, Depends(_settings)]
SlotsDep = Annotated[Slots, Depends(_slots)]
TranscriberDep = Annotated[Transcriber, Depends(_transcriber)]
JobsDep = Annotated[JobService, Depends(_jobs)]
LLMDep = Annotated[LLMService, Depends(_llm)]
SpeakerDep = Annotated[Speaker, Depends(_speaker)]
VoiceEnginesDep = Annotated[VoiceEngines, Depends(_voice)]
TutorDep = Annotated[TutorService, Depends(_tutor)]

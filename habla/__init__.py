"""habla: local-first speech AI. ``habla.transcribe("talk.mp3", language="es")`` returns a Transcript."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from habla.asr.types import Segment, Transcript, TranscriptInfo, Word
from habla.errors import HablaError

if TYPE_CHECKING:
    from habla.asr.pipeline import TranscriptionRun
    from habla.asr.transcriber import Transcriber
    from habla.audio.decode import AudioSource

__version__ = "0.1.0"
__all__ = ["HablaError", "Segment", "Transcript", "TranscriptInfo", "Word", "__version__", "default_transcriber",
           "stream", "transcribe"]

_default: Transcriber | None = None
_default_lock = threading.Lock()


def default_transcriber() -> Transcriber:
    """The process-wide Transcriber, created on first use so that importing habla does no work."""
    global _default
    with _default_lock:
        if _default is None:
            from habla.asr.transcriber import Transcriber

            _default = Transcriber()
        return _default


def transcribe(audio: AudioSource, model: str | None = None, **options: Any) -> Transcript:
    """Transcribe a file path, bytes, file object or 16 kHz float32 array; options as in TranscribeOptions."""
    t = default_transcriber()
    return t.transcribe(audio, model, t.default_options(**options))


def stream(audio: AudioSource, model: str | None = None, **options: Any) -> TranscriptionRun:
    """Like transcribe(), but iterate the result to get segments as they are decoded; ``.info`` comes first."""
    t = default_transcriber()
    return t.stream(audio, model, t.default_options(**options))

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
    from habla.diarize.service import Diarizer

__version__ = "0.1.0"
__all__ = ["HablaError", "Segment", "Transcript", "TranscriptInfo", "Word", "__version__", "default_diarizer",
           "default_transcriber", "stream", "transcribe"]

_default: Transcriber | None = None
_default_diarizer: Diarizer | None = None
_default_lock = threading.Lock()


def default_transcriber() -> Transcriber:
    """The process-wide Transcriber, created on first use so that importing habla does no work."""
    global _default
    with _default_lock:
        if _default is None:
            from habla.asr.transcriber import Transcriber

            _default = Transcriber.from_settings()
        return _default


def default_diarizer() -> Diarizer:
    """The process-wide Diarizer (speaker embeddings load on first use)."""
    global _default_diarizer
    with _default_lock:
        if _default_diarizer is None:
            from habla.diarize.service import Diarizer

            _default_diarizer = Diarizer.from_settings(store=_default.store if _default is not None else None)
        return _default_diarizer


def transcribe(audio: AudioSource, model: str | None = None, *, diarize: bool = False, speakers: int | None = None,
               min_speakers: int | None = None, max_speakers: int | None = None,
               known_speakers: dict[str, Any] | None = None, **options: Any) -> Transcript:
    """Transcribe a file path, bytes, file object or 16 kHz float32 array; options as in TranscribeOptions.

    ``diarize=True`` labels speakers (``segment.speaker``, ``word.speaker``); ``speakers`` fixes their number,
    ``min_speakers``/``max_speakers`` bound it; ``known_speakers`` maps names to a reference clip of each voice
    (any audio source) so those speakers are named.
    """
    t = default_transcriber()
    if not (diarize or known_speakers or any(c is not None for c in (speakers, min_speakers, max_speakers))):
        return t.transcribe(audio, model, t.default_options(**options))
    from habla.audio.decode import decode
    from habla.diarize.service import KnownSpeaker
    from habla.diarize.transcribe import transcribe_with_speakers

    d = default_diarizer()
    known = [KnownSpeaker(name, decode(clip)) for name, clip in (known_speakers or {}).items()]
    return transcribe_with_speakers(t, d, audio, model, t.default_options(**options),
                                    d.speaker_options(speakers, min_speakers, max_speakers), known)


def stream(audio: AudioSource, model: str | None = None, **options: Any) -> TranscriptionRun:
    """Like transcribe(), but iterate the result to get segments as they are decoded; ``.info`` comes first."""
    t = default_transcriber()
    return t.stream(audio, model, t.default_options(**options))

"""Transcription with speakers: the transcription's own blocks and VAD spans feed the speaker embeddings, then
turns are matched to word timings. Word timings are computed (needed to split at speaker changes) and dropped
again from the result unless the caller asked for them."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from habla.asr.options import TranscribeOptions
from habla.asr.pipeline import ProgressCallback, SpeechCallback
from habla.asr.transcriber import Transcriber
from habla.asr.types import Transcript
from habla.audio.decode import AudioSource
from habla.diarize.assign import assign_speakers
from habla.diarize.pipeline import Diarization
from habla.diarize.protocol import SpeakerOptions
from habla.diarize.service import Diarizer, KnownSpeaker


@dataclass
class SpeakerPass:
    """Hand ``options`` and ``on_speech`` to ``Transcriber.stream``; ``label`` the finished transcript."""

    diarizer: Diarizer
    run: Diarization
    requested: TranscribeOptions
    speakers: SpeakerOptions | None
    known: Sequence[KnownSpeaker]

    @property
    def options(self) -> TranscribeOptions:
        return self.requested.with_(word_timestamps=True)

    @property
    def on_speech(self) -> SpeechCallback:
        return self.run.add

    def label(self, transcript: Transcript) -> Transcript:
        turns = self.diarizer.finish(self.run, self.speakers, self.known).turns
        labelled = assign_speakers(transcript, turns)
        if not self.requested.word_timestamps:
            labelled.segments = [replace(s, words=()) for s in labelled.segments]
        return labelled


@contextmanager
def speaker_pass(diarizer: Diarizer, options: TranscribeOptions, speakers: SpeakerOptions | None = None,
                 known: Sequence[KnownSpeaker] = ()) -> Iterator[SpeakerPass]:
    with diarizer.session() as run:
        yield SpeakerPass(diarizer, run, options, speakers, known)


def transcribe_with_speakers(transcriber: Transcriber, diarizer: Diarizer, source: AudioSource,
                             model: str | None = None, options: TranscribeOptions | None = None,
                             speakers: SpeakerOptions | None = None, known: Sequence[KnownSpeaker] = (),
                             cancel: threading.Event | None = None,
                             on_progress: ProgressCallback | None = None) -> Transcript:
    with speaker_pass(diarizer, options or transcriber.default_options(), speakers, known) as sp:
        stream = transcriber.stream(source, model, sp.options, cancel=cancel, on_progress=on_progress,
                                    on_speech=sp.on_speech)
        return sp.label(stream.result())

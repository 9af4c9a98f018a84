"""TutorService: personas, sessions and turns. A turn is: the learner's audio (or text) → transcript in the target
language with word probabilities → corrections (LLM) and pronunciation hints (ASR) → the tutor's reply (LLM, with
the persona, level and session history) → the reply spoken in the persona's voice.

Engines are shared with the rest of the server (one Transcriber, one LLMService, one Speaker); the history lives
in the jobs database, so a session goes on after a restart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from habla.asr.types import Transcript
from habla.audio.decode import SAMPLE_RATE, decode
from habla.errors import Cancelled, HablaError, InvalidOption
from habla.tutor.conversation import reply_messages
from habla.tutor.feedback import (
    Correction,
    correction_prompt,
    parse_corrections,
    pronunciation_hints,
    same_script,
)
from habla.tutor.files import TutorFiles, container_name
from habla.tutor.history import PersonaNotFound, Session, Turn, TurnNotFound, TutorStore
from habla.tutor.personas import BUILTIN, Persona
from habla.tutor.report import Report, build_report

if TYPE_CHECKING:
    from habla.asr.transcriber import Transcriber
    from habla.config import TutorSettings
    from habla.llm.service import LLMService
    from habla.storage import ObjectStore
    from habla.tts.speaker import Speaker

log = logging.getLogger(__name__)
T = TypeVar("T")
# Said when the LLM gives nothing usable (the 270M model sometimes answers with junk): the turn still completes.
FALLBACK_REPLY = {"es": "Perdona, no te he entendido bien. ¿Puedes decirlo de otra manera?",
                  "en": "Sorry, I didn't quite get that. Could you say it another way?"}


class NoSpeech(InvalidOption):
    code = "no_speech"


class TutorService:
    """Thread-safe. Turns of one session run one at a time (their numbers and history depend on the last)."""

    def __init__(self, tutor: TutorSettings, home: Path, store: TutorStore, objects: ObjectStore | Path,
                 transcriber: Transcriber, llm: LLMService, speaker: Speaker) -> None:
        if isinstance(objects, Path):
            from habla.storage.local import LocalObjectStore

            objects = LocalObjectStore(objects)
        self.tutor, self.store = tutor, store
        self.files = TutorFiles(objects, Path(home) / "tutor" / "scratch")
        self.transcriber, self.llm, self.speaker = transcriber, llm, speaker
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- personas ---------------------------------------------------------------------------------------
    def personas(self) -> list[Persona]:
        return [*BUILTIN.values(), *self.store.personas()]

    def persona(self, persona_id: str) -> Persona:
        found = BUILTIN.get(persona_id) or self.store.persona(persona_id)
        if found is None:
            raise PersonaNotFound(f"no persona {persona_id!r}", hint="list them with GET /v1/tutor/personas")
        return found

    def create_persona(self, persona: Persona) -> Persona:
        """Check the voice speaks the persona's language and record its sample before storing the persona."""
        if persona.id in BUILTIN:
            raise InvalidOption(f"{persona.id!r} is a built-in persona", hint="choose another id")
        voice = self.speaker.registry.resolve(persona.voice, persona.language)
        persona = Persona(**{**persona.to_dict(), "voice": voice.name, "builtin": False})
        self._write_sample(persona)
        try:
            self.store.add_persona(persona)
        except BaseException:
            self.files.discard(self.files.speaker_sample(persona.id))
            raise
        return persona

    def speaker_sample(self, persona: Persona) -> Path:
        """The persona's reference audio: its greeting in its voice, synthesised once and kept."""
        path = self.files.fetch(self.files.speaker_sample(persona.id))
        if path is None:
            self._write_sample(persona)
            path = self.files.fetch(self.files.speaker_sample(persona.id))
        assert path is not None
        return path

    def _write_sample(self, persona: Persona) -> None:
        from habla.tts.encode import write_file

        name = self.files.speaker_sample(persona.id)
        path = self.files.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{threading.get_ident()}.wav")  # never a half-written sample
        run = self.speaker.speak(persona.sample_text(), self.speaker.options(voice=persona.voice,
                                                                              language=persona.language))
        write_file(run, tmp, "wav", self.speaker.tts.sample_rate)
        os.replace(tmp, path)
        self.files.publish(name)

    # -- sessions ---------------------------------------------------------------------------------------
    # ``owner``: the calling principal; a session is only its owner's (None = any, for admins and the CLI).
    def start(self, persona_id: str, owner: str | None = None) -> Session:
        persona = self.persona(persona_id)
        self.speaker_sample(persona)
        return self.store.create_session(persona, owner)

    def session(self, session_id: str, owner: str | None = None) -> Session:
        return self.store.session(session_id, owner)

    def sessions(self, limit: int = 20, owner: str | None = None) -> list[Session]:
        return self.store.sessions(limit, owner)

    def history(self, session_id: str, owner: str | None = None) -> tuple[Session, list[Turn]]:
        return self.store.session(session_id, owner), self.store.turns(session_id)

    def report(self, session_id: str, owner: str | None = None) -> Report:
        session, turns = self.history(session_id, owner)
        return build_report(session, turns)

    def audio_path(self, session_id: str, number: int, which: str, owner: str | None = None) -> Path:
        self.store.session(session_id, owner)
        turn = self.store.turn(session_id, number)
        name = turn.user_audio if which == "user" else turn.reply_audio
        path = self.files.fetch(name) if name else None
        if path is None:
            raise TurnNotFound(f"turn {number} of session {session_id} has no {which} audio",
                               hint="a typed turn has no user audio")
        return path

    # -- turns ------------------------------------------------------------------------------------------
    def turn(self, session_id: str, audio: BinaryIO | None = None, text: str | None = None,
             owner: str | None = None, cancel: threading.Event | None = None) -> Turn:
        """One exchange. Exactly one of ``audio`` (any format habla decodes) or ``text`` is given. Setting
        ``cancel`` (the client went away) stops transcription, the LLM at its next token and TTS at its next
        sentence; the turn then raises Cancelled and keeps nothing."""
        cancel = cancel or threading.Event()
        session = self.store.session(session_id, owner)  # another principal's session: 404 before anything else
        if (audio is None) == (text is None or not text.strip()):
            raise InvalidOption("send either audio or text for a turn, not both or neither")
        with self._session_lock(session_id):
            number = self.store.next_number(session_id)
            if audio is not None:
                return self._audio_turn(session, number, audio, cancel)
            return self._finish(session, number, "text", self._check_text(text or ""), [], None, None, 0.0, {},
                                cancel)

    def _check_text(self, text: str) -> str:
        text = " ".join(text.split())
        if len(text) > self.tutor.max_text_chars:
            raise InvalidOption(f"the text has {len(text)} characters; at most "
                                f"{self.tutor.max_text_chars} are accepted")
        return text

    def _audio_turn(self, session: Session, number: int, audio: BinaryIO, cancel: threading.Event) -> Turn:
        part = self.files.save_upload(audio, session.id, number, self.tutor.max_upload_mb << 20)
        kept: str | None = None
        try:
            path = self.files.path(part)
            if path.stat().st_size == 0:
                raise InvalidOption("the uploaded audio is empty (0 bytes)")
            timings: dict[str, float] = {}
            pcm = decode(path)  # AudioDecodeError for anything that is not audio
            if len(pcm) > self.tutor.max_turn_seconds * SAMPLE_RATE:
                raise InvalidOption(f"the turn is {len(pcm) / SAMPLE_RATE:.0f} s long; at most "
                                    f"{self.tutor.max_turn_seconds:.0f} s are accepted",
                                    hint="say a few sentences at a time")
            kept = self.files.keep(part, container_name(path))
            transcript = _timed(timings, "asr", lambda: self._transcribe(pcm, session.persona.language, cancel))
            if not transcript.text.strip():
                raise NoSpeech("no speech was heard in the audio", hint="speak closer to the microphone")
            words = [w for s in transcript.segments for w in s.words]
            hints = pronunciation_hints(words, session.persona.language, self.tutor.pronunciation_threshold)
            stored = self.files.write_json(kept.rsplit(".", 1)[0] + ".json", transcript.to_dict())
            seconds = sum(s.end - s.start for s in transcript.segments) or len(pcm) / SAMPLE_RATE
            word_rows = [{"word": w.word.strip(), "start": w.start, "end": w.end,
                          "probability": round(float(w.probability), 3)} for w in words]
            return self._finish(session, number, "audio", transcript.text.strip(), word_rows, kept, stored,
                                round(seconds, 2), timings, cancel, hints)
        except BaseException:
            self.files.discard(part, kept, kept and kept.rsplit(".", 1)[0] + ".json")
            raise

    def _transcribe(self, pcm: object, language: str, cancel: threading.Event) -> Transcript:
        options = self.transcriber.default_options(language=language, word_timestamps=True)
        return self.transcriber.transcribe(pcm, options=options, cancel=cancel)  # type: ignore[arg-type]

    def _finish(self, session: Session, number: int, source: str, user_text: str, words: list[dict],
                user_audio: str | None, transcript: str | None, seconds: float, timings: dict[str, float],
                cancel: threading.Event, hints: list[Correction] | None = None) -> Turn:
        persona = session.persona
        history = self.store.turns(session.id)
        corrections = _timed(timings, "corrections", lambda: self._corrections(user_text, persona, cancel))
        _stop_if_cancelled(cancel)
        reply = _timed(timings, "reply", lambda: self._reply(persona, history, user_text, cancel))
        _stop_if_cancelled(cancel)
        reply_audio = self.files.reply_audio(session.id, number)
        try:
            _timed(timings, "tts", lambda: self._speak(persona, reply, reply_audio, cancel))
            _stop_if_cancelled(cancel)
        except BaseException:
            self.files.discard(reply_audio)
            raise
        timings["total"] = round(sum(timings.values()), 3)
        turn = Turn(session_id=session.id, number=number, created_at=time.time(), source=source,
                    user_text=user_text, words=words, corrections=[*corrections, *(hints or [])],
                    reply_text=reply, user_audio=user_audio, transcript=transcript, reply_audio=reply_audio,
                    speech_seconds=seconds, timings=timings)
        try:
            self.store.add_turn(turn)
        except BaseException:
            self.files.discard(reply_audio)
            raise
        log.info("tutor turn %s/%d: %s", session.id, number, timings)
        return turn

    def _corrections(self, user_text: str, persona: Persona, cancel: threading.Event) -> list[Correction]:
        if not self.tutor.corrections:
            return []
        messages = correction_prompt(user_text, persona.language, persona.language_name)
        try:
            with self.llm.engine() as engine:
                budget = engine.count_tokens(user_text) * 2 + 16
                # No repetition penalty: a correction repeats most of the sentence by design.
                options = self.llm.chat_options(max_tokens=budget, temperature=0.0, stop=("\n",), repeat_penalty=1.0)
                answer = engine.chat(messages, options, cancel).text()
        except HablaError as exc:  # an unreachable remote LLM, a refused request: the conversation goes on
            log.warning("no corrections for this turn: %s", exc)
            return []
        return parse_corrections(user_text, answer)

    def _reply(self, persona: Persona, history: list[Turn], user_text: str, cancel: threading.Event) -> str:
        from habla.tts.sentences import has_words, split_sentences
        from habla.voice.reply import trim_stray_tail

        tutor = self.tutor
        with self.llm.engine() as engine:
            messages = reply_messages(persona, history, user_text, engine.count_chat_tokens, tutor.context_tokens)
            # As in the voice loop: one line, and no repetition penalty (1.15 makes the 270M model run on).
            options = self.llm.chat_options(max_tokens=tutor.max_reply_tokens, stop=("\n",), repeat_penalty=1.0,
                                            temperature=tutor.reply_temperature, seed=len(history) + 1)
            text = engine.chat(messages, options, cancel).text()
        sentences = []
        for sentence in split_sentences(" ".join(text.split())):
            if not same_script(sentence, persona.sample_text() + persona.language_name):
                break  # the small model drifts into other scripts; what follows is junk too
            if has_words(sentence):
                sentences.append(sentence)
        sentences = sentences[:tutor.max_reply_sentences]
        if len(sentences) > 1 and sentences[-1][-1:] not in ".!?…":
            sentences.pop()  # unfinished text after a finished sentence: junk, or cut by max_tokens
        reply = trim_stray_tail(" ".join(sentences).strip())
        return reply if has_words(reply) else FALLBACK_REPLY.get(persona.language, FALLBACK_REPLY["en"])

    def _speak(self, persona: Persona, text: str, name: str, cancel: threading.Event) -> None:
        from habla.tts.encode import write_file

        path = self.files.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        run = self.speaker.speak(text, self.speaker.options(voice=persona.voice, language=persona.language),
                                 cancel)
        write_file(run, path, "wav", self.speaker.tts.sample_rate)
        self.files.publish(name)

    def _session_lock(self, session_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(session_id, threading.Lock())


def _stop_if_cancelled(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise Cancelled("the tutor turn was cancelled: the client went away")


def _timed(timings: dict[str, float], stage: str, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    try:
        return work()
    finally:
        timings[stage] = round(time.perf_counter() - start, 3)

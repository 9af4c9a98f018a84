"""Tutor logic without models: corrections parsed from LLM answers, pronunciation hints, reports, the store."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from habla.asr.types import Word
from habla.errors import InvalidOption
from habla.jobs.sql import make_engine
from habla.llm.protocol import ChatMessage
from habla.tutor.conversation import reply_messages
from habla.tutor.feedback import Correction, correction_prompt, parse_corrections, pronunciation_hints
from habla.tutor.history import SessionNotFound, Turn, TurnConflict, TutorStore
from habla.tutor.personas import BUILTIN, Persona
from habla.tutor.report import build_report
from tests.conftest import WordCountingLLM


# -- corrections -------------------------------------------------------------------------------------------
def test_a_corrected_verb_form_is_a_grammar_correction() -> None:
    out = parse_corrections("She don't like apples.", "She doesn't like apples.")
    assert out == [Correction("grammar", "don't", "doesn't", out[0].explanation)]


def test_another_word_is_a_word_choice_correction() -> None:
    [c] = parse_corrections("I very like it.", "I really like it.")
    assert (c.kind, c.original, c.suggestion) == ("word_choice", "very", "really")


def test_a_missing_word_is_added() -> None:
    [c] = parse_corrections("I go school every day.", "I go to school every day.")
    assert (c.kind, c.original, c.suggestion) == ("grammar", "", "to")
    assert "add" in c.explanation


@pytest.mark.parametrize("answer", [
    "Yo tengo veinte años y vivo en Madrid.iatrics",  # junk glued after the sentence (seen from the 270M model)
    "Yo tengo veinte años y vivo en Madrid. ¿Y tú?",  # the model went on talking
    "Corrected: \"Yo tengo veinte años y vivo en Madrid.\"\nYou correct sentences",  # a label, quotes, a 2nd line
])
def test_the_correction_is_found_in_a_noisy_answer(answer: str) -> None:
    [c] = parse_corrections("Yo soy veinte años y vivo en Madrid.", answer)
    assert (c.original, c.suggestion) == ("soy", "tengo")


@pytest.mark.parametrize("answer", [
    "",  # nothing
    "   \n\n",
    "Yo soy veinte años y vivo en Madrid.",  # an echo: nothing to correct
    "yo soy veinte años, y vivo en madrid",  # only case and punctuation differ
    "¿De dónde eres? Me gusta mucho Madrid, es una ciudad preciosa.",  # a reply, not a correction
    "Tengo veinte. Vivo lejos de aquí con mis padres y hermanos.",  # a rewrite
    "Yo soy veinte años y vivo en Madrid メイト",  # another script
    "Yo soy veinte 年 y vivo en Madrid.",
])
def test_a_bad_llm_answer_gives_no_correction(answer: str) -> None:
    assert parse_corrections("Yo soy veinte años y vivo en Madrid.", answer) == []


def test_the_correction_prompt_shows_examples_in_the_target_language() -> None:
    messages = correction_prompt("Ayer voy al cine.", "es", "Spanish")
    assert messages[0].role == "system" and "Spanish" in messages[0].content
    assert messages[-1] == ChatMessage("user", "Ayer voy al cine.")
    assert any("tengo" in m.content for m in messages if m.role == "assistant")


# -- pronunciation -----------------------------------------------------------------------------------------
def _w(word: str, p: float) -> Word:
    return Word(0.0, 0.5, f" {word}", p)


def test_words_heard_with_low_probability_get_one_hint_each() -> None:
    words = [_w("perro", 0.2), _w("come", 0.95), _w("Perro,", 0.3), _w("mañana", 0.4), _w("12", 0.1),
             _w("hola", 0.5)]
    hints = pronunciation_hints(words, "es", threshold=0.5)
    assert [(h.kind, h.original, h.probability) for h in hints] == [("pronunciation", "perro", 0.2),
                                                                     ("pronunciation", "mañana", 0.4)]
    assert "rr" in hints[0].explanation and "ñ" in hints[1].explanation


def test_the_threshold_decides_which_words_get_hints() -> None:
    words = [_w("think", 0.6), _w("walked", 0.3)]
    assert [h.original for h in pronunciation_hints(words, "en", 0.7)] == ["think", "walked"]
    assert [h.original for h in pronunciation_hints(words, "en", 0.5)] == ["walked"]
    assert pronunciation_hints(words, "en", 0.0) == []


# -- personas and prompts ----------------------------------------------------------------------------------
def test_builtin_personas_cover_spanish_and_english_with_their_voices() -> None:
    spanish, english = BUILTIN["spanish-teacher"], BUILTIN["english-partner"]
    assert (spanish.language, spanish.voice) == ("es", "espeak-es")
    assert (english.language, english.voice) == ("en", "en_US-joe-medium")
    assert "A2" in spanish.system_prompt() and "Spanish" in spanish.system_prompt()


@pytest.mark.parametrize("change", [{"level": "D1"}, {"id": "Bad Id"}, {"name": ""}, {"prompt": " "}])
def test_an_invalid_persona_is_refused(change: dict) -> None:
    with pytest.raises(InvalidOption):
        Persona(**{**BUILTIN["spanish-teacher"].to_dict(), **change})


def _turn(n: int, user: str, reply: str, corrections: list[Correction] = (), seconds: float = 0.0,
          session: str = "tut_x") -> Turn:
    return Turn(session, n, float(n), "text", user, [], list(corrections), reply, None, None, None, seconds)


def test_old_turns_are_dropped_when_the_history_is_over_budget() -> None:
    persona = BUILTIN["spanish-teacher"]
    history = [_turn(i, f"frase número {i}", f"respuesta {i}") for i in range(1, 30)]
    count = lambda messages: sum(len(m.content.split()) for m in messages)  # noqa: E731 - words as tokens
    full = reply_messages(persona, history, "hola", count, 10_000)
    short = reply_messages(persona, history, "hola", count, 150)
    assert len(full) == 1 + 4 + 2 * 29 + 1 and full[-1] == ChatMessage("user", "hola")
    assert count(short) <= 150 and short[-2].content == "respuesta 29" and short[5].role == "user"


# -- report ------------------------------------------------------------------------------------------------
def test_report_lists_mistakes_and_the_words_the_tutor_used_that_the_learner_did_not(tmp_path: Path) -> None:
    store = TutorStore(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    session = store.create_session(BUILTIN["spanish-teacher"])
    store.add_turn(_turn(1, "Yo soy veinte años.", "¡Qué joven! ¿Dónde vives?",
                         [Correction("grammar", "soy", "tengo", "another word")], 2.5, session.id))
    store.add_turn(_turn(2, "Vivo en Madrid, es muy joven.", "Madrid es preciosa. ¿Dónde trabajas?",
                         [Correction("pronunciation", "madrid", "madrid", "say it slowly", 0.3)], 3.0, session.id))
    report = build_report(store.session(session.id), store.turns(session.id))
    assert report.turn_count == 2 and report.speaking_seconds == 5.5 and report.words_spoken == 10
    assert [(m.turn, m.kind, m.original) for m in report.mistakes] == [(1, "grammar", "soy"),
                                                                       (2, "pronunciation", "madrid")]
    assert report.new_words == ["dónde", "vives", "preciosa", "trabajas"]  # not "joven", "madrid" (said)
    assert report.to_dict()["mistake_counts"] == {"grammar": 1, "pronunciation": 1}
    markdown = report.markdown()
    assert "“soy” → “tengo”" in markdown and "preciosa" in markdown and "Turns: 2" in markdown


def test_sessions_and_turns_survive_a_new_engine_on_the_same_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = TutorStore(make_engine(url))
    session = first.create_session(BUILTIN["english-partner"])
    first.add_turn(_turn(1, "hello", "Hi there!", session=session.id))
    first.add_persona(Persona(id="my-coach", name="Coach", language="en", level="C1", prompt="A coach.",
                              voice="espeak-en"))
    first.engine.dispose()
    again = TutorStore(make_engine(url))
    assert again.session(session.id).turn_count == 1 and again.session(session.id).persona.name == "Joe"
    assert again.turns(session.id)[0].reply_text == "Hi there!"
    assert [p.id for p in again.personas()] == ["my-coach"] and again.next_number(session.id) == 2
    with pytest.raises(TurnConflict):
        again.add_turn(_turn(1, "again", "same number", session=session.id))
    with pytest.raises(InvalidOption):
        again.add_persona(Persona(id="my-coach", name="C", language="en", level="A1", prompt="x", voice="v"))
    with pytest.raises(SessionNotFound):
        again.session("tut_missing")


# -- turn input checks (they run before any model is asked) ----------------------------------------------
def _service(tmp_path: Path, **tutor: object):
    from habla.config import Settings
    from habla.tutor.service import TutorService

    settings = Settings(home=tmp_path, tutor=tutor)
    store = TutorStore(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    return TutorService(settings.tutor, tmp_path, store, tmp_path / "files", None, None, None), store  # type: ignore[arg-type]


def test_a_turn_longer_than_the_limit_is_refused_and_not_kept(tmp_path: Path) -> None:
    import io

    import numpy as np

    from habla.audio.wav import write_wav

    service, store = _service(tmp_path, max_turn_seconds=5)
    session = store.create_session(BUILTIN["spanish-teacher"])
    wav = write_wav(tmp_path / "long.wav", np.zeros(16000 * 6, np.float32)).read_bytes()
    with pytest.raises(InvalidOption, match="6 s long"):
        service.turn(session.id, audio=io.BytesIO(wav))
    assert not list((tmp_path / "files" / "user_audios").rglob("*.*"))  # nothing kept (empty folders go too)
    assert store.turns(session.id) == []


@pytest.mark.parametrize("audio,text", [(None, None), (None, "   "), (b"RIFF", "hola")])
def test_a_turn_needs_audio_or_text_but_not_both(tmp_path: Path, audio: bytes | None, text: str | None) -> None:
    import io

    service, store = _service(tmp_path)
    session = store.create_session(BUILTIN["spanish-teacher"])
    with pytest.raises(InvalidOption, match="either audio or text"):
        service.turn(session.id, audio=io.BytesIO(audio) if audio is not None else None, text=text)


# -- a client that leaves stops its turn ----------------------------------------------------------------
class ReplyEngine(WordCountingLLM):
    """An LLM engine that says ``reply`` word by word, stopping at the cancel as the real ones do; the client
    leaves (``leave`` is set) after the first word of chat call number ``leave_on_call``."""

    def __init__(self, reply: str, leave: threading.Event, leave_on_call: int) -> None:
        self.reply, self.leave, self.leave_on_call = reply, leave, leave_on_call
        self.calls, self.words_after_cancel = 0, 0

    def chat(self, messages, options, cancel=None):  # noqa: ANN001, ANN201
        from habla.llm.protocol import ChatStream

        self.calls += 1
        call = self.calls
        assert cancel is not None, "the tutor must hand its cancel event to the LLM"

        def pieces() -> Iterator[str]:
            for i, word in enumerate(self.reply.split()):
                if cancel.is_set():
                    self.words_after_cancel = len(self.reply.split()) - i
                    return
                yield (" " if i else "") + word
                if call == self.leave_on_call:
                    self.leave.set()

        return ChatStream(pieces())


class FakeLLM:
    def __init__(self, engine: ReplyEngine) -> None:
        self._engine = engine

    @contextlib.contextmanager
    def engine(self) -> Iterator[ReplyEngine]:
        yield self._engine

    def chat_options(self, **options: object) -> dict[str, object]:
        return options


class FakeSpeaker:
    """Speaks one second of silence per sentence; the client leaves during the first one when ``leave`` is given."""

    def __init__(self, leave: threading.Event | None = None) -> None:
        from habla.config import TTSSettings

        self.leave, self.cancels, self.tts = leave, [], TTSSettings()

    def options(self, **options: object) -> dict[str, object]:
        return options

    def speak(self, text: str, options: object = None, cancel: threading.Event | None = None):  # noqa: ANN201
        import numpy as np

        from habla.tts.protocol import AudioChunk

        self.cancels.append(cancel)

        def chunks() -> Iterator[AudioChunk]:
            for sentence in ("one.", "two."):
                if cancel is not None and cancel.is_set():
                    return
                yield AudioChunk(np.zeros(24000, np.float32), 24000, sentence)
                if self.leave is not None:
                    self.leave.set()

        return chunks()


def _turn_service(tmp_path: Path, engine: ReplyEngine, speaker: FakeSpeaker):
    from habla.config import Settings
    from habla.tutor.service import TutorService

    settings = Settings(home=tmp_path)
    store = TutorStore(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    service = TutorService(settings.tutor, tmp_path, store, tmp_path / "files", None, FakeLLM(engine),  # type: ignore[arg-type]
                           speaker)
    return service, store, store.create_session(BUILTIN["spanish-teacher"])


def test_a_client_leaving_mid_reply_stops_the_llm_and_keeps_no_turn(tmp_path: Path) -> None:
    from habla.errors import Cancelled

    leave = threading.Event()
    engine = ReplyEngine("Muy bien, hablas muy bien el español hoy.", leave, leave_on_call=2)  # 1: corrections
    speaker = FakeSpeaker()
    service, store, session = _turn_service(tmp_path, engine, speaker)
    with pytest.raises(Cancelled):
        service.turn(session.id, text="Yo soy bien", cancel=leave)
    assert engine.calls == 2 and engine.words_after_cancel == 7  # the reply stopped after its first word
    assert speaker.cancels == []  # nothing was spoken
    assert store.turns(session.id) == []


def test_a_client_leaving_mid_speech_stops_tts_and_leaves_no_reply_audio(tmp_path: Path) -> None:
    from habla.errors import Cancelled

    leave = threading.Event()
    engine = ReplyEngine("Muy bien.", leave, leave_on_call=0)
    speaker = FakeSpeaker(leave)
    service, store, session = _turn_service(tmp_path, engine, speaker)
    with pytest.raises(Cancelled):
        service.turn(session.id, text="Yo soy bien", cancel=leave)
    assert speaker.cancels == [leave]
    assert store.turns(session.id) == []
    assert not [p for p in (tmp_path / "files").rglob("*.wav") if "reply" in str(p)]


def test_a_turn_nobody_leaves_is_kept_with_its_reply_audio(tmp_path: Path) -> None:
    engine = ReplyEngine("Muy bien.", threading.Event(), leave_on_call=0)
    service, store, session = _turn_service(tmp_path, engine, FakeSpeaker())
    turn = service.turn(session.id, text="Yo soy bien")
    assert turn.reply_text == "Muy bien." and [t.number for t in store.turns(session.id)] == [turn.number]
    assert turn.reply_audio and (tmp_path / "files" / turn.reply_audio).is_file()

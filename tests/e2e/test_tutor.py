"""The tutor against a live `habla serve` with the real Whisper base, Gemma-3-270M and espeak-ng/Piper voices:
a spoken Spanish turn (webm/opus, as browsers record), a typed turn, the report, a restart, and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from habla.asr.bench import Clip
from habla.audio.decode import decode
from habla.audio.wav import write_wav
from tests.conftest import HablaServer, encode

pytest.importorskip("cyllama", reason="needs habla[llm]")
CLIP = "ast-es-confbridge-begin-glorious-c"  # "La conferencia iniciará cuando nuestro glorioso líder llegue."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HablaServer]:
    with HablaServer(tmp_path_factory.mktemp("tutor")).start() as srv:
        yield srv


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory, clips: list[Clip]) -> tuple[Clip, Path]:
    clip = next(c for c in clips if c.id == CLIP)
    return clip, encode(tmp_path_factory.mktemp("webm") / "turn.webm", decode(clip.path), "libopus")


@pytest.fixture(scope="module")
def session(server: HablaServer) -> dict:
    r = server.http.post("/v1/tutor/sessions", json={"persona": "spanish-teacher"})
    assert r.status_code == 201, r.text
    return r.json()


def test_personas_include_a_spanish_teacher_and_an_english_partner(server: HablaServer) -> None:
    data = server.http.get("/v1/tutor/personas").json()["data"]
    by_id = {p["id"]: p for p in data}
    assert by_id["spanish-teacher"]["language"] == "es" and by_id["spanish-teacher"]["voice"] == "espeak-es"
    assert by_id["english-partner"]["language"] == "en" and by_id["english-partner"]["voice"] == "en_US-joe-medium"


def test_a_spoken_spanish_turn_is_transcribed_corrected_answered_and_saved(
        server: HablaServer, session: dict, spoken: tuple[Clip, Path]) -> None:
    clip, webm = spoken
    sample = server.home / "files" / "speakers" / "spanish-teacher.wav"
    assert sample.is_file() and len(decode(sample)) > 16000  # the speaker's reference audio, made at session start
    r = server.http.post(f"/v1/tutor/sessions/{session['id']}/turns",
                         files={"file": ("turn.webm", webm.read_bytes(), "audio/webm")}, timeout=300)
    assert r.status_code == 201, r.text
    turn = r.json()
    assert turn["number"] == 1 and turn["source"] == "audio"
    assert {"conferencia", "líder"} <= set(turn["user_text"].lower().replace(".", "").split()), turn["user_text"]
    assert turn["words"] and all(0 <= w["probability"] <= 1 for w in turn["words"])
    assert all(c["kind"] in ("grammar", "word_choice", "pronunciation") for c in turn["corrections"])
    assert turn["reply_text"].strip() and set(turn["timings"]) >= {"asr", "corrections", "reply", "tts"}
    folder = server.home / "files" / "user_audios" / session["id"]
    assert (folder / "1.webm").read_bytes() == webm.read_bytes()  # kept as sent, named after its container
    assert "conferencia" in (folder / "1.json").read_text(encoding="utf-8")
    user = server.http.get(turn["user_audio_url"])
    assert user.status_code == 200 and user.content == webm.read_bytes()
    reply = server.http.get(turn["reply_audio_url"])
    assert reply.status_code == 200 and len(decode(reply.content)) > 0.5 * 16000  # the reply decodes: > 0.5 s


def test_a_typed_turn_and_the_report(server: HablaServer, session: dict) -> None:
    r = server.http.post(f"/v1/tutor/sessions/{session['id']}/turns", data={"text": "Yo soy veinte años."},
                         timeout=300)
    assert r.status_code == 201, r.text
    assert r.json()["number"] == 2 and r.json()["user_audio_url"] is None
    report = server.http.get(f"/v1/tutor/sessions/{session['id']}/report").json()
    assert report["turn_count"] == 2 and report["speaking_seconds"] > 2.0
    assert report["words_spoken"] >= 10 and isinstance(report["new_words"], list)
    markdown = server.http.get(f"/v1/tutor/sessions/{session['id']}/report", params={"format": "markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown") and "Turns: 2" in markdown.text


@pytest.mark.parametrize("case", ["unknown_session", "bad_audio", "nothing", "both", "silence"])
def test_bad_turn_input_is_a_clear_error(server: HablaServer, session: dict, tmp_path: Path, case: str) -> None:
    url = f"/v1/tutor/sessions/{session['id']}/turns"
    silence = write_wav(tmp_path / "silence.wav", np.zeros(16000 * 3, np.float32)).read_bytes()
    requests = {
        "unknown_session": ("/v1/tutor/sessions/tut_nope/turns", {"data": {"text": "hola"}}, 404, "session_not_found"),
        "bad_audio": (url, {"files": {"file": ("x.webm", b"not audio at all" * 100)}}, 415, "invalid_audio"),
        "nothing": (url, {"data": {"text": "  "}}, 400, "invalid_option"),
        "both": (url, {"data": {"text": "hola"}, "files": {"file": ("s.wav", silence)}}, 400, "invalid_option"),
        "silence": (url, {"files": {"file": ("s.wav", silence)}}, 400, "no_speech"),
    }
    path, kwargs, status, code = requests[case]
    r = server.http.post(path, **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and "Traceback" not in r.text
    assert not list((server.home / "files" / "user_audios" / session["id"]).glob("3.*"))  # nothing left behind


@pytest.mark.parametrize("body,status,code", [
    ({"persona": "nobody"}, 404, "persona_not_found"),
    ({}, 400, "missing_parameter"),
])
def test_bad_session_requests(server: HablaServer, body: dict, status: int, code: str) -> None:
    r = server.http.post("/v1/tutor/sessions", json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


def test_a_user_defined_persona_needs_a_voice_for_its_language(server: HablaServer) -> None:
    base = {"id": "french-friend", "name": "Amélie", "language": "fr", "level": "B1", "prompt": "You are Amélie."}
    r = server.http.post("/v1/tutor/personas", json={**base, "voice": "no-such-voice"})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "voice_not_found")
    r = server.http.post("/v1/tutor/personas", json={**base, "voice": "en_US-joe-medium"})
    assert r.status_code == 400 and "speaks 'en'" in r.json()["error"]["message"]
    r = server.http.post("/v1/tutor/personas", json={**base, "level": "Z9"})
    assert r.status_code == 400
    r = server.http.post("/v1/tutor/personas", json={**base, "greeting": "Bonjour, je suis Amélie."})
    assert r.status_code == 201, r.text
    assert r.json()["voice"].startswith("espeak-fr")
    assert (server.home / "files" / "speakers" / "french-friend.wav").is_file()
    assert "french-friend" in {p["id"] for p in server.http.get("/v1/tutor/personas").json()["data"]}


def test_sessions_survive_a_restart(server: HablaServer, session: dict) -> None:
    server.stop()
    import httpx

    server.http = httpx.Client(base_url=server.url, timeout=60)
    server.start()
    history = server.http.get(f"/v1/tutor/sessions/{session['id']}").json()
    assert [t["number"] for t in history["turns"]] == [1, 2]
    assert history["turns"][0]["source"] == "audio" and history["turns"][1]["user_text"] == "Yo soy veinte años."
    assert session["id"] in {s["id"] for s in server.http.get("/v1/tutor/sessions").json()["data"]}
    assert "french-friend" in {p["id"] for p in server.http.get("/v1/tutor/personas").json()["data"]}
    r = server.http.post(f"/v1/tutor/sessions/{session['id']}/turns", data={"text": "Me gusta la playa."},
                         timeout=300)
    assert r.status_code == 201 and r.json()["number"] == 3, r.text
    assert server.http.get(r.json()["reply_audio_url"]).status_code == 200


@pytest.mark.system
def test_tutor_history_in_postgres_survives_a_new_engine() -> None:
    """The distributed setup: the same tables in PostgreSQL (scripts/services.sh), in a schema of their own."""
    import subprocess
    import uuid

    import psycopg

    from habla.jobs.sql import SqlJobStore
    from habla.tutor.feedback import Correction
    from habla.tutor.history import Turn, TurnConflict, TutorStore
    from habla.tutor.personas import BUILTIN
    from tests.conftest import ROOT

    run = subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "start"], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    url = next(line.split("=", 1)[1] for line in run.stdout.splitlines()
               if line.startswith("HABLA_JOBS__DATABASE_URL="))
    schema = f"tutor_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    scoped = f"{url}?options=-csearch_path%3D{schema}"
    try:
        jobs = SqlJobStore(scoped)  # the jobs store first, as in a server: the tutor shares its engine
        store = TutorStore(jobs.engine)
        session = store.create_session(BUILTIN["spanish-teacher"])
        store.add_turn(Turn(session.id, 1, 1.0, "audio", "Yo soy veinte años.", [{"word": "soy", "probability": 0.4}],
                            [Correction("grammar", "soy", "tengo", "x")], "¡Qué bien!", "user_audios/a.webm",
                            "user_audios/a.json", "tutor_replies/a.wav", 2.5, {"asr": 0.9}))
        jobs.close()
        again = TutorStore(SqlJobStore(scoped).engine)
        [turn] = again.turns(session.id)
        assert turn.corrections[0].suggestion == "tengo" and turn.words[0]["probability"] == 0.4
        assert again.session(session.id).turn_count == 1 and turn.timings == {"asr": 0.9}
        with pytest.raises(TurnConflict):
            again.add_turn(turn)
        again.engine.dispose()
    finally:
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

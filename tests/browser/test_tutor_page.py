"""The /tutor page in real headless Chromium (Debian's, driven by Playwright) against a live `habla serve`:
a spoken turn through Chromium's fake microphone (a Spanish test clip), a typed turn, the report, the history
after a reload. Screenshots go to test-artifacts/screenshots/ for review."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from habla.asr.bench import Clip
from habla.audio.decode import decode
from habla.audio.wav import write_wav
from tests.conftest import ROOT, HablaServer

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
pytest.importorskip("cyllama", reason="needs habla[llm]")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "test-artifacts" / "screenshots"
CLIP = "ast-es-confbridge-begin-glorious-c"  # "La conferencia iniciará cuando nuestro glorioso líder llegue."
TURN_TIMEOUT_MS = 180_000



@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HablaServer]:
    with HablaServer(tmp_path_factory.mktemp("tutor-page")).start() as server:
        yield server


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory, clips: list[Clip]) -> Path:
    """What Chromium's fake microphone plays: a Spanish clip, once, with a second of silence after it."""
    import numpy as np

    audio = decode(next(c for c in clips if c.id == CLIP).path)
    return write_wav(tmp_path_factory.mktemp("mic") / "mic.wav", np.concatenate([audio, np.zeros(16000, np.float32)]))


@pytest.fixture
def page(microphone: Path) -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}%noloop", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        browser.close()
        assert not errors, errors  # no uncaught JavaScript error on the page


def test_a_spoken_and_a_typed_tutor_turn_with_the_report(live: HablaServer, page: object) -> None:
    if live.http.get("/tutor").status_code == 404:  # the web UI's router (habla/web) serves the page
        pytest.skip("no /tutor route: the web UI router is not registered yet")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live.url}/tutor")
    page.wait_for_selector("#persona option[value=spanish-teacher]", state="attached")
    page.select_option("#persona", "spanish-teacher")
    page.screenshot(path=str(SHOTS / "tutor-start.png"), full_page=True)
    page.click("#start")
    page.wait_for_selector("#say:not([hidden])")

    page.click("#record")  # the fake microphone plays the clip (5.2 s) into MediaRecorder
    page.wait_for_selector("#record.recording")
    page.wait_for_timeout(6500)
    page.click("#record")  # stop and send
    turn = page.wait_for_selector("#turn-1", timeout=TURN_TIMEOUT_MS)
    heard = turn.query_selector(".user-text").inner_text().lower()
    assert "conferencia" in heard and "líder" in heard, heard
    assert turn.query_selector(".reply").inner_text().strip()
    duration = page.eval_on_selector("#turn-1 .reply-audio", """a => new Promise(done => a.readyState >= 1
        ? done(a.duration) : a.addEventListener('loadedmetadata', () => done(a.duration)))""")
    assert duration > 0.5  # the reply audio loads and plays in the browser
    assert page.eval_on_selector("#turn-1 .user-audio", "a => a.src").endswith("/audio/user")

    page.fill("#text", "Yo soy veinte años.")
    page.click("#send")
    page.wait_for_selector("#turn-2", timeout=TURN_TIMEOUT_MS)
    page.click("#report-btn")
    page.wait_for_selector("#report h3")
    assert "2 turns" in page.inner_text("#report")
    page.screenshot(path=str(SHOTS / "tutor.png"), full_page=True)

    page.reload()  # the session comes back from the server: the history is persisted, not kept in the page
    page.wait_for_selector("#turn-2", timeout=30_000)
    assert page.inner_text("#turn-2 .user-text") == "Yo soy veinte años."
    assert page.locator("#sessions li").count() >= 1

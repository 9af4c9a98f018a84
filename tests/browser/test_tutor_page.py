"""The /tutor page in real headless Chromium (Debian's, driven by Playwright) against a live `habla serve`:
a spoken turn through Chromium's fake microphone (a Spanish test clip), a typed turn, the report, the history
after a reload. Screenshots go to test-artifacts/screenshots/ for review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from habla.asr.bench import Clip
from habla.audio.decode import decode
from habla.audio.wav import write_wav
from tests.browser.conftest import PHONE, accessibility_problems, horizontal_overflow, screenshot

CLIP = "ast-es-confbridge-begin-glorious-c"  # "La conferencia iniciará cuando nuestro glorioso líder llegue."
TURN_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory, clips: list[Clip]) -> Path:
    """What Chromium's fake microphone plays: a Spanish clip, once, with a second of silence after it."""
    audio = decode(next(c for c in clips if c.id == CLIP).path)
    return write_wav(tmp_path_factory.mktemp("mic") / "mic.wav", np.concatenate([audio, np.zeros(16000, np.float32)]))


@pytest.fixture(scope="module")
def browser_args(microphone: Path) -> list[str]:
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}%noloop"]


def test_a_spoken_and_a_typed_tutor_turn_with_the_report(open_page: Any) -> None:
    page = open_page("/tutor")
    page.wait_for_selector("#persona option[value=spanish-teacher]", state="attached")
    page.select_option("#persona", "spanish-teacher")
    assert accessibility_problems(page) == []
    screenshot(page, "tutor-start")
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
    screenshot(page, "tutor")

    page.reload()  # the session comes back from the server: the history is persisted, not kept in the page
    page.wait_for_selector("#turn-2", timeout=30_000)
    assert page.inner_text("#turn-2 .user-text") == "Yo soy veinte años."
    assert page.locator("#sessions li").count() >= 1

    phone = open_page(f"/tutor#{page.url.split('#')[1]}", viewport=PHONE)  # the same session on a phone
    phone.wait_for_selector("#turn-2", timeout=30_000)
    assert horizontal_overflow(phone) == 0 and accessibility_problems(phone) == []
    screenshot(phone, "tutor-phone")

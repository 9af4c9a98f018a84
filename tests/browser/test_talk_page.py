"""The talk page (/talk) in headless Chromium: Chromium's fake microphone plays a recording (a test clip, then
silence, looped by Chromium) through mic.js's AudioWorklet into the /v1/talk WebSocket; the page must show the
user's words, go listening → thinking → speaking, play the reply, and export the conversation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from habla.asr.bench import Clip
from habla.audio.decode import decode
from habla.audio.wav import write_wav
from tests.browser.conftest import PHONE, accessibility_problems, horizontal_overflow, screenshot
from tests.conftest import HablaServer

CLIP = "ast-en-confbridge-begin-glorious-b"  # "the conference will begin when our glorious leader arrives"
SILENCE_SECONDS = 12  # room for the reply before Chromium loops the file and the clip speaks again
TURN_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory, clips: list[Clip]) -> Path:
    speech = decode(next(c for c in clips if c.id == CLIP).path)
    pad = np.zeros(16000 // 2, np.float32)
    audio = np.concatenate([pad, speech, np.zeros(16000 * SILENCE_SECONDS, np.float32)])
    return write_wav(tmp_path_factory.mktemp("mic") / "mic.wav", audio)


@pytest.fixture(scope="module")
def browser_args(microphone: Path) -> list[str]:
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}"]


def record_states(page: Any) -> None:
    page.evaluate("""() => { window.states = [];
      new MutationObserver(() => states.push(document.getElementById('state').dataset.state))
        .observe(document.getElementById('state'), { attributes: true, attributeFilter: ['data-state'] });
    }""")


def in_order(seen: list[str], wanted: list[str]) -> bool:
    """``wanted`` appears in ``seen`` in this order (other states may come between)."""
    rest = iter(seen)
    return all(state in rest for state in wanted)


def test_a_spoken_turn_gets_a_spoken_reply_and_exports(open_page: Any, server: HablaServer) -> None:
    page = open_page("/talk")
    page.wait_for_selector("#voice option:not([value=''])", state="attached")
    assert accessibility_problems(page) == []
    screenshot(page, "talk-start")
    record_states(page)
    page.click("#start")

    heard = page.wait_for_selector("#conversation li.user .text:not(.partial)", timeout=TURN_TIMEOUT_MS)
    assert "glorious leader" in heard.inner_text().lower()
    page.wait_for_function("window.states.includes('speaking')", timeout=TURN_TIMEOUT_MS)
    states = page.evaluate("window.states")
    assert in_order(states, ["connecting", "listening", "hearing", "thinking", "speaking"]), states
    # The reply's audio is played as it streams: at least one chunk plays to its end on the page's audio clock.
    page.wait_for_function("Number(document.body.dataset.replySeconds) > 0.3", timeout=TURN_TIMEOUT_MS)
    # The reply's text streams in beside its audio and may land a moment after the first chunk plays: wait for it.
    page.wait_for_function("(document.querySelector('#conversation li.assistant:not([hidden]) .text')?.innerText "
                           "|| '').trim().length > 0", timeout=TURN_TIMEOUT_MS)
    assert page.evaluate("document.getElementById('level').value") >= 0

    page.select_option("#export-format", "srt")  # rendered by the server while the session is open
    with page.expect_download() as info:
        page.click("#export")
    srt = Path(info.value.path()).read_text(encoding="utf-8")
    assert " --> " in srt and "glorious leader" in srt.lower(), srt
    screenshot(page, "talk")

    page.click("#stop")
    page.wait_for_selector("#state[data-state=idle]")
    page.select_option("#export-format", "json")  # after the end: the page's own record
    with page.expect_download() as info:
        page.click("#export")
    assert "glorious leader" in Path(info.value.path()).read_text(encoding="utf-8").lower()
    for _ in range(50):  # the server closes its side when the page sends session.end
        if server.http.get("/v1/talk/sessions").json()["active"] == 0:
            break
        page.wait_for_timeout(100)
    assert server.http.get("/v1/talk/sessions").json()["active"] == 0


def test_talk_page_on_a_phone(open_page: Any) -> None:
    page = open_page("/talk", viewport=PHONE)
    page.wait_for_selector("#voice option:not([value=''])", state="attached")
    assert horizontal_overflow(page) == 0
    assert accessibility_problems(page) == []
    screenshot(page, "talk-phone")


def test_talk_page_follows_a_dark_system_theme(open_page: Any) -> None:
    page = open_page("/talk", viewport=PHONE, color_scheme="dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(22, 23, 26)", background  # app.css's dark --bg
    screenshot(page, "talk-phone-dark")

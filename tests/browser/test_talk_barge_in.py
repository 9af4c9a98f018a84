"""Barge-in from the browser: the fake microphone repeats a clip with only 1.5 s between repeats, so the user
speaks again while a reply is playing. The page keeps streaming the microphone during playback, so the server
hears it: the reply is cut (marked interrupted), its audio stops and the page goes from speaking to hearing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from habla.asr.bench import Clip
from habla.audio.decode import decode
from habla.audio.wav import write_wav
from tests.browser.conftest import screenshot
from tests.browser.test_talk_page import CLIP, in_order, record_states

GAP_SECONDS = 1.5  # longer than the 0.5 s end of turn, shorter than a reply


@pytest.fixture(scope="module")
def browser_args(tmp_path_factory: pytest.TempPathFactory, clips: list[Clip]) -> list[str]:
    speech = decode(next(c for c in clips if c.id == CLIP).path)
    mic = write_wav(tmp_path_factory.mktemp("mic") / "repeats.wav",
                    np.concatenate([speech, np.zeros(int(16000 * GAP_SECONDS), np.float32)]))
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={Path(mic)}"]


def test_speaking_over_the_reply_interrupts_it(open_page: Any) -> None:
    page = open_page("/talk")
    record_states(page)
    page.click("#start")
    page.wait_for_selector("#conversation li.assistant .text.interrupted", state="attached", timeout=90_000)
    states = page.evaluate("window.states")
    assert in_order(states, ["speaking", "hearing"]), states
    # The interrupting speech is the next turn, transcribed like the first.
    page.wait_for_function("document.querySelectorAll('#conversation li.user .text:not(.partial)').length >= 2",
                           timeout=60_000)
    screenshot(page, "talk-barge-in")
    page.click("#stop")

"""Barge-in from the browser: the user speaks while the reply is playing. The page keeps streaming the microphone
during playback, so the server hears it: the reply is cut (marked interrupted), its audio stops and the page goes
from speaking to hearing.

Nothing here depends on how fast the machine is. Chromium's fake microphone plays silence through the page's real
capture path (mic.js's AudioWorklet); the test puts a recorded clip into the frames the page sends when it chooses:
once to start the conversation, and again only when the page is speaking the reply. (The test this replaced looped
the clip with a fixed gap and flaked when the reply was slower than the gap: states ending 'thinking', 'hearing'.)
The session asks for a long reply, so the reply is still speaking when the second clip is heard."""

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

TURN_TIMEOUT_MS = 90_000

# Wraps the page's Microphone: each frame it sends is the microphone's own, except while a clip is being "spoken",
# when the clip's next samples take its place. Also asks session.start for a long reply.
SPEAKER = """(clip) => {
  window.clip = Int16Array.from(clip);
  window.clipAt = clip.length;  // nothing to say yet
  window.speak = () => { window.clipAt = 0; };
  const Real = window.habla.Microphone;
  window.habla.Microphone = class extends Real {
    constructor(onFrame, options) {
      super((pcm, level) => {
        if (window.clipAt < window.clip.length) {
          const frame = new Int16Array(pcm.byteLength / 2);
          frame.set(window.clip.subarray(window.clipAt, window.clipAt + frame.length));
          window.clipAt += frame.length;
          return onFrame(frame.buffer, level);
        }
        return onFrame(pcm, level);
      }, options);
    }
  };
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data === "string" && JSON.parse(data).type === "session.start") {
      data = JSON.stringify({ ...JSON.parse(data), max_tokens: 400, max_sentences: 20,
        persona: "You are a storyteller. Whatever you are told, answer with a long story of many sentences." });
    }
    return send.call(this, data);
  };
}"""


@pytest.fixture(scope="module")
def browser_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    mic = write_wav(tmp_path_factory.mktemp("mic") / "silence.wav", np.zeros(16000 * 5, np.float32))
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={Path(mic)}"]


@pytest.fixture(scope="module")
def clip_pcm(clips: list[Clip]) -> list[int]:
    speech = decode(next(c for c in clips if c.id == CLIP).path)
    padded = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(8000, np.float32)])
    return (np.clip(padded, -1, 1) * 32767).astype(np.int16).tolist()


def test_speaking_over_the_reply_interrupts_it(open_page: Any, clip_pcm: list[int]) -> None:
    page = open_page("/talk")
    page.evaluate(SPEAKER, clip_pcm)
    record_states(page)
    page.click("#start")
    page.wait_for_function("window.habla && document.getElementById('stop').disabled === false")
    page.evaluate("window.speak()")
    page.wait_for_function("window.states.includes('speaking')", timeout=TURN_TIMEOUT_MS)
    page.evaluate("window.speak()")  # over the reply
    page.wait_for_selector("#conversation li.assistant .text.interrupted", state="attached", timeout=TURN_TIMEOUT_MS)
    states = page.evaluate("window.states")
    assert in_order(states, ["listening", "hearing", "thinking", "speaking", "hearing"]), states
    # The interrupting speech is the next turn, transcribed like the first.
    page.wait_for_function("document.querySelectorAll('#conversation li.user .text:not(.partial)').length >= 2",
                           timeout=60_000)
    texts = page.eval_on_selector_all("#conversation li.user .text", "nodes => nodes.map(n => n.textContent)")
    assert "glorious leader" in texts[0].lower() and texts[1].strip(), texts
    screenshot(page, "talk-barge-in")
    page.click("#stop")

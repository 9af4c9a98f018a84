"""Barge-in from the browser: a scripted microphone streams real time audio (silence, or the clip when the test says
so). The user speaks, waits until the reply is *speaking*, then speaks over it: the page keeps streaming the
microphone during playback, so the server hears it, the reply is cut (marked interrupted), its audio stops and the
page goes from speaking to hearing. Speaking only once the reply plays makes the test independent of how fast the
machine answers (a fixed gap in a looping recording once came before the reply)."""

from __future__ import annotations

from typing import Any

import numpy as np

from habla.asr.bench import Clip
from habla.audio.decode import decode
from tests.browser.conftest import screenshot
from tests.browser.test_talk_page import CLIP, in_order, record_states

# Replaces the page's Microphone (getUserMedia + worklet, covered by test_talk_page) with one that sends 20 ms
# frames on the wall clock: silence, or the queued clips. Same interface: onFrame(ArrayBuffer int16, level).
SCRIPTED_MIC = """(samples) => {
  const speech = Int16Array.from(samples);
  window.fakeMic = { queue: [], say() { this.queue.push(speech); } };
  window.habla.Microphone = class {
    constructor(onFrame) { this.onFrame = onFrame; this.timer = null; this.offset = 0; }
    get running() { return this.timer !== null; }
    async start() {
      const started = performance.now();
      let sent = 0;
      this.timer = setInterval(() => {
        while (sent * 20 <= performance.now() - started) {
          const frame = new Int16Array(320);
          const clip = window.fakeMic.queue[0];
          if (clip) {
            frame.set(clip.subarray(this.offset, this.offset + 320));
            this.offset += 320;
            if (this.offset >= clip.length) { window.fakeMic.queue.shift(); this.offset = 0; }
          }
          let energy = 0;
          for (const s of frame) energy += (s / 32768) ** 2;
          this.onFrame(frame.buffer, Math.sqrt(energy / 320));
          sent += 1;
        }
      }, 20);
    }
    stop() { clearInterval(this.timer); this.timer = null; }
  };
}"""


def test_speaking_over_the_reply_interrupts_it(open_page: Any, clips: list[Clip]) -> None:
    speech = decode(next(c for c in clips if c.id == CLIP).path)
    page = open_page("/talk")
    page.evaluate(SCRIPTED_MIC, (np.clip(speech, -1, 1) * 32767).astype(np.int16).tolist())
    record_states(page)
    page.click("#start")
    page.wait_for_function("document.getElementById('state').dataset.state === 'listening'", timeout=90_000)
    page.evaluate("fakeMic.say()")
    page.wait_for_function("document.getElementById('state').dataset.state === 'speaking'", timeout=90_000)
    page.evaluate("fakeMic.say()")  # talk over the reply while it plays
    page.wait_for_selector("#conversation li.assistant .text.interrupted", state="attached", timeout=90_000)
    states = page.evaluate("window.states")
    assert in_order(states, ["speaking", "hearing"]), states
    # The interrupting speech is the next turn, transcribed like the first.
    page.wait_for_function("document.querySelectorAll('#conversation li.user .text:not(.partial)').length >= 2",
                           timeout=60_000)
    screenshot(page, "talk-barge-in")
    page.click("#stop")

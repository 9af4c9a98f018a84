"""mic.js's AudioWorklet in Chromium: tones rendered offline at the common device rates come out as 16 kHz int16
frames of the right length, pitch and level, and a tone above 8 kHz does not fold back into the speech band."""

from __future__ import annotations

from typing import Any

import pytest

RENDER = """async ([rate, hz]) => {
  const context = new OfflineAudioContext(1, rate, rate);  // one second
  await context.audioWorklet.addModule('/static/mic.js');
  const frames = [];
  const node = new AudioWorkletNode(context, 'habla-mic', { numberOfInputs: 1, numberOfOutputs: 0,
    processorOptions: { targetRate: 16000, frameSamples: 320 } });
  node.port.onmessage = (e) => frames.push(new Int16Array(e.data.pcm));
  const tone = new OscillatorNode(context, { frequency: hz });
  const gain = new GainNode(context, { gain: 0.5 });
  tone.connect(gain).connect(node);
  tone.start();
  await context.startRendering();
  await new Promise((r) => setTimeout(r, 300));  // the last port messages
  const samples = frames.flatMap((f) => Array.from(f, (s) => s / 32768)).slice(640);  // skip the filter's warm-up
  let crossings = 0, energy = 0;
  for (let i = 1; i < samples.length; i++) if ((samples[i - 1] < 0) !== (samples[i] < 0)) crossings++;
  for (const s of samples) energy += s * s;
  return { frames: frames.length, sizes: [...new Set(frames.map((f) => f.length))],
           hz: crossings / 2 / (samples.length / 16000), rms: Math.sqrt(energy / samples.length) };
}"""


@pytest.fixture(scope="module")
def page(browser: Any, server: Any) -> Any:
    page = browser.new_page()
    page.goto(f"{server.url}/talk")
    yield page
    page.close()


@pytest.mark.parametrize("rate", [48000, 44100])
def test_microphone_audio_is_downsampled_to_16_khz_frames(page: Any, rate: int) -> None:
    speech_band = page.evaluate(RENDER, [rate, 1000])
    assert speech_band["sizes"] == [320]  # 20 ms frames
    assert 48 <= speech_band["frames"] <= 50  # one second at 16 kHz (the last partial frame is held back)
    assert abs(speech_band["hz"] - 1000) < 10
    assert abs(speech_band["rms"] - 0.5 / 2**0.5) < 0.02  # the level is kept
    above_nyquist = page.evaluate(RENDER, [rate, 12000])
    assert above_nyquist["rms"] < 0.01  # filtered out, not aliased to 4 kHz

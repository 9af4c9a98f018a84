// Microphone → 16 kHz mono int16 PCM frames. One file, two roles: loaded by a page (<script src>) it defines
// habla.Microphone; loaded by audioWorklet.addModule it registers the "habla-mic" processor that resamples on the
// audio thread. A context at 16 kHz would be simpler, but Firefox refuses a microphone in a context whose rate
// differs from the device's, so the context runs at the device rate and the worklet downsamples.
"use strict";

if (typeof registerProcessor === "function" && typeof window === "undefined") {
  // Low-pass FIR (windowed sinc, cutoff just under the target Nyquist) then fractional decimation with linear
  // interpolation between filtered samples: no aliasing of 8-24 kHz content into the speech band.
  class HablaMic extends AudioWorkletProcessor {
    constructor(options) {
      super();
      const { targetRate = 16000, frameSamples = 320 } = options.processorOptions || {};
      this.step = sampleRate / targetRate;  // input samples per output sample (3 at 48 kHz)
      this.taps = HablaMic.lowpass(0.45 * targetRate / sampleRate, 63);
      this.history = new Float32Array(this.taps.length);  // ring of the last inputs for the FIR
      this.at = 0;  // write position in the ring
      this.phase = 0;  // position of the next output sample, in input samples from now
      this.previous = 0;  // last filtered sample, for interpolation across render quanta
      this.frame = new Int16Array(frameSamples);
      this.filled = 0;
      this.energy = 0;
    }

    static lowpass(cutoff, count) {  // cutoff as a fraction of the input rate
      const taps = new Float32Array(count);
      const middle = (count - 1) / 2;
      let sum = 0;
      for (let i = 0; i < count; i++) {
        const x = i - middle;
        const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
        const blackman = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (count - 1))
                         + 0.08 * Math.cos((4 * Math.PI * i) / (count - 1));
        taps[i] = sinc * blackman;
        sum += taps[i];
      }
      return taps.map((t) => t / sum);  // unity gain at DC
    }

    filter(sample) {
      const { history, taps } = this;
      history[this.at] = sample;
      this.at = (this.at + 1) % history.length;
      let acc = 0;
      for (let i = 0, j = this.at; i < taps.length; i++, j = (j + 1) % history.length) acc += taps[i] * history[j];
      return acc;
    }

    emit(value) {
      const clipped = Math.max(-1, Math.min(1, value));
      this.frame[this.filled++] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
      this.energy += clipped * clipped;
      if (this.filled === this.frame.length) {
        const level = Math.sqrt(this.energy / this.filled);
        const pcm = this.frame.buffer;
        this.port.postMessage({ pcm, level }, [pcm]);  // transferred: the page owns it now
        this.frame = new Int16Array(this.filled);
        this.filled = 0;
        this.energy = 0;
      }
    }

    process(inputs) {
      const channel = inputs[0] && inputs[0][0];
      if (!channel) return true;  // no input yet (device starting): keep the node alive
      for (let i = 0; i < channel.length; i++) {
        const current = this.filter(channel[i]);
        // Output samples that fall between the previous filtered sample and this one.
        while (this.phase <= 1) {
          this.emit(this.previous + (current - this.previous) * this.phase);
          this.phase += this.step;
        }
        this.phase -= 1;
        this.previous = current;
      }
      return true;
    }
  }
  registerProcessor("habla-mic", HablaMic);
} else {
  window.habla = window.habla || {};
  // Usage: const mic = new habla.Microphone((pcm, level) => ws.send(pcm)); await mic.start(); ... mic.stop();
  // pcm is an ArrayBuffer of int16 little-endian samples at 16 kHz (frameMs long), level the frame's RMS (0-1).
  window.habla.Microphone = class Microphone {
    constructor(onFrame, { targetRate = 16000, frameMs = 20, script = "/static/mic.js" } = {}) {
      this.onFrame = onFrame;
      this.targetRate = targetRate;
      this.frameSamples = Math.round((targetRate * frameMs) / 1000);
      this.script = script;
      this.context = null;
      this.stream = null;
      this.node = null;
    }

    get running() { return this.context !== null; }

    async start() {
      if (this.running) return;
      if (!navigator.mediaDevices || !window.AudioWorkletNode) {
        throw new Error("This browser cannot capture audio here (it needs https or localhost, and AudioWorklet).");
      }
      // The browser's echo cancellation keeps the reply played on the speakers out of the microphone, so the
      // user can interrupt (barge in) without the reply interrupting itself.
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
      this.context = new AudioContext();
      try {
        await this.context.audioWorklet.addModule(this.script);
        const source = this.context.createMediaStreamSource(this.stream);
        // No outputs: the node is pulled by the audio thread without being connected to the speakers.
        this.node = new AudioWorkletNode(this.context, "habla-mic", { numberOfInputs: 1, numberOfOutputs: 0,
          channelCount: 1, channelCountMode: "explicit",
          processorOptions: { targetRate: this.targetRate, frameSamples: this.frameSamples } });
        this.node.port.onmessage = (event) => this.onFrame(event.data.pcm, event.data.level);
        source.connect(this.node);
        await this.context.resume();
      } catch (err) {
        this.stop();
        throw err;
      }
    }

    stop() {
      if (this.node) this.node.port.onmessage = null;
      if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
      if (this.context) this.context.close();
      this.context = this.stream = this.node = null;
    }
  };
}

"""Kaldi-style log-mel filterbank features, the input CAM++ was trained on (torchaudio.compliance.kaldi.fbank
with dither 0), in plain torch so torchaudio is not needed. Features are mean-normalised per window, which also
makes the absolute waveform scale irrelevant."""

from __future__ import annotations

import math

import torch

SAMPLE_RATE = 16000
FRAME_LENGTH = 400  # 25 ms
FRAME_SHIFT = 160  # 10 ms
FFT_SIZE = 512
MEL_BINS = 80
PREEMPHASIS = 0.97
LOW_HZ, HIGH_HZ = 20.0, SAMPLE_RATE / 2


def _mel(hz: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log1p(hz / 700.0)


def mel_filters() -> torch.Tensor:
    """(MEL_BINS, FFT_SIZE // 2) triangular filters on the mel scale, as Kaldi builds them."""
    fft_bins = FFT_SIZE // 2
    freqs = torch.arange(fft_bins, dtype=torch.float64) * SAMPLE_RATE / FFT_SIZE
    mel_freqs = _mel(freqs)
    low, high = _mel(torch.tensor(LOW_HZ, dtype=torch.float64)), _mel(torch.tensor(HIGH_HZ, dtype=torch.float64))
    delta = (high - low) / (MEL_BINS + 1)
    edges = low + delta * torch.arange(MEL_BINS + 2, dtype=torch.float64)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (mel_freqs - left) / (centre - left)
    down = (right - mel_freqs) / (right - centre)
    return torch.clamp(torch.minimum(up, down), min=0.0).to(torch.float32)


def povey_window() -> torch.Tensor:
    n = torch.arange(FRAME_LENGTH, dtype=torch.float64)
    return (0.5 - 0.5 * torch.cos(2 * math.pi * n / (FRAME_LENGTH - 1))).pow(0.85).to(torch.float32)


class Fbank:
    """Computes (frames, 80) features of a 16 kHz mono waveform; reuse one instance (the filters are built once)."""

    def __init__(self) -> None:
        self.filters = mel_filters()
        self.window = povey_window()

    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.numel() < FRAME_LENGTH:
            wave = torch.nn.functional.pad(wave, (0, FRAME_LENGTH - wave.numel()))
        frames = wave.unfold(0, FRAME_LENGTH, FRAME_SHIFT)  # snip_edges=True
        frames = frames - frames.mean(dim=1, keepdim=True)
        previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
        frames = (frames - PREEMPHASIS * previous) * self.window
        spectrum = torch.fft.rfft(frames, n=FFT_SIZE).abs().pow(2)[:, :FFT_SIZE // 2]
        feats = torch.log(torch.clamp(spectrum @ self.filters.T, min=torch.finfo(torch.float32).eps))
        return feats - feats.mean(dim=0, keepdim=True)

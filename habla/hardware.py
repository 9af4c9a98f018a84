"""What the machine offers the engines: used for the default thread counts of Whisper, llama.cpp and Piper."""

from __future__ import annotations

import os

import psutil


def physical_cores() -> int:
    """Physical cores (hyper-threads share one core's arithmetic units, so more threads than this only contend)."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1

"""What the machine offers the engines: used for the default thread counts of Whisper, llama.cpp and Piper."""

from __future__ import annotations

import os

import psutil


def physical_cores() -> int:
    """Physical cores (hyper-threads share one core's arithmetic units, so more threads than this only contend)."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


# M_MMAP_THRESHOLD in glibc's malloc.h. glibc raises its mmap threshold after the first large block is freed (up to
# 32 MB), after which freed upload parts (8 MB each) stay in the heap and the process's RSS does not come down.
# Fixed at 1 MB, every block of 1 MB or more is returned to the OS when freed: a 1 GB upload into S3 grew the API
# process by +65 MB with the dynamic threshold and +45 MB with it fixed (bench_storage.py upload, docs/storage.md).
_M_MMAP_THRESHOLD = -3
LARGE_BLOCK_BYTES = 1 << 20


def return_large_blocks_to_the_os(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Fix glibc's mmap threshold (a no-op elsewhere); True when it was set."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators return large blocks anyway
        return False

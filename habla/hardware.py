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
# M_TRIM_THRESHOLD: with the mmap threshold fixed, glibc keeps its default trim threshold (128 KB), so the heap's top
# was given back and faulted in again for nearly every body chunk an upload receives (64-256 KB): 51 000 minor
# faults per 100 MB uploaded. Kept up to 16 MB, that fell to 26 000 (the S3 parts' own mmaps) and the API's CPU per
# uploaded 100 MB from 0.62-0.66 to 0.54-0.56 s, same RSS growth (bench_storage.py upload --mb 512, s3rver, two
# interleaved rounds at load 14; docs/storage.md). At most 16 MB of freed heap stays mapped.
_M_TRIM_THRESHOLD = -1
KEPT_HEAP_BYTES = 16 << 20


def return_large_blocks_to_the_os(threshold: int = LARGE_BLOCK_BYTES, kept_heap: int = KEPT_HEAP_BYTES) -> bool:
    """Fix glibc's mmap and trim thresholds (a no-op elsewhere); True when they were set."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, threshold)
                    and libc.mallopt(_M_TRIM_THRESHOLD, kept_heap))
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators return large blocks anyway
        return False

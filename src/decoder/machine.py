"""What the decoder learns about its machine: the GPU, the CPUs it may use, and the languages
Whisper models know."""

from __future__ import annotations

import ctypes
import gc
import os

import torch
import whisper

from decoder.ladder import DeviceFacts


def probe_device(use_gpu_if_available: bool) -> DeviceFacts:
    if not (use_gpu_if_available and torch.cuda.is_available()):
        return DeviceFacts(cuda_available=False, free_vram_bytes=0)
    free_bytes, _total = torch.cuda.mem_get_info()
    return DeviceFacts(cuda_available=True, free_vram_bytes=free_bytes)


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask (taskset, cgroup cpusets), not the host's
    count, so that a decoder pinned to 2 of 64 cores runs 2 threads instead of 64 that contend."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def return_freed_memory() -> None:
    """Collect garbage and hand the freed heap back to the system. glibc keeps freed pages for
    reuse, so without malloc_trim an unloaded model would go on counting in the decoder's RSS."""
    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        # Not glibc (musl, macOS): nothing to trim.
        return
    libc.malloc_trim(0)


def supported_languages() -> tuple[tuple[str, str], ...]:
    return tuple(whisper.tokenizer.LANGUAGES.items())

"""What the decoder learns about and asks of its machine: the GPU torch sees, the memory free for
another model, and freed memory handed back. torch is imported only when asked for, so that a
faster-whisper decoder on a CPU host never loads it. The CPUs it may use are
decoder.wire.threads.usable_cpus."""

from __future__ import annotations

import ctypes
import gc

from decoder.device.ladder import NO_GPU, DeviceFacts


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


def torch_device_facts() -> DeviceFacts:
    """Whether torch reaches a CUDA GPU, and its free memory."""
    # Imported here: a decoder that never asks has no reason to load torch.
    import torch

    if not torch.cuda.is_available():
        return NO_GPU
    free_bytes, _total = torch.cuda.mem_get_info()
    return DeviceFacts(cuda_available=True, free_vram_bytes=free_bytes)


def available_memory(device: str) -> int | None:
    """Bytes the system could give a new model now (MemAvailable) where `device` is "cpu"; None
    for a GPU, whose allocator's caches only a load can tell apart from what is free."""
    if device != "cpu":
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None

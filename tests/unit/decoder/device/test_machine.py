from __future__ import annotations

import subprocess
import sys

from decoder.device.machine import available_memory, torch_device_facts

# Allocates 200 MB in blocks glibc serves from its heap (below its mmap threshold), frees them
# all but one at the end that keeps the heap from shrinking by itself, and reports RSS in MiB.
FREED_HEAP = """
import ctypes
from decoder.device.machine import return_freed_memory
def rss():
    status = open("/proc/self/status").read().split("VmRSS:")[1]
    return int(status.split()[0]) // 1024
blocks = [ctypes.create_string_buffer(100_000) for _ in range(2000)]
last = ctypes.create_string_buffer(100_000)
del blocks
before = rss()
return_freed_memory()
print(before, rss())
"""


def test_torch_device_facts_agree_with_torch() -> None:
    import torch

    facts = torch_device_facts()
    assert facts.cuda_available == torch.cuda.is_available()
    assert (facts.free_vram_bytes > 0) == facts.cuda_available


def test_freed_heap_goes_back_to_the_system() -> None:
    measured = subprocess.run([sys.executable, "-c", FREED_HEAP], capture_output=True, text=True, check=True)
    before, after = (int(value) for value in measured.stdout.split())
    assert before - after > 150, (before, after)


def test_the_memory_free_for_a_model_is_known_on_a_cpu_only() -> None:
    free = available_memory("cpu")
    assert free is not None and free > 0
    assert available_memory("cuda") is None

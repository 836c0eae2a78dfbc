"""How many threads a decoder runs on a CPU, which the front end decides when it places the
host's decoders (whisper_api.jobs.dispatch.placement).

With CPU_THREADS=0 on a host without a GPU, a decoder of an engine and model size that
THREADS_PER_DECODER lists runs that many threads, and DECODERS=0 runs as many decoders as the
CPUs hold; any other runs one decoder on every CPU. `make bench` measures the table ("Threads per
decoder" in docs/benchmarks.md, which marks an entry its run disagrees with): a small model's
one decoding gains little from a second thread, as the threads' hand-offs cost about what the
split work saves, while a second decoder on that CPU doubles the work done whenever tasks wait.
"""

from __future__ import annotations

import os

from decoder.wire.models import MODELS

# (engine, model size) -> threads per decoder. A size is the model's weights without `.en`:
# `tiny.en` runs as `tiny` does.
THREADS_PER_DECODER: dict[tuple[str, str], int] = {
    ("openai-whisper", "tiny"): 1,
    ("openai-whisper", "base"): 1,
    ("faster-whisper", "tiny"): 1,
    ("faster-whisper", "base"): 1,
}


def threads_per_decoder(engine: str, model: str) -> int | None:
    """The threads a decoder of `engine` runs `model` on, on a CPU; None: every CPU, in one decoder."""
    return THREADS_PER_DECODER.get((engine, MODELS[model].file_stem.removesuffix(".en")))


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask (taskset, cgroup cpusets), not the host's
    count, so that decoders pinned to 2 of 64 cores run 2 threads instead of 64 that contend.
    A decoder inherits the mask of the front end that starts it."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

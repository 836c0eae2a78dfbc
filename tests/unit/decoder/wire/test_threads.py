"""The threads a decoder runs on a CPU: the table by engine and model size, and the CPUs of the
affinity mask."""

from __future__ import annotations

import os
import subprocess
import sys

from decoder.wire.choices import ENGINE_NAMES
from decoder.wire.models import MODELS
from decoder.wire.threads import THREADS_PER_DECODER, threads_per_decoder, usable_cpus


def test_a_model_runs_as_its_size_does_in_either_family() -> None:
    for engine, size in THREADS_PER_DECODER:
        assert engine in ENGINE_NAMES and size in MODELS
        for model in (size, f"{size}.en"):
            assert threads_per_decoder(engine, model) == THREADS_PER_DECODER[engine, size]
    # Sizes the table lacks run on every CPU.
    assert threads_per_decoder("faster-whisper", "large-v3") is None
    assert threads_per_decoder("faster-whisper", "turbo") is None


def test_usable_cpus_follow_the_affinity_mask() -> None:
    assert usable_cpus() == len(os.sched_getaffinity(0)) >= 1
    pinned = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
            "from decoder.wire.threads import usable_cpus; print(usable_cpus())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert pinned.stdout.strip() == "1"

from __future__ import annotations

import os
import subprocess
import sys

from decoder.machine import probe_device, supported_languages, usable_cpus


def test_usable_cpus_follow_the_affinity_mask() -> None:
    assert usable_cpus() == len(os.sched_getaffinity(0)) >= 1
    pinned = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
            "from decoder.machine import usable_cpus; print(usable_cpus())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert pinned.stdout.strip() == "1"


def test_no_gpu_when_told_not_to_use_one() -> None:
    facts = probe_device(use_gpu_if_available=False)
    assert (facts.cuda_available, facts.free_vram_bytes) == (False, 0)


def test_languages_have_codes_and_names() -> None:
    languages = dict(supported_languages())
    assert languages["en"] == "english" and languages["de"] == "german"

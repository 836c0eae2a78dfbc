"""Where a host's decoders run: how many there are, which GPU each one sees, and how many share
the host's CPUs. Worked out in the front end, which never loads torch: the GPUs are those that
CUDA_VISIBLE_DEVICES lists, or else those the NVIDIA driver lists under /proc.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

NVIDIA_DRIVER_GPUS = Path("/proc/driver/nvidia/gpus")


@dataclass(frozen=True)
class Placement:
    index: int
    # The CUDA_VISIBLE_DEVICES the decoder gets: one GPU; None on a host without one.
    cuda_device: str | None
    # How many decoders share the host's CPUs (CPU_THREADS=0 gives each its share).
    cpu_share: int

    @property
    def name(self) -> str:
        """The decoder's process name, which its log lines carry."""
        return f"decoder-{self.index}"


def visible_gpus(environ: Mapping[str, str], driver_gpus: Path = NVIDIA_DRIVER_GPUS) -> tuple[str, ...]:
    """The GPUs a decoder could be given, as CUDA_VISIBLE_DEVICES entries (indices or UUIDs)."""
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        gpus: list[str] = []
        for entry in (part.strip() for part in listed.split(",")):
            # CUDA ignores the list from its first empty or negative entry on ("-1" hides all).
            if not entry or entry.startswith("-"):
                break
            gpus.append(entry)
        return tuple(gpus)
    try:
        count = sum(1 for _ in driver_gpus.iterdir())
    except OSError:
        count = 0
    return tuple(str(index) for index in range(count))


def place_decoders(
    decoders: int, use_gpu: bool, environ: Mapping[str, str], driver_gpus: Path = NVIDIA_DRIVER_GPUS
) -> tuple[Placement, ...]:
    """`decoders` placements (0: one per visible GPU, and one without a GPU), the GPUs dealt out
    in turn."""
    gpus = visible_gpus(environ, driver_gpus) if use_gpu else ()
    count = decoders or max(1, len(gpus))
    return tuple(Placement(index, gpus[index % len(gpus)] if gpus else None, count) for index in range(count))

"""Where a host's decoders run: how many there are, which GPU each one sees, and how many
threads each one runs. Worked out in the front end, which never loads torch: the GPUs are those
that CUDA_VISIBLE_DEVICES lists, or else those the NVIDIA driver lists under /proc; the CPUs
those of the front end's affinity mask, which its decoders inherit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from decoder.wire.choices import engine_for
from decoder.wire.models import cpu_model
from decoder.wire.threads import threads_per_decoder, usable_cpus
from whisper_api.settings import Settings
from whisper_api.settings.rules import decoder_engine

NVIDIA_DRIVER_GPUS = Path("/proc/driver/nvidia/gpus")


@dataclass(frozen=True)
class Placement:
    index: int
    # The CUDA_VISIBLE_DEVICES the decoder gets: one GPU; None on a host without one.
    cuda_device: str | None
    # Threads the decoder's decoding runs.
    cpu_threads: int

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


def place_decoders(decoders: int, gpus: tuple[str, ...], cpus: int, threads: int) -> tuple[Placement, ...]:
    """`decoders` placements, the `gpus` dealt out in turn. DECODERS=0 is one per GPU, or on a
    host without one as many as its `cpus` hold at `threads` each (0: one on every CPU). Each
    decoder runs `threads`, or where that is 0 its share of the CPUs."""
    count = decoders or len(gpus) or (max(1, cpus // threads) if threads else 1)
    each = threads or max(1, cpus // count)
    return tuple(Placement(index, gpus[index % len(gpus)] if gpus else None, each) for index in range(count))


def host_placements(settings: Settings, environ: Mapping[str, str]) -> tuple[Placement, ...]:
    """This host's decoders as its settings place them. Where DECODERS and CPU_THREADS are both
    0 on a host without a GPU, each decoder runs the threads that decoder.wire.threads gives the
    engine and the model a CPU loads, and the CPUs are filled with decoders of that many."""
    gpus = visible_gpus(environ) if settings.use_gpu_if_available else ()
    threads = settings.cpu_threads
    if not (threads or gpus or settings.decoders):
        model = cpu_model(settings.max_model, settings.cpu_fallback_model, settings.develop_mode)
        engine = engine_for(decoder_engine(settings), settings.model_dir, model)
        threads = threads_per_decoder(engine, model) or 0
    return place_decoders(settings.decoders, gpus, usable_cpus(), threads)

"""Which model to load on which device: the decision alone, with the device facts injected.

Keeping this free of torch lets the GPU rules be tested on a machine without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from decoder.wire.models import (
    BEST_MULTILINGUAL,
    MODELS,
    cpu_model,
    ladder_from,
)

GIB = 1024**3


@dataclass(frozen=True)
class DeviceFacts:
    cuda_available: bool
    free_vram_bytes: int


NO_GPU = DeviceFacts(cuda_available=False, free_vram_bytes=0)


@dataclass(frozen=True)
class ModelPlan:
    # Tried in order on the GPU; empty in CPU mode.
    gpu_candidates: tuple[str, ...]
    # Loaded on the CPU when CPU mode is chosen or every GPU candidate failed.
    cpu_model: str

    @property
    def gpu_mode(self) -> bool:
        return bool(self.gpu_candidates)

    @property
    def max_model_to_use(self) -> str:
        return self.gpu_candidates[0] if self.gpu_candidates else self.cpu_model

    @property
    def english_only(self) -> bool:
        return MODELS[self.max_model_to_use].english_only


def plan_models(
    *,
    max_model: str | None,
    cpu_fallback_model: str,
    use_gpu_if_available: bool,
    develop_mode: bool,
    facts: DeviceFacts,
) -> ModelPlan:
    """The seed's rules:

    - DEVELOP_MODE uses the smallest model (of MAX_MODEL's family, if set) on any device.
    - GPU mode tries MAX_MODEL (or the best model) and every smaller one that fits free VRAM.
    - CPU mode (no CUDA, GPU disabled, or nothing fits) uses MAX_MODEL or CPU_FALLBACK_MODEL.
    """
    on_cpu = cpu_model(max_model, cpu_fallback_model, develop_mode)
    if not (use_gpu_if_available and facts.cuda_available):
        return ModelPlan(gpu_candidates=(), cpu_model=on_cpu)
    top = on_cpu if develop_mode else (max_model or BEST_MULTILINGUAL)
    fitting = tuple(name for name in ladder_from(top) if MODELS[name].vram_gib * GIB <= facts.free_vram_bytes)
    return ModelPlan(gpu_candidates=fitting, cpu_model=on_cpu)

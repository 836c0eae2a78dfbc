"""The table of official Whisper model names and the facts the decoder needs about them.

Pure data, no torch: the front end validates MAX_MODEL and CPU_FALLBACK_MODEL against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelInfo:
    name: str
    # Size tier: a model only falls back to models of a lower tier.
    tier: int
    english_only: bool
    # Rough VRAM need in GiB, from openai-whisper's published table.
    vram_gib: float
    # openai-whisper names its download after the URL, so aliases share a file (and a
    # CTranslate2 directory): "<file_stem>.pt" and "ctranslate2/<file_stem>/" under MODEL_DIR.
    file_stem: str

    @property
    def checkpoint_name(self) -> str:
        return f"{self.file_stem}.pt"


def _model(name: str, tier: int, vram_gib: float, stem: str | None = None) -> ModelInfo:
    return ModelInfo(name, tier, name.endswith(".en"), vram_gib, stem or name)


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        _model("tiny", 0, 1),
        _model("tiny.en", 0, 1),
        _model("base", 1, 1),
        _model("base.en", 1, 1),
        _model("small", 2, 2),
        _model("small.en", 2, 2),
        _model("medium", 3, 5),
        _model("medium.en", 3, 5),
        _model("large-v3-turbo", 4, 6),
        _model("turbo", 4, 6, "large-v3-turbo"),
        _model("large-v1", 5, 10),
        _model("large-v2", 5, 10),
        _model("large-v3", 5, 10),
        _model("large", 5, 10, "large-v3"),
    )
}

# The best model of each family, where MAX_MODEL is unset.
BEST_MULTILINGUAL = "large-v3"
SMALLEST_MULTILINGUAL = "tiny"
SMALLEST_ENGLISH = "tiny.en"


def model_names() -> tuple[str, ...]:
    return tuple(MODELS)


def ladder_from(top: str) -> tuple[str, ...]:
    """`top` and every smaller model of its family, largest first, one name per tier.

    Aliases ('large', 'turbo') are skipped below the top so that a fallback never loads the
    same weights twice under two names.
    """
    first = MODELS[top]
    lower = [
        info
        for info in MODELS.values()
        if info.english_only == first.english_only
        and info.tier < first.tier
        and info.name not in ("large", "turbo")
    ]
    lower.sort(key=lambda info: info.tier, reverse=True)
    return (top, *(info.name for info in lower))


def available_models(max_model: str, is_present: Callable[[str], bool]) -> tuple[str, ...]:
    """The models a task may ask for, smallest first: `max_model` (downloaded if need be) and every
    model no larger, English-only or multilingual, that `is_present` in MODEL_DIR already.
    MAX_MODEL caps the size a task may ask for, not the family."""
    top = MODELS[max_model]
    return tuple(
        info.name
        for info in MODELS.values()
        if info.name == max_model or (info.tier <= top.tier and is_present(info.name))
    )


def cpu_model(max_model: str | None, cpu_fallback_model: str, develop_mode: bool) -> str:
    """The model a decoder loads on a CPU: MAX_MODEL, else CPU_FALLBACK_MODEL; in DEVELOP_MODE
    the smallest one (of MAX_MODEL's family, where it is set)."""
    if develop_mode:
        english = max_model is not None and MODELS[max_model].english_only
        return SMALLEST_ENGLISH if english else SMALLEST_MULTILINGUAL
    return max_model or cpu_fallback_model


def ct2_directory(model_dir: Path, model: str) -> Path:
    """Where faster-whisper finds the model's CTranslate2 copy under MODEL_DIR."""
    return model_dir / "ctranslate2" / MODELS[model].file_stem


def has_ct2_copy(model_dir: Path, model: str) -> bool:
    return (ct2_directory(model_dir, model) / "model.bin").is_file()

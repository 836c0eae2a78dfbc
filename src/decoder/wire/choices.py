"""The names the decoder takes for its engine and the numbers it computes with, which the
front end's settings check (ENGINE, COMPUTE_TYPE), and which engine ENGINE=auto runs."""

from __future__ import annotations

from pathlib import Path

from decoder.wire.models import has_ct2_copy

ENGINE_NAMES = ("openai-whisper", "faster-whisper")
# The default: faster-whisper where MODEL_DIR holds a CTranslate2 copy of the model the decoder
# plans to load first, openai-whisper otherwise (engine_for).
AUTO_ENGINE = "auto"
# Benchmarks only (bench/cluster.py): decodes nothing, and every transcript it returns is empty.
STAND_IN_ENGINE = "bench-stand-in"
COMPUTE_TYPES = ("auto", "int8", "float16", "float32")


def engine_for(engine: str, model_dir: Path, model: str) -> str:
    """The engine that decodes with `model`: ENGINE's, or for ENGINE=auto faster-whisper where
    MODEL_DIR holds the model's CTranslate2 copy, else openai-whisper (which downloads a model
    it lacks, where the host has network): the faster engine wherever the host has its model."""
    if engine != AUTO_ENGINE:
        return engine
    return "faster-whisper" if has_ct2_copy(model_dir, model) else "openai-whisper"

"""Where speaker encoders live in MODEL_DIR (plain data: the front end reads it too).

    resemblyzer      speakers/resemblyzer.pt   copied from the resemblyzer wheel (ensure-model)
    any other NAME   speakers/NAME.onnx        `whisper-api import-model FILE.onnx --name NAME`

SPEAKER_ENCODER names the one the decoders use.
"""

from __future__ import annotations

import re
from pathlib import Path

DEFAULT_SPEAKER_ENCODER = "resemblyzer"
SPEAKERS_DIR = "speakers"
ONNX_SUFFIX = ".onnx"
ENCODER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def encoder_path(model_dir: Path, name: str = DEFAULT_SPEAKER_ENCODER) -> Path:
    suffix = ".pt" if name == DEFAULT_SPEAKER_ENCODER else ONNX_SUFFIX
    return model_dir / SPEAKERS_DIR / f"{name}{suffix}"

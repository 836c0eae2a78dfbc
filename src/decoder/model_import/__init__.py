"""Converts offline Whisper model directories into checkpoints that whisper.load_model() reads.

Supported sources are CTranslate2 / faster-whisper directories (model.bin + config.json)
and Hugging Face transformers Whisper directories (config.json + safetensors or
pytorch_model.bin weights, sharded or not). A CTranslate2 source is also copied as it is to
MODEL_DIR/ctranslate2/<name>/, where the faster-whisper engine loads it.
"""

from __future__ import annotations

import contextlib
import pickle
import shutil
import struct
import tempfile
from pathlib import Path

from decoder.errors import ModelImportError
from decoder.model_import.checkpoint import write_checkpoint
from decoder.model_import.ct2 import load_ct2
from decoder.model_import.huggingface import load_huggingface
from decoder.model_import.readers import read_json_object

__all__ = ["ModelImportError", "import_model"]

# Errors that the readers' libraries raise for unreadable or malformed input.
_FOREIGN_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    struct.error,
    RuntimeError,
    pickle.UnpicklingError,
)


def _detect(source: Path) -> str:
    if not source.exists():
        raise ModelImportError(f"model source {source} does not exist")
    if not source.is_dir():
        raise ModelImportError(f"model source {source} is not a directory")
    if (source / "model.bin").is_file():
        return "ct2"
    config = source / "config.json"
    if config.is_file():
        model_type = read_json_object(config).get("model_type")
        if model_type == "whisper":
            return "huggingface"
        raise ModelImportError(f"{config}: model_type {model_type!r} is not a Whisper model")
    raise ModelImportError(
        f"{source}: unknown model format (expected model.bin for CTranslate2 or config.json for Hugging Face)"
    )


def copy_ct2_directory(source: Path, destination: Path) -> None:
    """Copy a CTranslate2 model directory; the destination appears whole or not at all."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def import_model(source: Path, name: str, model_dir: Path) -> Path:
    """Converts the model directory `source` into model_dir/<name>.pt and returns that path.

    The file is written atomically; on any failure ModelImportError is raised and no
    checkpoint (complete or partial) is left under model_dir.
    """
    if not name or Path(name).name != name or name in {".", ".."} or name.startswith("."):
        raise ModelImportError(f"invalid model name {name!r}: it must be a plain file name")
    destination = model_dir / f"{name}.pt"
    ct2_copy: Path | None = None
    try:
        # Inside the try: reading config.json to tell the format can fail like any other read.
        if _detect(source) == "ct2":
            weights = load_ct2(source)
            ct2_copy = model_dir / "ctranslate2" / name
            copy_ct2_directory(source, ct2_copy)
        else:
            weights = load_huggingface(source)
        write_checkpoint(weights, destination)
    except _FOREIGN_ERRORS as exc:
        if ct2_copy is not None and not destination.exists():
            shutil.rmtree(ct2_copy, ignore_errors=True)
            with contextlib.suppress(OSError):
                ct2_copy.parent.rmdir()
        raise ModelImportError(f"cannot import {source}: {type(exc).__name__}: {exc}") from exc
    return destination

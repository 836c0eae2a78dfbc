"""`whisper-api import-model` and `ensure-model`: Whisper models and a speaker encoder brought
into MODEL_DIR. They convert weights with torch and check an encoder with onnxruntime, so
decoder.model_import is imported in the functions, in this process only: the one declared
exception to the front end's import rules, and never in the server."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def import_model(source: Path, name: str, model_dir: Path) -> int:
    """Convert a Whisper model, or import a speaker encoder (an .onnx file), into MODEL_DIR."""
    # Imported here: conversion needs torch, which the server process must never load.
    from decoder.model_import import ModelImportError
    from decoder.model_import import import_model as convert
    from decoder.model_import.speaker_encoder import import_speaker_encoder
    from decoder.wire.speaker_files import ONNX_SUFFIX

    try:
        if source.suffix == ONNX_SUFFIX:
            path = import_speaker_encoder(source, name, model_dir)
        else:
            path = convert(source, name, model_dir)
    except ModelImportError as exc:
        print(f"whisper-api import-model: {exc}", file=sys.stderr)
        return 1
    print(f"imported {source} as model {name!r}: {path}")
    return 0


def ensure_model(model_dir: Path) -> int:
    """Import each model that an installed offline package ships (decoder.model_import.packaged)
    unless MODEL_DIR holds it for both engines already: a checkpoint for openai-whisper and a
    CTranslate2 directory for faster-whisper."""
    # Imported here: the model import needs torch, which the server process must never load.
    from decoder.model_import.packaged import PACKAGED_MODELS

    installed = [model for model in PACKAGED_MODELS if model.installed]
    if not installed and not any(model_dir.glob("*.pt")):
        extras = ", ".join(sorted({model.extra for model in PACKAGED_MODELS}))
        print(f"whisper-api ensure-model: install an extra that ships a model ({extras})", file=sys.stderr)
        return 1
    for model in installed:
        if (model_dir / f"{model.name}.pt").is_file() and (model_dir / "ctranslate2" / model.name).is_dir():
            print(f"model {model.name} is in {model_dir}")
            continue
        with model.source() as source:
            if failed := import_model(source, model.name, model_dir):
                return failed
    return ensure_speaker_encoder(model_dir)


def ensure_speaker_encoder(model_dir: Path) -> int:
    """Copy the speaker encoder that the resemblyzer package ships into MODEL_DIR (diarization)."""
    from decoder.model_import.packaged import packaged_encoder
    from decoder.wire.speaker_files import encoder_path

    target = encoder_path(model_dir)
    source = packaged_encoder()
    if target.is_file() or source is None:
        found = target if target.is_file() else "none (install resemblyzer to label speakers)"
        print(f"speaker encoder: {found}")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    shutil.copyfile(source, partial)
    partial.replace(target)
    print(f"imported the speaker encoder: {target}")
    return 0

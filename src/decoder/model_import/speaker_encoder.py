"""Importing a speaker encoder from an ONNX file into MODEL_DIR/speakers/ (decoder.wire.speaker_files)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from decoder.errors import ModelImportError, SpeakerEncoderError
from decoder.wire.speaker_files import DEFAULT_SPEAKER_ENCODER, ENCODER_NAME, encoder_path


def import_speaker_encoder(source: Path, name: str, model_dir: Path) -> Path:
    """Check that `source` is an ONNX speaker encoder the decoder can run, and copy it in whole."""
    from decoder.speakers.onnx_encoder import check_onnx_encoder

    if not ENCODER_NAME.fullmatch(name) or name == DEFAULT_SPEAKER_ENCODER:
        raise ModelImportError(
            f"{name!r} cannot name a speaker encoder: use letters, digits, '.', '_' and '-', "
            f"and not {DEFAULT_SPEAKER_ENCODER!r}"
        )
    if not source.is_file():
        raise ModelImportError(f"speaker encoder {source} is not a file")
    try:
        check_onnx_encoder(source)
    except SpeakerEncoderError as exc:
        raise ModelImportError(str(exc)) from exc
    target = encoder_path(model_dir, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{name}.", dir=target.parent)
    os.close(handle)
    try:
        shutil.copyfile(source, staging)
        os.replace(staging, target)
    finally:
        Path(staging).unlink(missing_ok=True)
    return target

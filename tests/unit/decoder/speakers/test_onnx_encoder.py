from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from decoder.audio.samples import SAMPLE_RATE
from decoder.model_import import ModelImportError
from decoder.model_import.speaker_encoder import import_speaker_encoder
from decoder.speakers.encoders import load_encoder
from decoder.speakers.fbank import BINS, FRAME, SHIFT, fbank, frame_count
from decoder.speakers.onnx_encoder import OnnxEncoder
from decoder.wire.speaker_files import encoder_path
from tests.support.onnx_encoder import SIZE, build_encoder


def test_filter_banks_have_kaldis_frames_and_see_pitch() -> None:
    assert frame_count(FRAME - 1) == 0 and frame_count(FRAME) == 1 and frame_count(FRAME + SHIFT) == 2
    time = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    low, high = (fbank((0.3 * np.sin(2 * np.pi * hz * time)).astype(np.float32)) for hz in (300, 3000))
    assert low.shape == (frame_count(SAMPLE_RATE), BINS) == (98, 80)
    # Each tone's energy sits in the bank of its pitch; a higher pitch in a higher bank.
    assert low.mean(axis=0).argmax() < high.mean(axis=0).argmax()
    assert fbank(np.zeros(FRAME - 1, np.float32)).shape == (0, BINS)
    assert np.isfinite(fbank(np.zeros(SAMPLE_RATE, np.float32))).all()


def test_an_onnx_encoder_is_imported_and_embeds_clips_of_any_length(tmp_path: Path) -> None:
    source = build_encoder(tmp_path / "toy.onnx")
    path = import_speaker_encoder(source, "toy", tmp_path / "models")
    assert path == encoder_path(tmp_path / "models", "toy") and path.read_bytes() == source.read_bytes()
    encoder = load_encoder(tmp_path / "models", "toy", 1)
    assert isinstance(encoder, OnnxEncoder)
    rng = np.random.default_rng(1)
    clips = [
        rng.normal(scale=0.1, size=length).astype(np.float32)
        for length in (SAMPLE_RATE // 3, SAMPLE_RATE, 3 * SAMPLE_RATE)
    ]
    rows = encoder.embed(clips)
    assert rows.shape == (3, SIZE)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert np.allclose(encoder.embed(clips[1:2]), rows[1:2], atol=1e-6)


def test_what_is_no_speaker_encoder_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    models = tmp_path / "models"
    wrong_bins = build_encoder(tmp_path / "wrong.onnx", bins=40)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    for source, reason in (
        (wrong_bins, "one input of"),
        (junk, "not an ONNX model"),
        (tmp_path / "none.onnx", "not a file"),
    ):
        with pytest.raises(ModelImportError, match=reason):
            import_speaker_encoder(source, "toy", models)
    with pytest.raises(ModelImportError, match="cannot name"):
        import_speaker_encoder(build_encoder(tmp_path / "toy.onnx"), "../escape", models)
    with pytest.raises(ModelImportError, match="cannot name"):
        import_speaker_encoder(build_encoder(tmp_path / "toy.onnx"), "resemblyzer", models)
    assert not models.exists() or not any(models.rglob("*"))

"""The benchmark's stand-in engine: no model, no audio read, a fixed time per task with progress
as an engine reports it, and an empty transcript."""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder.engines import EngineOptions, create_engine, stand_in
from decoder.wire.choices import STAND_IN_ENGINE
from decoder.wire.protocol import SubmitTask


def test_it_takes_its_time_reports_progress_and_hears_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stand_in, "STAND_IN_TASK_S", 0.04)
    engine = create_engine(STAND_IN_ENGINE, tmp_path / "no-models", EngineOptions())
    assert engine.name == STAND_IN_ENGINE and engine.has_model("large-v3")
    model = engine.load("tiny.en", "cpu")
    progress: list[float] = []
    task = SubmitTask("a" * 32, str(tmp_path / "never-read.wav"), "transcribe", None, duration_s=7.5)
    transcript = model.transcribe(
        None,  # type: ignore[arg-type]  # it reads no audio
        task,
        english_only=True,
        on_progress=lambda decoded, total, segments: progress.append(decoded / total),
    )
    assert progress == [0.25, 0.5, 0.75, 1.0]
    assert (transcript.text, transcript.segments, transcript.duration_s) == ("", (), 7.5)

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from decoder.ladder import ModelPlan
from decoder.model_holder import ModelHolder, ModelLoadError
from decoder.protocol import SubmitTask
from tests.speech import PARAGRAPHS, word_error_rate


class FakeLoader:
    """Stands in for whisper.load_model: models in `too_big` do not fit the GPU."""

    def __init__(self, too_big: set[str]) -> None:
        self.too_big = too_big
        self.calls: list[tuple[str, str]] = []

    def __call__(self, name: str, device: str, download_root: str | None = None) -> object:
        self.calls.append((name, device))
        if device == "cuda" and name in self.too_big:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return object()


def test_out_of_memory_falls_down_the_ladder(tmp_path: Path) -> None:
    loader = FakeLoader(too_big={"large-v3", "medium"})
    holder = ModelHolder(ModelPlan(("large-v3", "medium", "small"), "medium"), tmp_path, loader)
    holder.load()
    assert loader.calls == [("large-v3", "cuda"), ("medium", "cuda"), ("small", "cuda")]
    assert (holder.loaded_name, holder.device) == ("small", "cuda")


def test_nothing_fits_the_gpu_falls_back_to_cpu(tmp_path: Path) -> None:
    loader = FakeLoader(too_big={"base", "tiny"})
    holder = ModelHolder(ModelPlan(("base", "tiny"), "base"), tmp_path, loader)
    holder.load()
    assert loader.calls[-1] == ("base", "cpu")
    assert (holder.loaded_name, holder.device) == ("base", "cpu")


def test_unload_keeps_the_last_name(tmp_path: Path) -> None:
    holder = ModelHolder(ModelPlan((), "small"), tmp_path, FakeLoader(set()))
    holder.load()
    holder.unload()
    assert not holder.is_loaded
    assert holder.last_loaded_name == "small"


def test_a_missing_offline_model_names_the_fix(tmp_path: Path) -> None:
    def offline(name: str, device: str, download_root: str | None = None) -> Any:
        raise RuntimeError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    holder = ModelHolder(ModelPlan((), "medium"), tmp_path, offline)
    with pytest.raises(ModelLoadError) as caught:
        holder.load()
    assert "could not be downloaded" in str(caught.value)
    assert "whisper-api import-model" in str(caught.value)


@pytest.mark.slow
def test_real_model_transcribes_and_translates_english(model_dir: Path, speech_dir: Path) -> None:
    holder = ModelHolder(ModelPlan((), "tiny.en"), model_dir)
    audio = str(speech_dir / "paragraph2.wav")
    transcript = holder.transcribe(SubmitTask("a" * 32, audio, "transcribe", None))
    translated = holder.transcribe(SubmitTask("b" * 32, audio, "translate", None))
    assert transcript.used_model_size == "tiny.en"
    assert (transcript.used_device, transcript.language) == ("cpu", "en")
    assert word_error_rate(PARAGRAPHS[2], transcript.text) <= 0.10
    assert translated.text == transcript.text
    assert transcript.segments[0][0] == 0.0 and transcript.segments[-1][1] > transcript.segments[0][1]

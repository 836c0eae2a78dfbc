from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from decoder.ladder import ModelPlan
from decoder.model_holder import ModelHolder, ModelLoadError
from decoder.protocol import DecodeOptions, SubmitTask
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
def test_real_model_transcribes_translates_and_reports_progress(model_dir: Path, speech_dir: Path) -> None:
    holder = ModelHolder(ModelPlan((), "tiny.en"), model_dir)
    audio = str(speech_dir / "paragraph2.wav")
    progress: list[tuple[float, float]] = []
    transcript = holder.transcribe(
        SubmitTask("a" * 32, audio, "transcribe", None), lambda done, total: progress.append((done, total))
    )
    translated = holder.transcribe(SubmitTask("b" * 32, audio, "translate", None), lambda done, total: None)
    assert (holder.loaded_name, holder.device, transcript.language) == ("tiny.en", "cpu", "en")
    assert word_error_rate(PARAGRAPHS[2], transcript.text) <= 0.10
    assert translated.text == transcript.text
    assert transcript.segments[0][0] == 0.0 and transcript.segments[-1][1] > transcript.segments[0][1]
    assert 10 < transcript.duration_s < 30
    assert progress and progress[0][1] == pytest.approx(transcript.duration_s, abs=0.05)
    assert transcript.words == ((),) * len(transcript.segments)
    assert len(transcript.stats) == len(transcript.segments)


@pytest.mark.slow
def test_word_timestamps_prompt_and_beam_search(model_dir: Path, speech_dir: Path) -> None:
    holder = ModelHolder(ModelPlan((), "tiny.en"), model_dir)
    options = DecodeOptions(initial_prompt="Council meeting notes.", beam_size=3, word_timestamps=True)
    task = SubmitTask("c" * 32, str(speech_dir / "paragraph1.wav"), "transcribe", None, options)
    transcript = holder.transcribe(task, lambda done, total: None)
    assert word_error_rate(PARAGRAPHS[1], transcript.text) <= 0.10
    words = [word for segment in transcript.words for word in segment]
    assert word_error_rate(PARAGRAPHS[1], "".join(word[2] for word in words)) <= 0.10
    starts = [word[0] for word in words]
    assert starts == sorted(starts) and all(start <= end for start, end, _, _ in words)


def test_language_detection_needs_a_multilingual_model(model_dir: Path, speech_dir: Path) -> None:
    holder = ModelHolder(ModelPlan((), "tiny.en"), model_dir)
    with pytest.raises(ValueError):
        holder.detect_language(str(speech_dir / "paragraph0.wav"))


def test_tasks_reuse_the_loaded_model_and_switch_when_asked(tmp_path: Path) -> None:
    loader = FakeLoader(set())
    holder = ModelHolder(ModelPlan((), "small"), tmp_path, loader)
    holder.load()
    holder.use(None)
    holder.use("small")
    assert loader.calls == [("small", "cpu")]
    holder.use("base")
    holder.use(None)
    assert loader.calls == [("small", "cpu"), ("base", "cpu"), ("small", "cpu")]

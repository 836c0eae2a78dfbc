from __future__ import annotations

import wave as wave_module
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from decoder.audio.ffmpeg import AudioFile
from decoder.audio.samples import Samples
from decoder.device.ladder import NO_GPU, DeviceFacts, ModelPlan
from decoder.engines import HeardTurn, LoadedModel, ModelDoesNotFit, ModelLoadError
from decoder.process.model_holder import GIB, ModelHolder, ModelReport
from decoder.wire.protocol import DecodeTurn, ModelFailed, ModelLoaded, ModelUnloaded, SubmitTask
from decoder.wire.transcript import Transcript


@contextmanager
def wave_writer(path: Path) -> Iterator[wave_module.Wave_write]:
    with wave_module.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16_000)
        yield writer


class FakeModel:
    def __init__(self, name: str) -> None:
        self.name = name

    def transcribe(
        self, audio: AudioFile, task: SubmitTask, *, english_only: bool, on_progress: object
    ) -> Transcript:
        return Transcript(text=self.name, language=task.language or "", duration_s=1.0, segments=())

    def language_probabilities(self, audio: Samples) -> dict[str, float]:
        return {"en": 0.1, "de": 0.9}

    def transcribe_turn(self, audio: Samples, language: str | None, prompt: str | None) -> HeardTurn:
        return HeardTurn(f"{self.name} heard {len(audio)} samples", language or "de")


class FakeEngine:
    """Models in `too_big` do not fit the GPU; `missing` ones are nowhere to be found."""

    name = "fake"
    batches_files = False

    def __init__(self, too_big: Collection[str] = (), missing: Collection[str] = ()) -> None:
        self.too_big = too_big
        self.missing = missing
        self.calls: list[tuple[str, str]] = []
        self.releases = 0

    def probe_device(self, use_gpu_if_available: bool) -> DeviceFacts:
        return NO_GPU

    def has_model(self, model: str) -> bool:
        return model not in self.missing

    def load(self, model: str, device: str) -> LoadedModel:
        self.calls.append((model, device))
        if device == "cuda" and model in self.too_big:
            raise ModelDoesNotFit("CUDA out of memory")
        if model in self.missing:
            raise ModelLoadError(f"model {model} is missing")
        return FakeModel(model)

    def release_memory(self) -> None:
        self.releases += 1


def test_out_of_memory_falls_down_the_ladder() -> None:
    engine = FakeEngine(too_big={"large-v3", "medium"})
    holder = ModelHolder(ModelPlan(("large-v3", "medium", "small"), "medium"), engine)
    holder.load()
    assert engine.calls == [("large-v3", "cuda"), ("medium", "cuda"), ("small", "cuda")]
    assert (holder.loaded_name, holder.device) == ("small", "cuda")
    assert engine.releases == 2


def test_nothing_fits_the_gpu_falls_back_to_cpu() -> None:
    engine = FakeEngine(too_big={"base", "tiny"})
    holder = ModelHolder(ModelPlan(("base", "tiny"), "base"), engine)
    holder.load()
    assert engine.calls[-1] == ("base", "cpu")
    assert (holder.loaded_name, holder.device) == ("base", "cpu")


def test_load_and_unload_are_reported_and_unload_keeps_the_last_name() -> None:
    reports: list[ModelReport] = []
    holder = ModelHolder(ModelPlan((), "small"), FakeEngine(), reports.append)
    holder.load()
    holder.unload()
    assert not holder.is_loaded
    assert holder.last_loaded_name == "small"
    assert [type(report) for report in reports] == [ModelLoaded, ModelUnloaded]
    assert isinstance(reports[0], ModelLoaded) and (reports[0].model, reports[0].device) == ("small", "cpu")


def test_a_load_error_reaches_the_caller_and_nothing_is_loaded() -> None:
    holder = ModelHolder(ModelPlan((), "medium"), FakeEngine(missing={"medium"}))
    with pytest.raises(ModelLoadError, match="medium is missing"):
        holder.load()
    assert not holder.is_loaded


def test_tasks_reuse_the_loaded_model_and_switch_when_asked(tmp_path: Path) -> None:
    engine = FakeEngine()
    holder = ModelHolder(ModelPlan((), "small"), engine)
    holder.load()
    holder.use(None)
    holder.use("small")
    assert engine.calls == [("small", "cpu")]
    task = SubmitTask("a" * 32, str(tmp_path / "x.wav"), "transcribe", None)
    wave = tmp_path / "x.wav"
    with wave_writer(wave) as silence:
        silence.writeframes(np.zeros(16_000, np.int16).tobytes())
    audio = AudioFile(task.audio_path, None, timeout_s=60)
    # A multilingual model hears the language before it decodes, and decodes in it.
    transcript = holder.transcribe(audio, task, lambda *_: None)
    assert (transcript.text, transcript.language) == ("small", "de")
    holder.use("base")
    assert holder.detect_language(audio, None).candidates == (("de", 0.9), ("en", 0.1))
    # Both stay loaded, the one used last at the end.
    assert engine.calls == [("small", "cpu"), ("base", "cpu")]
    assert [held.model for held in holder.held()] == ["base", "small"]


def plenty(device: str) -> int | None:
    return 64 * GIB


def test_a_model_loads_beside_the_others_and_the_least_recently_used_goes_when_memory_is_short() -> None:
    free = {"cpu": 64 * GIB}
    reports: list[ModelReport] = []
    holder = ModelHolder(ModelPlan((), "small"), FakeEngine(), reports.append, free_memory=free.get)
    holder.load()
    holder.load_model("base")
    holder.use(None)  # small is now the most recently used
    assert [held.model for held in holder.held()] == ["base", "small"]
    # medium needs 5 GiB, and only 3 are free: base goes, then small, until it fits or none is left.
    free["cpu"] = 3 * GIB
    holder.load_model("medium")
    assert [held.model for held in holder.held()] == ["medium"]
    unloaded = [report.model for report in reports if isinstance(report, ModelUnloaded)]
    assert unloaded == ["base", "small"]


def test_a_model_that_does_not_fit_the_gpu_beside_others_unloads_them_first() -> None:
    engine = FakeEngine(too_big={"large-v3"})
    holder = ModelHolder(ModelPlan(("small",), "small"), engine, free_memory=plenty)
    holder.load()
    with pytest.raises(ModelDoesNotFit):
        holder.load_model("large-v3")
    # It tried beside small, unloaded small and tried again alone.
    assert engine.calls == [("small", "cuda"), ("large-v3", "cuda"), ("large-v3", "cuda")]
    assert not holder.is_loaded


def test_each_model_unloads_after_its_own_idle_time(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("decoder.process.model_holder.time.monotonic", lambda: now[0])
    holder = ModelHolder(ModelPlan((), "small"), FakeEngine(), free_memory=plenty)
    holder.load()
    now[0] += 40
    holder.load_model("base")
    assert holder.idle_in(60) == 20
    now[0] += 20
    assert holder.unload_idle(60)
    assert [held.model for held in holder.held()] == ["base"]
    assert holder.idle_in(60) == 40
    now[0] += 40
    assert holder.unload_idle(60)
    assert holder.idle_in(60) is None and not holder.unload_idle(60)


def test_a_live_turn_loads_the_planned_model_and_an_english_one_hears_english() -> None:
    audio = np.zeros(16000, np.float32)
    multilingual = ModelHolder(ModelPlan((), "small"), FakeEngine())
    heard = multilingual.transcribe_turn(audio, DecodeTurn("t1", "s1", audio.tobytes()))
    assert heard == HeardTurn("small heard 16000 samples", "de")
    english = ModelHolder(ModelPlan((), "small.en"), FakeEngine())
    assert english.transcribe_turn(audio, DecodeTurn("t2", "s1", audio.tobytes())).language == "en"


class BrokenFiles(FakeEngine):
    """Its `missing` models are in MODEL_DIR, but fail to load."""

    def has_model(self, model: str) -> bool:
        return True


def test_a_model_asked_for_that_cannot_load_is_reported_with_why() -> None:
    reports: list[ModelReport] = []
    engine = BrokenFiles(missing={"base"})
    holder = ModelHolder(ModelPlan((), "small"), engine, reports.append, free_memory=plenty)
    holder.load_asked("medium")  # larger than the plan's model: not offered
    holder.load_asked("base")  # offered, but fails to load
    assert reports == [
        ModelFailed("medium", "model medium is not in MODEL_DIR for the fake engine"),
        ModelFailed("base", "model base is missing"),
    ]
    holder.load_asked("tiny")
    assert isinstance(reports[-1], ModelLoaded) and holder.loaded_name == "tiny"


def test_a_live_turn_hears_with_the_last_tasks_model_not_one_only_the_operator_loaded() -> None:
    audio = np.zeros(16000, np.float32)
    holder = ModelHolder(ModelPlan((), "small"), FakeEngine(), free_memory=plenty)
    holder.load_model("base")
    turn = DecodeTurn("t1", "s1", audio.tobytes())
    assert holder.transcribe_turn(audio, turn).text.startswith("small heard")
    holder.use("base")
    assert holder.transcribe_turn(audio, turn).text.startswith("base heard")
    holder.unload("base")
    assert holder.transcribe_turn(audio, turn).text.startswith("small heard")

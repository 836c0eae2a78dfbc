"""Keeps one model loaded on the best device that holds it, and unloads it when told."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from decoder.device.ladder import ModelPlan
from decoder.engines import BatchingModel, Engine, HeardTurn, LoadedModel, ModelDoesNotFit, ProgressCallback
from decoder.process.detection import Detection, detect_in_file
from decoder.wire.models import MODELS
from decoder.wire.protocol import DecodeTurn, ModelLoaded, ModelUnloaded, SubmitTask
from decoder.wire.transcript import Transcript

if TYPE_CHECKING:
    from decoder.audio.ffmpeg import AudioFile
    from decoder.audio.samples import Samples

log = logging.getLogger(__name__)


class ModelHolder:
    def __init__(
        self,
        plan: ModelPlan,
        engine: Engine,
        report: Callable[[ModelLoaded | ModelUnloaded], None] = lambda message: None,
    ) -> None:
        self.plan = plan
        self.engine = engine
        # Tells the front end of every load and unload, for its metrics.
        self._report = report
        self._model: LoadedModel | None = None
        self.loaded_name: str | None = None
        self.last_loaded_name: str | None = None
        self.device: str | None = None
        # What load() last chose from the plan; tasks without a model of their own get it.
        self._planned_name: str | None = None

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the plan's best model that works: each GPU candidate in turn, then the CPU model."""
        if self.is_loaded:
            return
        self._load_planned()
        self._planned_name = self.loaded_name

    def _load_planned(self) -> None:
        for name in self.plan.gpu_candidates:
            try:
                self._load(name, "cuda")
                return
            except ModelDoesNotFit:
                log.warning("model %s does not fit into GPU memory, trying a smaller one", name)
                self.engine.release_memory()
        if self.plan.gpu_candidates:
            log.warning("no model fits the GPU, falling back to the CPU")
        self._load(self.plan.cpu_model, "cpu")

    def _load(self, name: str, device: str) -> None:
        started = time.monotonic()
        model = self.engine.load(name, device)
        self._model, self.loaded_name, self.last_loaded_name, self.device = model, name, name, device
        seconds = time.monotonic() - started
        log.info("loaded model %s on %s with %s in %.1f s", name, device, self.engine.name, seconds)
        self._report(ModelLoaded(name, device, seconds))

    def unload(self) -> None:
        if not self.is_loaded:
            return
        log.info("unloading model %s", self.loaded_name)
        self._report(ModelUnloaded(self.loaded_name or ""))
        self._model, self.loaded_name, self.device = None, None, None
        self.engine.release_memory()

    def use(self, requested: str | None) -> LoadedModel:
        """Have the requested model loaded (None: the plan's own choice), switching if needed."""
        if requested is None or requested == self._planned_name:
            if self.loaded_name is not None and self.loaded_name != self._planned_name:
                self.unload()
            self.load()
        elif self.loaded_name != requested:
            device = self.device or ("cuda" if self.plan.gpu_mode else "cpu")
            self.unload()
            self._load(requested, device)
        assert self._model is not None
        return self._model

    def transcribe(self, audio: AudioFile, task: SubmitTask, on_progress: ProgressCallback) -> Transcript:
        """Decode the task; where it names no language and the model knows many, the language is
        heard on windows spread over the file first (decoder.process.detection), not on its start alone."""
        model = self.use(task.options.model)
        assert self.loaded_name is not None
        english_only = MODELS[self.loaded_name].english_only
        if task.language is None and not english_only:
            detection = detect_in_file(audio, model.language_probabilities)
            log.info("task %s: language %s (%.2f)", task.task_id, detection.language, detection.probability)
            task = replace(task, language=detection.language)
        return model.transcribe(audio, task, english_only=english_only, on_progress=on_progress)

    def transcribe_batch(self, audios: Sequence[Samples], task: SubmitTask) -> list[Transcript]:
        """Short recordings decoded at once with `task`'s choices (the engine batches files)."""
        model = self.use(task.options.model)
        assert self.loaded_name is not None and isinstance(model, BatchingModel)
        return model.transcribe_batch(audios, task, english_only=MODELS[self.loaded_name].english_only)

    def transcribe_turn(self, audio: Samples, turn: DecodeTurn) -> HeardTurn:
        """A live turn, with the model loaded now (between a task's windows: that task's), or
        else the plan's own."""
        if self._model is None:
            self.load()
        assert self._model is not None and self.loaded_name is not None
        language = "en" if MODELS[self.loaded_name].english_only else turn.language
        return self._model.transcribe_turn(audio, language, turn.prompt)

    def detect_language(self, audio: AudioFile, model: str | None) -> Detection:
        return detect_in_file(audio, self.use(model).language_probabilities)

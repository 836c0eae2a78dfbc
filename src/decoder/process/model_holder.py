"""Keeps the decoder's models loaded: the plan's own on the best device that holds it, and any
other a task or the operator asks for beside it, while memory allows. Each unloads after its own
idle time; where memory is short, the least recently used goes first."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from decoder.device.ladder import ModelPlan
from decoder.device.machine import available_memory
from decoder.engines import BatchingModel, Engine, HeardTurn, LoadedModel, ModelDoesNotFit, ProgressCallback
from decoder.errors import ModelLoadError, client_reason
from decoder.process.detection import Detection, detect_in_file
from decoder.process.language_map import map_languages
from decoder.process.language_runs import decode_runs, decoding, in_language, in_one_language
from decoder.wire.models import MODELS, available_models
from decoder.wire.protocol import DecodeTurn, HeldModel, ModelFailed, ModelLoaded, ModelUnloaded, SubmitTask
from decoder.wire.transcript import Transcript

if TYPE_CHECKING:
    from decoder.audio.ffmpeg import AudioFile
    from decoder.audio.samples import Samples

log = logging.getLogger(__name__)

GIB = 1024**3
# Free memory (bytes) on a device; None where it cannot be told (a GPU: loading tells).
MemoryGauge = Callable[[str], int | None]
# What the front end hears of the models: every load and unload (its metrics, its list) and why
# a model the operator asked for did not load.
ModelReport = ModelLoaded | ModelUnloaded | ModelFailed


@dataclass
class _Held:
    model: LoadedModel
    device: str
    # Wall-clock time for the front end, monotonic time for the idle unload.
    used_at: float
    used_monotonic: float


class ModelHolder:
    def __init__(
        self,
        plan: ModelPlan,
        engine: Engine,
        report: Callable[[ModelReport], None] = lambda message: None,
        free_memory: MemoryGauge = available_memory,
    ) -> None:
        self.plan = plan
        self.engine = engine
        self._report = report
        self._free_memory = free_memory
        # Least recently used first.
        self._held: dict[str, _Held] = {}
        self.last_loaded_name: str | None = None
        # What load() last chose from the plan; tasks without a model of their own get it.
        self._planned_name: str | None = None
        # The model the last task (or detection) used.
        self._last_used: str | None = None

    @property
    def is_loaded(self) -> bool:
        return bool(self._held)

    @property
    def loaded_name(self) -> str | None:
        """The model used last (that of the task in hand, while one decodes)."""
        return next(reversed(self._held), None)

    @property
    def device(self) -> str | None:
        name = self.loaded_name
        return self._held[name].device if name is not None else None

    def held(self) -> tuple[HeldModel, ...]:
        return tuple(HeldModel(name, held.device, held.used_at) for name, held in self._held.items())

    def load(self) -> None:
        """Load the plan's best model that works: each GPU candidate in turn, then the CPU model."""
        if self._planned_name in self._held:
            self._touch(self._planned_name)
            return
        self._load_planned()
        self._planned_name = self.loaded_name

    def load_model(self, name: str) -> None:
        """Have `name` loaded beside the others (on the device of the plan's own model)."""
        if name in self._held:
            self._touch(name)
            return
        self._load(name, self._extra_device())

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

    def available_models(self) -> tuple[str, ...]:
        """The models a task or the operator may ask for, as MODEL_DIR holds them now."""
        return available_models(self.plan.max_model_to_use, self.engine.has_model)

    def load_asked(self, name: str) -> None:
        """A model the operator asked for (LoadModel, PRELOAD_MODELS): loaded beside the others,
        or ModelFailed reported with the reason, in a load error's own words (they are the
        operator's to read)."""
        try:
            if name not in self.available_models():
                raise ModelLoadError(f"model {name} is not in MODEL_DIR for the {self.engine.name} engine")
            self.load_model(name)
        except Exception as exc:
            log.error("model %s could not be loaded: %s", name, exc)
            self._report(
                ModelFailed(name, str(exc) if isinstance(exc, ModelLoadError) else client_reason(exc))
            )

    def _extra_device(self) -> str:
        planned = self._held.get(self._planned_name or "")
        if planned is not None:
            return planned.device
        return "cuda" if self.plan.gpu_mode else "cpu"

    def _load(self, name: str, device: str) -> None:
        """Load `name`, first unloading the least recently used models while the memory left
        is short of its need, and again while the device says it does not fit."""
        self._make_room(name, device)
        started = time.monotonic()
        while True:
            try:
                model = self.engine.load(name, device)
                break
            except ModelDoesNotFit:
                if not self._held:
                    raise
                log.warning("model %s does not fit beside the others, unloading one", name)
                self.unload(next(iter(self._held)))
        seconds = time.monotonic() - started
        self._held[name] = _Held(model, device, time.time(), time.monotonic())
        self.last_loaded_name = name
        log.info("loaded model %s on %s with %s in %.1f s", name, device, self.engine.name, seconds)
        self._report(ModelLoaded(name, device, seconds))

    def _make_room(self, name: str, device: str) -> None:
        need = int(MODELS[name].vram_gib * GIB)
        while self._held and (free := self._free_memory(device)) is not None and free < need:
            least = next(iter(self._held))
            log.info("%.1f GiB free, model %s needs %.1f: unloading %s", free / GIB, name, need / GIB, least)
            self.unload(least)

    def _touch(self, name: str) -> LoadedModel:
        held = self._held.pop(name)
        held.used_at, held.used_monotonic = time.time(), time.monotonic()
        self._held[name] = held
        return held.model

    def unload(self, name: str | None = None) -> None:
        """Unload `name` (None: every model); one not loaded is no error."""
        names = list(self._held) if name is None else [name] if name in self._held else []
        for each in names:
            log.info("unloading model %s", each)
            del self._held[each]
            self._report(ModelUnloaded(each))
        if names:
            self.engine.release_memory()

    def unload_idle(self, after_s: float) -> bool:
        """Unload every model unused for `after_s`; whether any was."""
        now = time.monotonic()
        idle = [name for name, held in self._held.items() if now - held.used_monotonic >= after_s]
        for name in idle:
            self.unload(name)
        return bool(idle)

    def idle_in(self, after_s: float) -> float | None:
        """Seconds until the least recently used model has been idle for `after_s`; None: none loaded."""
        if not self._held:
            return None
        oldest = next(iter(self._held.values())).used_monotonic
        return max(0.0, oldest + after_s - time.monotonic())

    def use(self, requested: str | None) -> LoadedModel:
        """Have the requested model loaded (None: the plan's own choice), beside the others."""
        if requested is None or requested == self._planned_name:
            self.load()
            assert self._planned_name is not None
            requested = self._planned_name
        else:
            self.load_model(requested)
        self._last_used = requested
        return self._touch(requested)

    def transcribe(self, audio: AudioFile, task: SubmitTask, on_progress: ProgressCallback) -> Transcript:
        """Decode the task; where it names no language and the model knows many, each stretch of
        the file is decoded in the language heard in it (decoder.process.language_map)."""
        model = self.use(task.options.model)
        assert self.loaded_name is not None
        english_only = MODELS[self.loaded_name].english_only
        if task.language is not None or english_only:
            reported = in_language("en" if english_only else task.language or "", on_progress)
            transcript = model.transcribe(audio, task, english_only=english_only, on_progress=reported)
            return in_one_language(transcript)
        # Nothing is decoded while the languages are heard; reporting that lets a cancel, and
        # the live turns, in between.
        heard = map_languages(
            audio, model.language_probabilities, lambda heard_s: on_progress(0.0, heard_s, ())
        )
        spoken = ", ".join(f"{share.language} {share.share:.2f}" for share in heard.shares())
        log.info("task %s: %s in %d runs", task.task_id, spoken, len(heard.runs))
        return decode_runs(audio, heard, decoding(model, task), on_progress)

    def transcribe_batch(self, audios: Sequence[Samples], task: SubmitTask) -> list[Transcript]:
        """Short recordings decoded at once with `task`'s choices (the engine batches files)."""
        model = self.use(task.options.model)
        assert self.loaded_name is not None and isinstance(model, BatchingModel)
        transcripts = model.transcribe_batch(audios, task, english_only=MODELS[self.loaded_name].english_only)
        return [in_one_language(transcript) for transcript in transcripts]

    def transcribe_turn(self, audio: Samples, turn: DecodeTurn) -> HeardTurn:
        """A live turn, with the model the last task used (between a task's windows: that
        task's) while it is loaded, or else the plan's own; never one only the operator loaded."""
        name = self._last_used if self._last_used in self._held else None
        if name is None:
            self.load()
            name = self._planned_name
        assert name is not None
        language = "en" if MODELS[name].english_only else turn.language
        return self._touch(name).transcribe_turn(audio, language, turn.prompt)

    def detect_language(self, audio: AudioFile, model: str | None) -> Detection:
        return detect_in_file(audio, self.use(model).language_probabilities)

"""Loads, runs and unloads the Whisper model: the only place that touches torch and whisper."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import whisper

from decoder import transcription
from decoder.ladder import DeviceFacts, ModelPlan
from decoder.models import MODELS
from decoder.protocol import ModelLoaded, ModelUnloaded, SubmitTask, Transcript
from decoder.transcription import ProgressCallback

log = logging.getLogger(__name__)


class ModelLoadError(Exception):
    """No model of the plan could be loaded; the message says why."""


def probe_device(use_gpu_if_available: bool) -> DeviceFacts:
    if not (use_gpu_if_available and torch.cuda.is_available()):
        return DeviceFacts(cuda_available=False, free_vram_bytes=0)
    free_bytes, _total = torch.cuda.mem_get_info()
    return DeviceFacts(cuda_available=True, free_vram_bytes=free_bytes)


def _apply_alignment_heads(model: Any, checkpoint: Path) -> None:
    """Word timestamps need the model's alignment heads; openai-whisper sets them only for
    models it downloaded, and `whisper-api import-model` stores them in the checkpoint."""
    stored = torch.load(checkpoint, map_location="cpu", mmap=True, weights_only=True)
    heads = stored.get("alignment_heads")
    if isinstance(heads, bytes):
        model.set_alignment_heads(heads)


def supported_languages() -> tuple[tuple[str, str], ...]:
    return tuple(whisper.tokenizer.LANGUAGES.items())


class ModelHolder:
    def __init__(
        self,
        plan: ModelPlan,
        model_dir: Path,
        load_model: Callable[..., Any] = whisper.load_model,
        report: Callable[[ModelLoaded | ModelUnloaded], None] = lambda message: None,
    ) -> None:
        self.plan = plan
        self.model_dir = model_dir
        # Tells the front end of every load and unload, for its metrics.
        self._report = report
        # Injectable so that the out-of-memory ladder can be tested without a GPU.
        self._load_model = load_model
        self._model: Any = None
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
            except torch.cuda.OutOfMemoryError:
                log.warning("model %s does not fit into GPU memory, trying a smaller one", name)
                gc.collect()
                torch.cuda.empty_cache()
        if self.plan.gpu_candidates:
            log.warning("no model fits the GPU, falling back to the CPU")
        self._load(self.plan.cpu_model, "cpu")

    def _load(self, name: str, device: str) -> None:
        checkpoint = self.model_dir / MODELS[name].checkpoint_name
        started = time.monotonic()
        try:
            if checkpoint.is_file():
                # By path: openai-whisper would re-download an imported file whose hash differs.
                model = self._load_model(str(checkpoint), device=device)
                _apply_alignment_heads(model, checkpoint)
            else:
                model = self._load_model(name, device=device, download_root=str(self.model_dir))
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as exc:
            if checkpoint.is_file():
                raise ModelLoadError(f"model {name} could not be loaded from {checkpoint}: {exc}") from exc
            raise ModelLoadError(
                f"model {name} is not in {self.model_dir} and could not be downloaded ({exc}); "
                "import one with `whisper-api import-model`"
            ) from exc
        self._model, self.loaded_name, self.last_loaded_name, self.device = model, name, name, device
        seconds = time.monotonic() - started
        log.info("loaded model %s on %s in %.1f s", name, device, seconds)
        self._report(ModelLoaded(name, device, seconds))

    def unload(self) -> None:
        if not self.is_loaded:
            return
        log.info("unloading model %s", self.loaded_name)
        self._report(ModelUnloaded(self.loaded_name or ""))
        self._model, self.loaded_name, self.device = None, None, None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def use(self, requested: str | None) -> None:
        """Have the requested model loaded (None: the plan's own choice), switching if needed."""
        if requested is None or requested == self._planned_name:
            if self.loaded_name is not None and self.loaded_name != self._planned_name:
                self.unload()
            self.load()
            return
        if self.loaded_name != requested:
            device = self.device or ("cuda" if self.plan.gpu_mode else "cpu")
            self.unload()
            self._load(requested, device)

    def transcribe(self, task: SubmitTask, on_progress: ProgressCallback) -> Transcript:
        self.use(task.options.model)
        assert self.loaded_name is not None
        return transcription.transcribe(
            self._model,
            task,
            english_only=MODELS[self.loaded_name].english_only,
            fp16=self.device == "cuda",
            on_progress=on_progress,
        )

    def detect_language(self, audio_path: str) -> tuple[str, float]:
        self.use(None)
        return transcription.detect_language(self._model, audio_path)

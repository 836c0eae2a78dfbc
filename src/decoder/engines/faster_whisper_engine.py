"""The faster-whisper engine: the same Whisper weights on CTranslate2, with int8 on the CPU.

It loads CTranslate2 model directories from MODEL_DIR/ctranslate2/<model>/ (what
`whisper-api import-model` stores for a CTranslate2 source) and never downloads one.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import ctranslate2
from faster_whisper import BatchedInferencePipeline, WhisperModel

from decoder.audio import SAMPLE_RATE, Samples
from decoder.engines import (
    EngineOptions,
    ModelDoesNotFit,
    ModelLoadError,
    ProgressCallback,
    ProgressThrottle,
    transcript_of,
)
from decoder.ladder import NO_GPU, DeviceFacts
from decoder.machine import return_freed_memory, torch_device_facts
from decoder.models import MODELS
from decoder.protocol import SubmitTask, Transcript

# openai-whisper's temperature fallback ladder, which the openai-whisper engine uses by default.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def ct2_directory(model_dir: Path, model: str) -> Path:
    return model_dir / "ctranslate2" / MODELS[model].file_stem


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(self, model_dir: Path, options: EngineOptions) -> None:
        self._model_dir = model_dir
        self._options = options

    def probe_device(self, use_gpu_if_available: bool) -> DeviceFacts:
        if not use_gpu_if_available or ctranslate2.get_cuda_device_count() == 0:
            return NO_GPU
        # CTranslate2 cannot tell free memory; torch can, and only a GPU host pays for loading it.
        return torch_device_facts()

    def has_model(self, model: str) -> bool:
        return (ct2_directory(self._model_dir, model) / "model.bin").is_file()

    def load(self, model: str, device: str) -> FasterWhisperModel:
        directory = ct2_directory(self._model_dir, model)
        if not self.has_model(model):
            raise ModelLoadError(
                f"model {model} is not in {directory}: the faster-whisper engine loads CTranslate2 "
                "directories and downloads nothing; import one with `whisper-api import-model`"
            )
        try:
            loaded = WhisperModel(
                str(directory),
                device=device,
                compute_type=self._resolved_compute_type(device),
                cpu_threads=self._options.cpu_threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            if "out of memory" in str(exc).lower():
                raise ModelDoesNotFit(str(exc)) from exc
            raise ModelLoadError(f"model {model} could not be loaded from {directory}: {exc}") from exc
        return FasterWhisperModel(loaded, self._options)

    def _resolved_compute_type(self, device: str) -> str:
        # CTranslate2's own "auto" differs between GPUs; this one is documented and predictable.
        if self._options.compute_type == "auto":
            return "float16" if device == "cuda" else "int8"
        return self._options.compute_type

    def release_memory(self) -> None:
        # CTranslate2 frees a model's memory when its last reference goes.
        return_freed_memory()


class FasterWhisperModel:
    def __init__(self, model: WhisperModel, options: EngineOptions) -> None:
        self._model = model
        batched = options.batch_size > 1
        # Both have the same transcribe(); the pipeline only wraps the model.
        self._runner = BatchedInferencePipeline(model) if batched else model
        self._batch_arguments: dict[str, Any] = {"batch_size": options.batch_size} if batched else {}
        # The batched pipeline cuts the file at pauses that VAD finds.
        self._vad_filter = options.vad_filter or batched

    def transcribe(
        self, audio: Samples, task: SubmitTask, *, english_only: bool, on_progress: ProgressCallback
    ) -> Transcript:
        options = task.options
        report = ProgressThrottle(on_progress, time.monotonic)
        # Defaults follow openai-whisper's (greedy search, one sample per fallback temperature),
        # so that switching engines changes the speed, not the decoding.
        segments, info = self._runner.transcribe(
            audio,
            # English-only models have no task token: "translate" of English speech is its transcript.
            task="transcribe" if english_only else task.task_type,
            language="en" if english_only else task.language,
            initial_prompt=options.initial_prompt,
            word_timestamps=options.word_timestamps,
            beam_size=options.beam_size or 1,
            best_of=1,
            temperature=FALLBACK_TEMPERATURES if options.temperature is None else options.temperature,
            vad_filter=self._vad_filter,
            **self._batch_arguments,
        )
        decoded: list[dict[str, Any]] = []
        # The segments come from a generator: each one is decoded when it is asked for.
        for segment in segments:
            decoded.append(dataclasses.asdict(segment))
            report(min(float(segment.end), info.duration), info.duration)
        text = "".join(segment["text"] for segment in decoded)
        return transcript_of(text, str(info.language), float(info.duration), decoded)

    def detect_language(self, audio: Samples) -> tuple[str, float]:
        if not self._model.model.is_multilingual:
            raise ValueError("this model is English-only and cannot detect a language")
        language, probability, _ = self._model.detect_language(audio[: 30 * SAMPLE_RATE])
        return str(language), float(probability)

"""Speech-recognition engines behind one interface, chosen with ENGINE.

    Engine.load(name, device) -> LoadedModel
        LoadedModel.transcribe(file, task, english_only=..., on_progress=...) -> Transcript
        LoadedModel.language_probabilities(samples) -> {language: probability}
        LoadedModel.transcribe_turn(samples of live speech, language, prompt) -> HeardTurn
        BatchingModel.transcribe_batch(samples of short files, task, english_only=...)
            -> [Transcript, ...]   (where Engine.batches_files)

An engine reads its audio through decoder.audio.ffmpeg (ffmpeg held to the upload), never through its
library's own loader. A recording longer than EngineOptions.whole_file_limit_s is decoded from a
stream, window by window (decoder.audio.spectrogram), so that its length costs no memory.

The interface is in decoder.engines.base, the errors an engine raises while loading (translated
from its library's own) in decoder.errors; this package names the engines and creates one.

The engines' libraries are imported only by the engine that needs them, so a decoder running
faster-whisper never initialises torch's CUDA state, and the other way round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from decoder.device.ladder import ModelPlan
from decoder.engines.base import (
    LOW_AVG_LOGPROB,
    NO_SPEECH_PROB,
    PROGRESS_INTERVAL_S,
    WHOLE_FILE_LIMIT_S,
    BatchingModel,
    Engine,
    EngineOptions,
    HeardTurn,
    LoadedModel,
    ProgressCallback,
    ProgressThrottle,
    segment_of,
    silent_transcript,
    transcript_of,
)
from decoder.errors import ModelDoesNotFit, ModelLoadError
from decoder.wire.choices import AUTO_ENGINE, ENGINE_NAMES, STAND_IN_ENGINE, engine_for

log = logging.getLogger(__name__)

__all__ = [
    "LOW_AVG_LOGPROB",
    "NO_SPEECH_PROB",
    "PROGRESS_INTERVAL_S",
    "WHOLE_FILE_LIMIT_S",
    "BatchingModel",
    "Engine",
    "EngineOptions",
    "HeardTurn",
    "LoadedModel",
    "ModelDoesNotFit",
    "ModelLoadError",
    "ProgressCallback",
    "ProgressThrottle",
    "choose_engine",
    "create_engine",
    "segment_of",
    "silent_transcript",
    "transcript_of",
]


def choose_engine(
    name: str, model_dir: Path, options: EngineOptions, plan: Callable[[Engine], ModelPlan]
) -> tuple[Engine, ModelPlan]:
    """ENGINE's engine, and the models it plans to load (`plan`, from the device the engine
    sees). ENGINE=auto plans with faster-whisper's view of the device, and keeps it where
    MODEL_DIR holds the model it would load first (decoder.wire.choices.engine_for)."""
    if name != AUTO_ENGINE:
        engine = create_engine(name, model_dir, options)
        return engine, plan(engine)
    faster = create_engine("faster-whisper", model_dir, options)
    planned = plan(faster)
    if engine_for(name, model_dir, planned.max_model_to_use) == faster.name:
        return faster, planned
    log.info(
        "ENGINE=auto: no CTranslate2 copy of %s in %s, so openai-whisper decodes",
        planned.max_model_to_use,
        model_dir,
    )
    fallback = create_engine("openai-whisper", model_dir, options)
    return fallback, plan(fallback)


def create_engine(name: str, model_dir: Path, options: EngineOptions) -> Engine:
    if name == "faster-whisper":
        from decoder.engines.faster_whisper_engine import FasterWhisperEngine

        return FasterWhisperEngine(model_dir, options)
    if name == "openai-whisper":
        from decoder.engines.openai_whisper_engine import OpenAIWhisperEngine

        return OpenAIWhisperEngine(model_dir, options)
    if name == STAND_IN_ENGINE:
        from decoder.engines.stand_in import StandInEngine

        return StandInEngine()
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")

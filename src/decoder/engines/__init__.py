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

from pathlib import Path

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
from decoder.wire.choices import ENGINE_NAMES, STAND_IN_ENGINE

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
    "create_engine",
    "segment_of",
    "silent_transcript",
    "transcript_of",
]


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

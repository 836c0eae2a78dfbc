"""Runs one task on a loaded model: transcription with progress reports, or language detection."""

from __future__ import annotations

import contextlib
import importlib
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import whisper
from whisper.audio import HOP_LENGTH, SAMPLE_RATE

from decoder.protocol import SubmitTask, Transcript

# The module itself: the package attribute `whisper.transcribe` is the function of that name.
whisper_transcribe: Any = importlib.import_module("whisper.transcribe")

# (decoded seconds, total seconds)
ProgressCallback = Callable[[float, float], None]
# Progress is reported at most this often; decoding a 30 s window takes longer than that anyway.
PROGRESS_INTERVAL_S = 0.5


def transcribe(
    model: Any, task: SubmitTask, *, english_only: bool, fp16: bool, on_progress: ProgressCallback
) -> Transcript:
    audio = whisper.load_audio(task.audio_path)
    duration_s = len(audio) / SAMPLE_RATE
    options = task.options
    extra: dict[str, Any] = {}
    if options.temperature is not None:
        extra["temperature"] = options.temperature
    if options.beam_size is not None:
        extra["beam_size"] = options.beam_size
    with _progress_reported(on_progress):
        # English-only models have no task token: "translate" of English speech is its transcript.
        result = model.transcribe(
            audio,
            task="transcribe" if english_only else task.task_type,
            language="en" if english_only else task.language,
            initial_prompt=options.initial_prompt,
            word_timestamps=options.word_timestamps,
            fp16=fp16,
            verbose=None,
            **extra,
        )
    segments = result["segments"]
    return Transcript(
        text=str(result["text"]).strip(),
        language=str(result["language"]),
        duration_s=round(duration_s, 3),
        segments=tuple((float(s["start"]), float(s["end"]), str(s["text"]).strip()) for s in segments),
        words=tuple(
            tuple(
                (float(w["start"]), float(w["end"]), str(w["word"]), float(w["probability"]))
                for w in s.get("words", ())
            )
            for s in segments
        ),
        stats=tuple(
            (
                int(s["seek"]),
                tuple(int(token) for token in s["tokens"]),
                float(s["temperature"]),
                float(s["avg_logprob"]),
                float(s["compression_ratio"]),
                float(s["no_speech_prob"]),
            )
            for s in segments
        ),
    )


def detect_language(model: Any, audio_path: str) -> tuple[str, float]:
    """The most probable language of the first 30 s and its probability."""
    audio = whisper.pad_or_trim(whisper.load_audio(audio_path))
    mel = whisper.log_mel_spectrogram(audio, n_mels=model.dims.n_mels).to(model.device)
    _, probabilities = model.detect_language(mel)
    language = max(probabilities, key=probabilities.get)
    return str(language), float(probabilities[language])


@contextlib.contextmanager
def _progress_reported(on_progress: ProgressCallback) -> Iterator[None]:
    """openai-whisper reports decoded mel frames to a tqdm bar; a stand-in bar forwards them.

    The decoder runs one task at a time, so swapping the module's reference is safe.
    """

    def progress_bar(**kwargs: Any) -> _ProgressBar:
        return _ProgressBar(kwargs["total"], on_progress)

    real_tqdm = whisper_transcribe.tqdm
    whisper_transcribe.tqdm = types.SimpleNamespace(tqdm=progress_bar)
    try:
        yield
    finally:
        whisper_transcribe.tqdm = real_tqdm


class _ProgressBar:
    def __init__(self, total_frames: int, on_progress: ProgressCallback) -> None:
        self._total_s = total_frames * HOP_LENGTH / SAMPLE_RATE
        self._frames = 0
        self._on_progress = on_progress
        self._last_report = 0.0

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, frames: int) -> None:
        self._frames += frames
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_INTERVAL_S:
            self._last_report = now
            self._on_progress(self._frames * HOP_LENGTH / SAMPLE_RATE, self._total_s)

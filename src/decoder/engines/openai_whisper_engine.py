"""The openai-whisper engine: the reference implementation, on torch (CUDA or CPU).

A long recording goes through openai-whisper's own `transcribe` loop, seek logic and all, with
a StreamedMel standing in for the spectrogram it would compute of the whole file: the loop only
reads `mel.shape` and forward slices `mel[:, seek : seek + size]`.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import whisper
from whisper.audio import HOP_LENGTH, N_FFT, N_FRAMES, N_SAMPLES

from decoder.audio.ffmpeg import AudioFile
from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.audio.spectrogram import Frames, LongRecording, MelRecipe, StreamedMel, survey
from decoder.device.ladder import NO_GPU, DeviceFacts
from decoder.device.machine import return_freed_memory, torch_device_facts
from decoder.engines.base import (
    LOW_AVG_LOGPROB,
    NO_SPEECH_PROB,
    EngineOptions,
    HeardTurn,
    ProgressCallback,
    ProgressThrottle,
    silent_transcript,
    transcript_of,
)
from decoder.errors import ModelDoesNotFit, ModelLoadError
from decoder.wire.models import MODELS
from decoder.wire.protocol import SubmitTask
from decoder.wire.transcript import Transcript

# The module itself: the package attribute `whisper.transcribe` is the function of that name.
whisper_transcribe: Any = importlib.import_module("whisper.transcribe")


class OpenAIWhisperEngine:
    name = "openai-whisper"
    batches_files = False

    def __init__(self, model_dir: Path, options: EngineOptions) -> None:
        self._model_dir = model_dir
        # Settings refuse int8 for this engine; float32 is the one way to turn fp16 off on a GPU.
        self._fp16_on_gpu = options.compute_type != "float32"
        self._whole_file_limit_s = options.whole_file_limit_s
        torch.set_num_threads(options.cpu_threads)

    def probe_device(self, use_gpu_if_available: bool) -> DeviceFacts:
        return torch_device_facts() if use_gpu_if_available else NO_GPU

    def checkpoint(self, model: str) -> Path:
        return self._model_dir / MODELS[model].checkpoint_name

    def has_model(self, model: str) -> bool:
        return self.checkpoint(model).is_file()

    def load(self, model: str, device: str) -> OpenAIWhisperModel:
        checkpoint = self.checkpoint(model)
        try:
            if checkpoint.is_file():
                # By path: openai-whisper would re-download an imported file whose hash differs.
                loaded = whisper.load_model(str(checkpoint), device=device)
                _apply_alignment_heads(loaded, checkpoint)
            else:
                loaded = whisper.load_model(model, device=device, download_root=str(self._model_dir))
        except torch.cuda.OutOfMemoryError as exc:
            raise ModelDoesNotFit(str(exc)) from exc
        except Exception as exc:
            if checkpoint.is_file():
                raise ModelLoadError(f"model {model} could not be loaded from {checkpoint}: {exc}") from exc
            raise ModelLoadError(
                f"model {model} is not in {self._model_dir} and could not be downloaded ({exc}); "
                "import one with `whisper-api import-model`"
            ) from exc
        return OpenAIWhisperModel(
            loaded, fp16=device == "cuda" and self._fp16_on_gpu, whole_file_limit_s=self._whole_file_limit_s
        )

    def release_memory(self) -> None:
        return_freed_memory()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _apply_alignment_heads(model: Any, checkpoint: Path) -> None:
    """Word timestamps need the model's alignment heads; openai-whisper sets them only for
    models it downloaded, and `whisper-api import-model` stores them in the checkpoint."""
    stored = torch.load(checkpoint, map_location="cpu", mmap=True, weights_only=True)
    heads = stored.get("alignment_heads")
    if isinstance(heads, bytes):
        model.set_alignment_heads(heads)


class OpenAIWhisperModel:
    def __init__(self, model: Any, fp16: bool, whole_file_limit_s: float) -> None:
        self._model = model
        self._fp16 = fp16
        self._dtype = torch.float16 if fp16 else torch.float32
        self._whole_file_limit_s = whole_file_limit_s
        self._recipe = mel_recipe(model.dims.n_mels)

    def transcribe(
        self, audio: AudioFile, task: SubmitTask, *, english_only: bool, on_progress: ProgressCallback
    ) -> Transcript:
        surveyed = survey(audio, self._recipe, self._whole_file_limit_s)
        recording = surveyed.audio
        language = "en" if english_only else task.language
        if surveyed.clips == []:
            return silent_transcript(language or "en", surveyed.duration_s)
        clips = surveyed.clips if surveyed.clips is not None else "0"
        if isinstance(recording, LongRecording):
            with StreamedMel(recording, self._recipe) as streamed:
                mel = _TorchMel(streamed)
                language = language or self._language_of(mel)
                with _spectrogram_given(mel):
                    result = self._transcribe(mel, task, english_only, language, clips, on_progress)
        else:
            result = self._transcribe(recording, task, english_only, language, clips, on_progress)
        text, segments = str(result["text"]), result["segments"]
        return transcript_of(text, str(result["language"]), surveyed.duration_s, segments)

    def _transcribe(
        self,
        audio: Samples | _TorchMel,
        task: SubmitTask,
        english_only: bool,
        language: str | None,
        clips: str | list[float],
        on_progress: ProgressCallback,
    ) -> dict[str, Any]:
        options = task.options
        extra: dict[str, Any] = {}
        if options.temperature is not None:
            extra["temperature"] = options.temperature
        if options.beam_size is not None:
            extra["beam_size"] = options.beam_size
        if options.no_speech_threshold is not None:
            extra["no_speech_threshold"] = options.no_speech_threshold
        if options.logprob_threshold is not None:
            extra["logprob_threshold"] = options.logprob_threshold
        with _progress_reported(on_progress):
            # English-only models have no task token: "translate" of English speech is its transcript.
            result: dict[str, Any] = self._model.transcribe(
                audio,
                task="transcribe" if english_only else task.task_type,
                language=language,
                initial_prompt=options.initial_prompt,
                word_timestamps=options.word_timestamps,
                clip_timestamps=clips,
                fp16=self._fp16,
                verbose=None,
                **extra,
            )
        return result

    def _language_of(self, mel: _TorchMel) -> str:
        """What openai-whisper's transcribe detects from the spectrogram's first window."""
        window = whisper.pad_or_trim(mel[:, :N_FRAMES], N_FRAMES).to(self._model.device).to(self._dtype)
        _, probabilities = self._model.detect_language(window)
        return str(max(probabilities, key=probabilities.get))

    def transcribe_turn(self, audio: Samples, language: str | None, prompt: str | None) -> HeardTurn:
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), n_mels=self._model.dims.n_mels)
        options = whisper.DecodingOptions(
            language=language, prompt=prompt, without_timestamps=True, fp16=self._fp16
        )
        result = self._model.decode(mel.to(self._model.device).to(self._dtype), options)
        silent = result.no_speech_prob > NO_SPEECH_PROB and result.avg_logprob < LOW_AVG_LOGPROB
        return HeardTurn("" if silent else str(result.text).strip(), str(result.language))

    def language_probabilities(self, audio: Samples) -> dict[str, float]:
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), n_mels=self._model.dims.n_mels).to(
            self._model.device
        )
        _, probabilities = self._model.detect_language(mel.to(self._dtype))
        return {str(language): float(probability) for language, probability in probabilities.items()}


def mel_recipe(n_mels: int) -> MelRecipe:
    """openai-whisper's log_mel_spectrogram, frame by frame (it pads 30 s of zeros)."""
    window = torch.hann_window(N_FFT)
    filters = whisper.audio.mel_filters(torch.device("cpu"), n_mels)

    def log_power(samples: Samples) -> Frames:
        stft = torch.stft(
            torch.from_numpy(samples), N_FFT, HOP_LENGTH, window=window, center=False, return_complex=True
        )
        power = filters @ (stft.abs() ** 2)
        frames: Frames = torch.clamp(power, min=1e-10).log10().numpy()
        return frames

    return MelRecipe(n_mels=n_mels, padding=N_SAMPLES, log_power=log_power)


class _TorchMel:
    """A StreamedMel as the torch tensor slices openai-whisper's loop takes."""

    def __init__(self, streamed: StreamedMel) -> None:
        self._streamed = streamed
        self.shape = streamed.shape

    def __getitem__(self, key: tuple[slice, slice]) -> torch.Tensor:
        frames = key[1]
        return torch.from_numpy(self._streamed.frames(frames.start or 0, frames.stop))


@contextlib.contextmanager
def _spectrogram_given(mel: _TorchMel) -> Iterator[None]:
    """openai-whisper's transcribe takes `mel` for the spectrogram it computes of its input."""
    real = whisper_transcribe.log_mel_spectrogram
    whisper_transcribe.log_mel_spectrogram = lambda *args, **kwargs: mel
    try:
        yield
    finally:
        whisper_transcribe.log_mel_spectrogram = real


@contextlib.contextmanager
def _progress_reported(on_progress: ProgressCallback) -> Iterator[None]:
    """openai-whisper reports decoded mel frames to a tqdm bar; a stand-in bar forwards them.

    The decoder runs one task at a time, so swapping the module's reference is safe.
    """

    def progress_bar(**kwargs: Any) -> _ProgressBar:
        return _ProgressBar(kwargs["total"], ProgressThrottle(on_progress, time.monotonic))

    real_tqdm = whisper_transcribe.tqdm
    whisper_transcribe.tqdm = types.SimpleNamespace(tqdm=progress_bar)
    try:
        yield
    finally:
        whisper_transcribe.tqdm = real_tqdm


class _ProgressBar:
    """Reports the frames decoded, and the segments they gave: openai-whisper's loop adds each
    window's segments to its local `all_segments` just before it updates the bar."""

    def __init__(self, total_frames: int, report: ProgressThrottle) -> None:
        self._total_s = total_frames * HOP_LENGTH / SAMPLE_RATE
        self._frames = 0
        self._report = report
        self._segments_seen = 0

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, frames: int) -> None:
        self._frames += frames
        caller = sys._getframe(1).f_locals
        segments: list[dict[str, Any]] = caller.get("all_segments", [])
        new, self._segments_seen = segments[self._segments_seen :], len(segments)
        self._report(self._frames * HOP_LENGTH / SAMPLE_RATE, self._total_s, new)

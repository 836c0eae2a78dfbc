"""The faster-whisper engine: the same Whisper weights on CTranslate2, with int8 on the CPU.

It loads CTranslate2 model directories from MODEL_DIR/ctranslate2/<model>/ (what
`whisper-api import-model` stores for a CTranslate2 source) and never downloads one.

A long recording goes through faster-whisper's own `transcribe` and `generate_segments`, seek
logic and all, with a StreamedMel standing in for the features of the whole file: the model's
feature extractor hands it over for the call, and the audio it is given is a zero-stride
placeholder that only tells the length.

With VAD (VAD_FILTER, or a task's vad_filter) only the speech is decoded: the spans that
decoder.audio.voice_activity hears, end to end, held whole or streamed like any recording, and the
times moved back to the file's as faster-whisper's own vad_filter moves them. The batched
pipeline cuts its clips from the audio itself, so it is given every recording whole.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.feature_extractor import FeatureExtractor
from faster_whisper.transcribe import restore_speech_timestamps

from decoder.audio.ffmpeg import AudioFile, pcm_stream
from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.audio.spectrogram import HOP_LENGTH, N_FFT, Frames, LongRecording, MelRecipe, StreamedMel, survey
from decoder.audio.voice_activity import Span, only_spans, speech_spans
from decoder.device.ladder import NO_GPU, DeviceFacts
from decoder.device.machine import return_freed_memory, torch_device_facts
from decoder.engines.base import (
    EngineOptions,
    HeardTurn,
    ProgressCallback,
    ProgressThrottle,
    silent_transcript,
    transcript_of,
)
from decoder.engines.short_turns import transcribe_short
from decoder.errors import ModelDoesNotFit, ModelLoadError
from decoder.wire.models import ct2_directory, has_ct2_copy
from decoder.wire.options import DecodeOptions
from decoder.wire.protocol import SubmitTask
from decoder.wire.transcript import Transcript

# openai-whisper's temperature fallback ladder, which the openai-whisper engine uses by default.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
# The zeros faster-whisper's feature extractor appends before its STFT.
FEATURE_PADDING = 160


@dataclass(frozen=True)
class _Request:
    """What a task asks of one decoding, and how long its recording is."""

    task: SubmitTask
    english_only: bool
    language: str | None
    on_progress: ProgressCallback
    duration_s: float


class FasterWhisperEngine:
    name = "faster-whisper"
    batches_files = True

    def __init__(self, model_dir: Path, options: EngineOptions) -> None:
        self._model_dir = model_dir
        self._options = options

    def probe_device(self, use_gpu_if_available: bool) -> DeviceFacts:
        if not use_gpu_if_available or ctranslate2.get_cuda_device_count() == 0:
            return NO_GPU
        # CTranslate2 cannot tell free memory; torch can, and only a GPU host pays for loading it.
        return torch_device_facts()

    def has_model(self, model: str) -> bool:
        return has_ct2_copy(self._model_dir, model)

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
        self._pipeline = BatchedInferencePipeline(model)
        self._runner = self._pipeline if batched else model
        self._batch_arguments: dict[str, Any] = {"batch_size": options.batch_size} if batched else {}
        self._batched = batched
        self._vad_filter = options.vad_filter
        self._whole_file_limit_s = options.whole_file_limit_s
        self._recipe = mel_recipe(model.feature_extractor)
        # The model's own extractor, which a long task's StreamedMel stands in for while it decodes.
        self._extractor = model.feature_extractor

    def transcribe(
        self, audio: AudioFile, task: SubmitTask, *, english_only: bool, on_progress: ProgressCallback
    ) -> Transcript:
        # The batched pipeline cuts its clips from the whole recording, at pauses its own VAD finds.
        surveyed = survey(audio, self._recipe, math.inf if self._batched else self._whole_file_limit_s)
        request = _Request(
            task, english_only, "en" if english_only else task.language, on_progress, surveyed.duration_s
        )
        if surveyed.clips == []:
            return silent_transcript(request.language or "en", surveyed.duration_s)
        recording = surveyed.audio
        if self._batched:
            assert not isinstance(recording, LongRecording)
            return self._transcribe(recording, request, library_vad=True)
        if not (self._vad_filter or task.options.vad_filter):
            return self._decoded(recording, request, clips=surveyed.clips)
        speech = self._speech_in(recording)
        if not speech:
            return silent_transcript(request.language or "en", surveyed.duration_s)
        if isinstance(recording, LongRecording):
            return self._decoded(recording.only(speech), request, speech=speech)
        return self._decoded(only_spans(recording, speech), request, speech=speech)

    @staticmethod
    def _speech_in(recording: Samples | LongRecording) -> list[Span]:
        """Where the recording holds speech: heard in memory, or over a second ffmpeg run."""
        if not isinstance(recording, LongRecording):
            return speech_spans([recording])
        with pcm_stream(recording.file, timed=False) as blocks:
            return speech_spans(blocks)

    def _decoded(
        self,
        recording: Samples | LongRecording,
        request: _Request,
        *,
        clips: list[float] | None = None,
        speech: list[Span] | None = None,
    ) -> Transcript:
        if not isinstance(recording, LongRecording):
            return self._transcribe(recording, request, clips=clips, speech=speech)
        with StreamedMel(recording, self._recipe) as mel, self._features_given(mel):
            request = dataclasses.replace(request, language=request.language or self._language_of(mel))
            # As long as the recording, and no memory: every sample is the same zero.
            placeholder = np.lib.stride_tricks.as_strided(
                np.zeros(1, np.float32), shape=(recording.samples,), strides=(0,), writeable=False
            )
            return self._transcribe(placeholder, request, clips=clips, speech=speech)

    def _transcribe(
        self,
        audio: Samples,
        request: _Request,
        *,
        clips: list[float] | None = None,
        speech: list[Span] | None = None,
        library_vad: bool = False,
    ) -> Transcript:
        """`audio` decoded by the library: within `clips` where given; where it is the `speech`
        spans of the recording end to end, with the times moved back to the recording's."""
        task = request.task
        report = ProgressThrottle(request.on_progress, time.monotonic)
        segments, info = self._runner.transcribe(
            audio,
            language=request.language,
            vad_filter=library_vad,
            **_decoding_arguments(task, request.english_only, FALLBACK_TEMPERATURES),
            **({} if clips is None else {"clip_timestamps": clips}),
            **self._batch_arguments,
        )
        if speech is not None:
            chunks = [{"start": start, "end": end} for start, end in speech]
            segments = restore_speech_timestamps(segments, chunks, SAMPLE_RATE)
        duration = request.duration_s
        decoded: list[dict[str, Any]] = []
        # The segments come from a generator: each one is decoded when it is asked for.
        for segment in segments:
            decoded.append(dataclasses.asdict(segment))
            report(min(float(segment.end), duration), duration, decoded[-1:])
        # The last segment can end before the file does (silence, a pause): the decoding has not.
        report(duration, duration)
        text = "".join(segment["text"] for segment in decoded)
        return transcript_of(text, str(info.language), duration, decoded)

    def transcribe_batch(
        self, audios: Sequence[Samples], task: SubmitTask, *, english_only: bool
    ) -> list[Transcript]:
        """The recordings end to end in one array, each one clip of it, through the batched
        pipeline: each clip is one window of the batch, decoded as a whole file of its own would
        be (with timestamps, from the first fallback temperature; every clip starts a new text)."""
        starts = np.cumsum([0, *(len(audio) for audio in audios)])
        clips = [{"start": start / SAMPLE_RATE, "end": end / SAMPLE_RATE} for start, end in pairwise(starts)]
        segments, info = self._pipeline.transcribe(
            np.concatenate(audios),
            language="en" if english_only else task.language,
            **_decoding_arguments(task, english_only, FALLBACK_TEMPERATURES[0]),
            vad_filter=False,
            clip_timestamps=clips,
            batch_size=len(audios),
            without_timestamps=False,
        )
        # Each clip's start and its segments' seek (in frames), reckoned as the pipeline does.
        offsets = [int(clip["start"] * SAMPLE_RATE) / SAMPLE_RATE for clip in clips]
        index_of = {int(offset * self._model.frames_per_second): i for i, offset in enumerate(offsets)}
        decoded: list[list[dict[str, Any]]] = [[] for _ in audios]
        for segment in segments:
            index = index_of[segment.seek]
            decoded[index].append(_shifted(dataclasses.asdict(segment), offsets[index]))
        return [
            transcript_of(
                "".join(segment["text"] for segment in own), str(info.language), len(audio) / SAMPLE_RATE, own
            )
            for audio, own in zip(audios, decoded, strict=True)
        ]

    def _language_of(self, mel: StreamedMel) -> str:
        """What faster-whisper's transcribe detects from the features' first window."""
        window = int(self._model.feature_extractor.nb_max_frames)
        language, _, _ = self._model.detect_language(features=mel.frames(0, window))
        return str(language)

    @contextlib.contextmanager
    def _features_given(self, mel: StreamedMel) -> Iterator[None]:
        """The model's feature extractor answers with `mel` while the block runs; the decoder
        runs one task at a time, so swapping the model's attribute is safe."""
        real = self._model.feature_extractor
        self._model.feature_extractor = _StreamedFeatures(real, mel)
        try:
            yield
        finally:
            self._model.feature_extractor = real

    def transcribe_turn(self, audio: Samples, language: str | None, prompt: str | None) -> HeardTurn:
        return transcribe_short(self._model, self._extractor, audio, language, prompt)

    def language_probabilities(self, audio: Samples) -> dict[str, float]:
        if not self._model.model.is_multilingual:
            raise ValueError("this model is English-only and cannot detect a language")
        _, _, probabilities = self._model.detect_language(audio[: 30 * SAMPLE_RATE])
        return {str(language): float(probability) for language, probability in probabilities}


def _decoding_arguments(
    task: SubmitTask, english_only: bool, temperatures: float | tuple[float, ...]
) -> dict[str, Any]:
    """What faster-whisper's two entry points take of a task. The defaults follow openai-whisper's
    (greedy search, one sample per fallback temperature), so that switching engines changes the
    speed, not the decoding."""
    options = task.options
    return {
        # English-only models have no task token: "translate" of English speech is its transcript.
        "task": "transcribe" if english_only else task.task_type,
        "initial_prompt": options.initial_prompt,
        "word_timestamps": options.word_timestamps,
        "beam_size": options.beam_size or 1,
        "best_of": 1,
        "temperature": temperatures if options.temperature is None else options.temperature,
        **_thresholds(options),
    }


def _thresholds(options: DecodeOptions) -> dict[str, float]:
    """The task's own silence gate, in faster-whisper's names; its defaults are openai-whisper's."""
    given = {
        "no_speech_threshold": options.no_speech_threshold,
        "log_prob_threshold": options.logprob_threshold,
    }
    return {name: value for name, value in given.items() if value is not None}


def _shifted(segment: dict[str, Any], offset_s: float) -> dict[str, Any]:
    """A segment of one clip of a batch, timed from the clip's start."""

    def moved(times: dict[str, Any]) -> dict[str, Any]:
        start, end = (max(0.0, round(times[key] - offset_s, 3)) for key in ("start", "end"))
        return {**times, "start": start, "end": end}

    return {**moved(segment), "words": [moved(word) for word in segment.get("words") or ()]}


def mel_recipe(extractor: FeatureExtractor) -> MelRecipe:
    """faster-whisper's FeatureExtractor.__call__, frame by frame."""
    window = np.hanning(N_FFT + 1)[:-1].astype("float32")
    filters = extractor.mel_filters

    def log_power(samples: Samples) -> Frames:
        stft = extractor.stft(samples, N_FFT, HOP_LENGTH, window=window, center=False, return_complex=True)
        power = filters @ (np.abs(stft.astype("complex64")) ** 2)
        frames: Frames = np.log10(np.clip(power, a_min=1e-10, a_max=None))
        return frames

    return MelRecipe(n_mels=int(filters.shape[0]), padding=FEATURE_PADDING, log_power=log_power)


class _StreamedFeatures:
    """The model's feature extractor, but its features are a StreamedMel."""

    def __init__(self, real: FeatureExtractor, mel: StreamedMel) -> None:
        self._real = real
        self._features = _FeatureSlices(mel)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __call__(self, waveform: object, padding: int = FEATURE_PADDING, chunk_length: object = None) -> Any:
        return self._features


class _FeatureSlices:
    """A StreamedMel as the numpy slices generate_segments takes."""

    def __init__(self, mel: StreamedMel) -> None:
        self._mel = mel
        self.shape = mel.shape

    def __getitem__(self, key: tuple[slice, slice]) -> Frames:
        frames = key[1]
        return self._mel.frames(frames.start or 0, frames.stop)

"""The interface every engine implements (decoder.engines says how they are used), and what both
engines share: progress reports, and segments into a Transcript. An engine translates its
library's load errors into decoder.errors' ModelLoadError or ModelDoesNotFit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from decoder.device.ladder import DeviceFacts
from decoder.wire.protocol import SubmitTask
from decoder.wire.transcript import Segment, SegmentStats, Transcript, Word

if TYPE_CHECKING:
    # Only for the annotations: the front end imports this module and must not load numpy.
    from decoder.audio.ffmpeg import AudioFile
    from decoder.audio.samples import Samples

# (decoded seconds, total seconds, the segments decoded since the last report)
ProgressCallback = Callable[[float, float, tuple[Segment, ...]], None]
# Progress is reported at most this often; decoding a 30 s window takes longer than that anyway.
PROGRESS_INTERVAL_S = 0.5
# Recordings up to this long are decoded whole, as the libraries do (one ffmpeg run; a few hundred
# MB of spectrogram at most); longer ones are streamed, at the price of a second ffmpeg run.
WHOLE_FILE_LIMIT_S = 600.0


@dataclass(frozen=True)
class EngineOptions:
    # One of decoder.wire.choices.COMPUTE_TYPES; openai-whisper knows all but int8.
    compute_type: str = "auto"
    # faster-whisper only: skip stretches without speech (Silero VAD) before decoding.
    vad_filter: bool = False
    cpu_threads: int = 1
    # faster-whisper only: above 1, its batched pipeline decodes this many of a file's
    # voice-activity chunks at once (with VAD, and without conditioning on the previous text).
    batch_size: int = 1
    whole_file_limit_s: float = WHOLE_FILE_LIMIT_S


# Whisper's rule for a window without speech (openai-whisper's transcribe's default thresholds).
NO_SPEECH_PROB = 0.6
LOW_AVG_LOGPROB = -1.0


@dataclass(frozen=True)
class HeardTurn:
    """What a turn of live speech said, and the language it was heard in."""

    text: str
    language: str


class LoadedModel(Protocol):
    def transcribe(
        self, audio: AudioFile, task: SubmitTask, *, english_only: bool, on_progress: ProgressCallback
    ) -> Transcript:
        """Decode the task's audio (raising decoder.audio.ffmpeg.AudioError where it cannot be read);
        `on_progress` hears of it at most every PROGRESS_INTERVAL_S, with the segments decoded
        since, and whatever it raises ends the decoding."""

    def language_probabilities(self, audio: Samples) -> dict[str, float]:
        """The probability of each language in the audio's first 30 s (ValueError where the
        model is English-only)."""

    def transcribe_turn(self, audio: Samples, language: str | None, prompt: str | None) -> HeardTurn:
        """A turn of live speech (at most one 30 s window) in one greedy pass, without timestamps
        or fallbacks, for its latency; `language` None: heard from the turn itself. May run
        between the windows of a task this model is decoding."""


@runtime_checkable
class BatchingModel(LoadedModel, Protocol):
    def transcribe_batch(
        self, audios: Sequence[Samples], task: SubmitTask, *, english_only: bool
    ) -> list[Transcript]:
        """Decode short recordings (each at most BATCH_FILE_MAX_S) at once, all with the task's
        choices: one transcript for each, in their order."""


class Engine(Protocol):
    name: str
    # Whether its models are BatchingModels (decoder.wire.protocol.SubmitBatch).
    batches_files: bool

    def probe_device(self, use_gpu_if_available: bool) -> DeviceFacts:
        """Whether this engine can reach a CUDA GPU, and its free memory."""

    def has_model(self, model: str) -> bool:
        """Whether the model's files are in MODEL_DIR already."""

    def load(self, model: str, device: str) -> LoadedModel:
        """Load the model onto "cuda" or "cpu"; raises ModelLoadError or ModelDoesNotFit."""

    def release_memory(self) -> None:
        """Give cached device memory back after a model was dropped or did not fit."""


class ProgressThrottle:
    """Forwards progress to a callback, at most once every PROGRESS_INTERVAL_S, and always
    the end, so that a fast decoding's last report is never the one held back. The segments
    of the reports it holds back go with the next one it forwards."""

    def __init__(self, on_progress: ProgressCallback, clock: Callable[[], float]) -> None:
        self._on_progress = on_progress
        self._clock = clock
        self._last_report: float | None = None
        self._held: list[Segment] = []

    def __call__(self, decoded_s: float, total_s: float, segments: Iterable[Mapping[str, Any]] = ()) -> None:
        """`segments` as the libraries write them (see transcript_of)."""
        self._held.extend(segment_of(segment) for segment in segments)
        now = self._clock()
        due = self._last_report is None or now - self._last_report >= PROGRESS_INTERVAL_S
        if due or decoded_s >= total_s:
            self._last_report = now
            held, self._held = tuple(self._held), []
            self._on_progress(decoded_s, total_s, held)


def transcript_of(
    text: str, language: str, duration_s: float, segments: Iterable[Mapping[str, Any]]
) -> Transcript:
    """The Transcript of segments as openai-whisper writes them (dicts with "start", "end",
    "text", "seek", "tokens", the statistics and, where asked for, "words"); faster-whisper's
    segment dataclasses give the same dicts through dataclasses.asdict."""
    return Transcript(
        text=text.strip(),
        language=language,
        duration_s=round(duration_s, 3),
        segments=tuple(segment_of(segment) for segment in segments),
    )


def silent_transcript(language: str, duration_s: float) -> Transcript:
    """The transcript of a recording without a sound (decoder.audio.silence): nothing is decoded."""
    return Transcript(text="", language=language, duration_s=round(duration_s, 3), segments=())


def segment_of(segment: Mapping[str, Any]) -> Segment:
    """A Segment of one segment dict as transcript_of takes them."""
    return Segment(
        start=float(segment["start"]),
        end=float(segment["end"]),
        text=str(segment["text"]).strip(),
        words=tuple(
            Word(float(w["start"]), float(w["end"]), str(w["word"]), float(w["probability"]))
            for w in segment.get("words") or ()
        ),
        stats=SegmentStats(
            seek=int(segment["seek"]),
            tokens=tuple(int(token) for token in segment["tokens"]),
            # faster-whisper leaves it unset where no fallback temperature was needed.
            temperature=float(segment["temperature"] or 0.0),
            avg_logprob=float(segment["avg_logprob"]),
            compression_ratio=float(segment["compression_ratio"]),
            no_speech_prob=float(segment["no_speech_prob"]),
        ),
    )

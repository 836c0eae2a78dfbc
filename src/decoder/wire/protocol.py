"""Messages between the front end and the decoder process.

Every message is a frozen dataclass of primitives (str, int, float, bool, None and tuples of
them) and of small frozen records (those defined here, and the result's in decoder.wire.transcript),
so it pickles cheaply over a `multiprocessing` pipe and neither side needs the other's runtime
objects. This module imports nothing heavy: the front end loads it without torch.

    front end  --SubmitTask / SubmitBatch / DetectLanguage / DecodeTurn / CancelTask /
                 LoadModel / UnloadModel / RescanModels / RequestStatus / Ping / Shutdown-->  decoder
    front end  <--DecoderReady / DecoderStatus / Pong / TaskStarted / TaskProgress / TaskFinished /
                  TaskFailed / TaskCancelled / LanguageDetected / TurnDecoded / TurnFailed /
                  ModelLoaded / ModelUnloaded / ModelFailed / ModelsAvailable--  decoder

The helper processes' pipes (the upload checker's, a model import's) are decoder.wire.helper_pipes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from decoder.wire.options import DecodeOptions
from decoder.wire.speaker_files import DEFAULT_SPEAKER_ENCODER
from decoder.wire.transcript import DecodeRun, Segment, Transcript

TaskType = Literal["transcribe", "translate"]
# The stages of a task's decoding that TaskProgress reports, in order.
STAGES = ("transcribing", "diarizing")

# Whisper hears this much audio at once.
WHISPER_WINDOW_S = 30.0
# Files up to one window long may be decoded together in one SubmitBatch; a live turn is at most
# one window long.
BATCH_FILE_MAX_S = WHISPER_WINDOW_S
# The most files in a batch where BATCH_FILES leaves it to the decoder: on a GPU, batches are
# what keeps it busy; on a CPU, one file at a time costs the first file of a batch less waiting.
GPU_BATCH_FILES = 8


@dataclass(frozen=True)
class DecoderConfig:
    """What the decoder needs from the front end's settings, handed over at spawn time."""

    max_model: str | None
    cpu_fallback_model: str
    use_gpu_if_available: bool
    develop_mode: bool
    load_model_on_startup: bool
    unload_model_after_s: int | None
    model_dir: str
    log_level: int
    # "openai-whisper" or "faster-whisper".
    engine: str
    # "auto", "int8", "float16" or "float32"; openai-whisper knows all but int8.
    compute_type: str
    # faster-whisper only: skip stretches without speech (Silero VAD) before decoding.
    vad_filter: bool
    # Threads one decoding uses, as the front end placed the decoder (CPU_THREADS, or the
    # count decoder.wire.threads gives, or the decoder's share of the CPUs).
    cpu_threads: int
    # faster-whisper only: above 1, decode this many chunks of a file at once.
    batch_size: int
    # The longest one pass through an upload's audio may take (FFMPEG_TIMEOUT_S).
    ffmpeg_timeout_s: float
    # The longest audio a task may have (MAX_AUDIO_DURATION_S; None: no limit).
    max_audio_duration_s: float | None = None
    # The one GPU this decoder may see (its CUDA_VISIBLE_DEVICES, set before CUDA starts);
    # None leaves the environment's as it is.
    cuda_device: str | None = None
    # faster-whisper only: the most short files one SubmitBatch may hold (BATCH_FILES);
    # 0: the decoder's choice for its device.
    batch_files: int = 1
    # The speaker encoder in MODEL_DIR/speakers/ that labels speakers (SPEAKER_ENCODER).
    speaker_encoder: str = DEFAULT_SPEAKER_ENCODER
    # Models to load beside the plan's own as the decoder starts (PRELOAD_MODELS).
    preload_models: tuple[str, ...] = ()


# Front end -> decoder.


@dataclass(frozen=True)
class SubmitTask:
    task_id: str
    audio_path: str
    task_type: TaskType
    language: str | None
    options: DecodeOptions = field(default_factory=DecodeOptions)
    # The container format the upload check found (decoder.wire.containers); None: any accepted one.
    audio_format: str | None = None
    # The length the upload check probed; None where it is not known.
    duration_s: float | None = None


@dataclass(frozen=True)
class SubmitBatch:
    """Short tasks (each at most BATCH_FILE_MAX_S long, with the same task, language and options)
    to decode together; each is answered on its own, as a SubmitTask is."""

    tasks: tuple[SubmitTask, ...]

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(task.task_id for task in self.tasks)


@dataclass(frozen=True)
class DetectLanguage:
    """Which language is spoken, heard on windows of speech spread over the file
    (decoder.process.detection); queued like a task."""

    task_id: str
    audio_path: str
    audio_format: str | None = None
    # The model to hear it with; None: the decoder's own choice.
    model: str | None = None


@dataclass(frozen=True)
class DecodeTurn:
    """A turn of live speech (at most one Whisper window), decoded ahead of every queued task and
    between the windows of the task in hand. A partial turn is the speech so far of a turn still
    being spoken; a newer partial of the same session replaces one still waiting."""

    turn_id: str
    session_id: str
    # 16 kHz mono samples, float32 little-endian.
    audio: bytes
    language: str | None = None
    prompt: str | None = None
    partial: bool = False


@dataclass(frozen=True)
class CancelTask:
    """Drop a task that is still waiting, or stop the one decoding at its next window
    (answered with TaskCancelled)."""

    task_id: str


@dataclass(frozen=True)
class LoadModel:
    """Load this model (one of DecoderReady.available_models) beside those loaded, between tasks;
    answered with ModelLoaded or ModelFailed."""

    model: str


@dataclass(frozen=True)
class UnloadModel:
    """Unload this model between tasks; answered with ModelUnloaded where it was loaded."""

    model: str


@dataclass(frozen=True)
class RescanModels:
    """MODEL_DIR changed (an import, a deletion): answered with ModelsAvailable."""


@dataclass(frozen=True)
class RequestStatus:
    """Asks for a fresh DecoderStatus now."""


@dataclass(frozen=True)
class Ping:
    """Asks for a Pong at once: the front end's watchdog checks that the decoder still answers."""


@dataclass(frozen=True)
class Shutdown:
    """Finish the task in hand, then exit."""


ToDecoder = (
    SubmitTask
    | SubmitBatch
    | DetectLanguage
    | DecodeTurn
    | CancelTask
    | LoadModel
    | UnloadModel
    | RescanModels
    | RequestStatus
    | Ping
    | Shutdown
)


# Decoder -> front end.


@dataclass(frozen=True)
class DecoderReady:
    """Sent once, after the decoder planned its model and before it loads it."""

    pid: int
    gpu_mode: bool
    max_model_to_use: str
    english_only: bool
    # (code, English name) pairs of every language the model family understands.
    languages: tuple[tuple[str, str], ...]
    # Models a task may ask for: MAX_MODEL's family, up to it, that are in MODEL_DIR.
    available_models: tuple[str, ...] = ()
    # ENGINE: "openai-whisper" or "faster-whisper".
    engine: str = "openai-whisper"
    # The most tasks a SubmitBatch to this decoder may hold; 1: it takes them one at a time.
    batch_files: int = 1
    # Whether MODEL_DIR holds a speaker encoder, so that tasks may ask for speaker labels.
    labels_speakers: bool = False


@dataclass(frozen=True)
class DecoderStatus:
    """The decoder's state, sent on every change and on request."""

    gpu_mode: bool
    max_model_to_use: str
    last_loaded_model_size: str | None
    is_model_loaded: bool
    currently_busy: bool
    # Task ids waiting in the decoder's queue, next first.
    queued_task_ids: tuple[str, ...]
    # Every model loaded now, least recently used first.
    loaded_models: tuple[HeldModel, ...] = ()


@dataclass(frozen=True)
class HeldModel:
    """A model a decoder holds loaded."""

    model: str
    device: str
    # When a task, a turn or a load last used it (epoch seconds).
    last_used_at: float


@dataclass(frozen=True)
class Pong:
    """The answer to a Ping."""


@dataclass(frozen=True)
class TaskStarted:
    task_id: str
    target_model_size: str
    started_at: float


@dataclass(frozen=True)
class TaskProgress:
    """Sent while a task decodes, at most a few times a second."""

    task_id: str
    decoded_s: float
    duration_s: float
    # The segments decoded since the last report, and the index of the first in the transcript.
    segments: tuple[Segment, ...] = ()
    first_segment: int = 0
    # What is being done: one of STAGES; decoded_s counts the audio this stage has covered.
    stage: str = STAGES[0]


@dataclass(frozen=True)
class TaskFinished:
    task_id: str
    transcript: Transcript
    run: DecodeRun


@dataclass(frozen=True)
class TaskFailed:
    task_id: str
    reason: str
    finished_at: float


@dataclass(frozen=True)
class TaskCancelled:
    """A CancelTask stopped the task in hand, or took a waiting one out of the decoder's queue."""

    task_id: str


@dataclass(frozen=True)
class ModelLoaded:
    """For the front end's metrics."""

    model: str
    device: str
    seconds: float


@dataclass(frozen=True)
class ModelUnloaded:
    model: str


@dataclass(frozen=True)
class ModelFailed:
    """A LoadModel (or a PRELOAD_MODELS entry) that could not be loaded."""

    model: str
    reason: str


@dataclass(frozen=True)
class ModelsAvailable:
    """The answer to RescanModels: DecoderReady.available_models as MODEL_DIR holds them now."""

    available_models: tuple[str, ...]


@dataclass(frozen=True)
class LanguageDetected:
    task_id: str
    language: str
    probability: float
    # The most probable languages, most probable first, with their probabilities.
    candidates: tuple[tuple[str, float], ...] = ()
    # How many windows of the file were heard.
    windows: int = 1


@dataclass(frozen=True)
class TurnDecoded:
    turn_id: str
    text: str
    language: str
    # Seconds the decoder spent on it.
    decode_s: float


@dataclass(frozen=True)
class TurnFailed:
    """A turn that was not decoded: it failed, or (reason SUPERSEDED) a newer partial of its
    session replaced it while it waited."""

    turn_id: str
    reason: str


SUPERSEDED = "a newer partial turn of the session replaced it"


FromDecoder = (
    DecoderReady
    | DecoderStatus
    | Pong
    | TaskStarted
    | TaskProgress
    | TaskFinished
    | TaskFailed
    | TaskCancelled
    | LanguageDetected
    | TurnDecoded
    | TurnFailed
    | ModelLoaded
    | ModelUnloaded
    | ModelFailed
    | ModelsAvailable
)

"""A stand-in for an engine, for the cluster benchmark only (ENGINE=bench-stand-in): it loads no
model, reads no audio and hears nothing. Each task takes STAND_IN_TASK_S, reports its progress
as an engine does, and ends with an empty transcript, so that many hosts' queue, claims and
notifications can be measured on one machine without its CPUs decoding. Never for production:
every transcript it returns is empty."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from decoder.device.ladder import NO_GPU, DeviceFacts
from decoder.engines.base import HeardTurn, ProgressCallback, silent_transcript
from decoder.wire.protocol import SubmitTask
from decoder.wire.transcript import Transcript

if TYPE_CHECKING:
    from decoder.audio.ffmpeg import AudioFile
    from decoder.audio.samples import Samples

# How long each task takes, in seconds: about what a GPU spends on a few minutes of audio.
STAND_IN_TASK_S = 6.0


class StandInModel:
    def transcribe(
        self, audio: AudioFile, task: SubmitTask, *, english_only: bool, on_progress: ProgressCallback
    ) -> Transcript:
        for step in range(1, 5):
            time.sleep(STAND_IN_TASK_S / 4)
            on_progress(step * STAND_IN_TASK_S / 4, STAND_IN_TASK_S, ())
        return silent_transcript("en", task.duration_s or STAND_IN_TASK_S)

    def language_probabilities(self, audio: Samples) -> dict[str, float]:
        return {"en": 1.0}

    def transcribe_turn(self, audio: Samples, language: str | None, prompt: str | None) -> HeardTurn:
        return HeardTurn("", language or "en")


class StandInEngine:
    name = "bench-stand-in"
    batches_files = False

    def probe_device(self, use_gpu_if_available: bool) -> DeviceFacts:
        return NO_GPU

    def has_model(self, model: str) -> bool:
        return True

    def load(self, model: str, device: str) -> StandInModel:
        return StandInModel()

    def release_memory(self) -> None:
        """It holds no memory to give back."""

"""Speaker diarization in the decoder process: who said what, after a task is transcribed.

    base        what an encoder is: a clip of speech -> a voice embedding
    encoders    resemblyzer's encoder (on torch), or an imported ONNX one (onnx_encoder)
    clustering  embeddings -> which share a voice, within a task's bounds on the count
    diarize     transcript + audio -> the transcript with a speaker on every segment and word

Speakers holds the encoder for the decoder: loaded at the first task that asks for speakers,
let go with the model when the decoder idles. Encoders are small (resemblyzer's has 1.4 M
weights), so they run on the CPU, and a faster-whisper decoder never starts torch's CUDA.
"""

from __future__ import annotations

import logging
from pathlib import Path

from decoder.audio.ffmpeg import AudioFile
from decoder.speakers.base import SpeakerEncoder
from decoder.speakers.diarize import DiarizeProgress, diarize
from decoder.speakers.encoders import load_encoder
from decoder.wire.options import Diarization
from decoder.wire.speaker_files import encoder_path
from decoder.wire.transcript import Transcript

log = logging.getLogger(__name__)


class Speakers:
    def __init__(self, model_dir: Path, name: str, cpu_threads: int, ffmpeg_timeout_s: float) -> None:
        self._model_dir = model_dir
        self._name = name
        self._cpu_threads = cpu_threads
        self._timeout_s = ffmpeg_timeout_s
        self._encoder: SpeakerEncoder | None = None

    @property
    def available(self) -> bool:
        return encoder_path(self._model_dir, self._name).is_file()

    def diarize(
        self, audio: AudioFile, transcript: Transcript, request: Diarization, on_progress: DiarizeProgress
    ) -> Transcript:
        if self._encoder is None:
            self._encoder = load_encoder(self._model_dir, self._name, self._cpu_threads)
            log.info("loaded the %s speaker encoder", self._encoder.name)
        labelled = diarize(audio, transcript, request, self._encoder, on_progress, self._timeout_s)
        log.info("%d speakers heard", len(labelled.speakers))
        return labelled

    def unload(self) -> None:
        self._encoder = None

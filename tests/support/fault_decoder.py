"""A fault hook for tests only: the real decoder, except that it kills its own process (as a
segfault or the OOM killer would) when asked to decode a file that carries CRASH_MARKER.

`python -m tests.support.fault_decoder` serves whisper-api with this decoder; the settings come from
the environment as usual.
"""

from __future__ import annotations

import os
import signal
import sys
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decoder.wire.protocol import DecoderConfig, SubmitTask
from decoder.wire.transcript import Transcript

if TYPE_CHECKING:
    from decoder.audio.ffmpeg import AudioFile

CRASH_MARKER = b"WHISPER-API-TEST-CRASH"


def run_crashing_decoder(conn: Connection, log_queue: Queue[Any], config: DecoderConfig) -> None:
    from decoder import engines
    from decoder.process import model_holder, service

    real_transcribe = model_holder.ModelHolder.transcribe

    def transcribe(
        self: model_holder.ModelHolder,
        audio: AudioFile,
        task: SubmitTask,
        on_progress: engines.ProgressCallback,
    ) -> Transcript:
        if CRASH_MARKER in Path(task.audio_path).read_bytes()[-len(CRASH_MARKER) :]:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_transcribe(self, audio, task, on_progress)

    model_holder.ModelHolder.transcribe = transcribe  # type: ignore[method-assign]
    service.serve(conn, log_queue, config)


if __name__ == "__main__":
    from tests.support.fault_decoder import run_crashing_decoder as importable_target
    from whisper_api.cli.serve import serve
    from whisper_api.settings import load_settings

    # Imported by its module name, so that the spawned process can find it (not as __main__).
    sys.exit(serve(load_settings(), importable_target))

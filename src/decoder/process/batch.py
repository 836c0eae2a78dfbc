"""Short files decoded together (decoder.wire.protocol.SubmitBatch): their audio read side by side,
and which of them are still owed an answer."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from decoder.audio.ffmpeg import load_audio
from decoder.audio.samples import SAMPLE_RATE, Samples
from decoder.errors import AudioError
from decoder.wire.protocol import BATCH_FILE_MAX_S, SubmitTask

# ffmpeg runs at once while a batch's files are read: each spends most of its short life starting.
READERS = 4
# Read this much past the limit, so that a file longer than its probed length shows it.
OVERRUN_S = 1.0


class Unanswered:
    """The tasks of the batch in hand, each answered once: by its result, or at once by a
    CancelTask (the reader thread's), whichever comes first."""

    def __init__(self, task_ids: Iterable[str]) -> None:
        self._open = set(task_ids)
        self._lock = threading.Lock()

    def take(self, task_id: str) -> bool:
        """True for the one caller that is to answer the task."""
        with self._lock:
            if task_id not in self._open:
                return False
            self._open.remove(task_id)
            return True


def read_all(tasks: Sequence[SubmitTask], timeout_s: float) -> list[Samples | AudioError]:
    """Each task's audio, or why it could not be read, in the tasks' order."""
    with ThreadPoolExecutor(max_workers=min(READERS, len(tasks))) as readers:
        return list(readers.map(lambda task: _read(task, timeout_s), tasks))


def fits(audio: Samples) -> bool:
    """Whether the audio is one batch window long at most, and not empty."""
    return 0 < len(audio) <= BATCH_FILE_MAX_S * SAMPLE_RATE


def _read(task: SubmitTask, timeout_s: float) -> Samples | AudioError:
    try:
        return load_audio(task.audio_path, task.audio_format, timeout_s, limit_s=BATCH_FILE_MAX_S + OVERRUN_S)
    except AudioError as exc:
        return exc

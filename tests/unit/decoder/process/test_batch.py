"""A batch's files read side by side, and each of its tasks answered once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from decoder.audio.samples import SAMPLE_RATE
from decoder.errors import AudioError
from decoder.process.batch import Unanswered, fits, read_all
from decoder.wire.protocol import BATCH_FILE_MAX_S, SubmitTask
from tests.support.speech import speak


def task(path: Path) -> SubmitTask:
    return SubmitTask(path.stem * 4, str(path), "transcribe", "en")


def test_each_task_is_answered_once() -> None:
    answers = Unanswered(["a", "b"])
    assert answers.take("a") and not answers.take("a")
    assert not answers.take("c") and answers.take("b")


def test_files_are_read_in_order_and_one_that_cannot_be_read_fails_alone(tmp_path: Path) -> None:
    speech = speak("The council will make a final decision next month.", tmp_path / "speech.wav")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF" + b"\xff" * 400)
    long = tmp_path / "long.wav"
    silence = ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", str(BATCH_FILE_MAX_S + 5)]
    subprocess.run(["ffmpeg", "-v", "error", *silence, str(long)], check=True)
    read = read_all([task(speech), task(broken), task(long)], timeout_s=60)
    assert isinstance(read[0], np.ndarray) and fits(read[0])
    assert isinstance(read[1], AudioError) and str(tmp_path) not in str(read[1])
    # A file longer than a batch window is read only a little past it: enough to tell.
    assert isinstance(read[2], np.ndarray) and not fits(read[2])
    assert len(read[2]) < (BATCH_FILE_MAX_S + 2) * SAMPLE_RATE
    assert not fits(np.zeros(0, np.float32))

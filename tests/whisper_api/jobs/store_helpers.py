"""What the store tests share: a clock they move by hand, a runner, and jobs with audio files."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from whisper_api.jobs.job import Job

T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


def make_job(tmp_path: Path, letter: str, owner: str = "", uploaded_at: float = 1000.0) -> Job:
    audio = tmp_path / f"{letter}.wav"
    audio.write_bytes(b"RIFF")
    return Job(letter * 32, "transcribe", None, audio, f"{letter}.wav", uploaded_at, owner)

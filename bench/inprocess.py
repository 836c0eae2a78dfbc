"""Engines measured in this process, through the decoder's own Engine classes: real-time factor
and word error rate per engine, compute type, thread count and beam size, on the same clip."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from tests.support.speech import word_error_rate

from decoder.audio.ffmpeg import AudioFile
from decoder.engines import EngineOptions, LoadedModel, create_engine
from decoder.wire.options import DecodeOptions
from decoder.wire.protocol import SubmitTask
from whisper_api.settings import Settings

MODEL = "tiny.en"


@dataclass(frozen=True)
class EngineSetup:
    engine: str
    compute_type: str
    cpu_threads: int
    vad_filter: bool = False
    batch_size: int = 1
    # openai-whisper only: torch's fused attention kernel (off is openai-whisper before SDPA).
    sdpa: bool = True
    model: str = MODEL

    @property
    def label(self) -> str:
        parts = [
            self.engine,
            self.compute_type,
            f"{self.cpu_threads} thread{'s' if self.cpu_threads > 1 else ''}",
        ]
        if self.vad_filter:
            parts.append("VAD")
        if self.batch_size > 1:
            parts.append(f"batches of {self.batch_size}")
        if not self.sdpa:
            parts.append("no SDPA")
        return ", ".join(parts)


@dataclass(frozen=True)
class EngineRun:
    setup: EngineSetup
    beam_size: int | None
    seconds: float
    audio_s: float
    wer: float

    @property
    def rtf(self) -> float:
        return self.seconds / self.audio_s


def load(setup: EngineSetup, model_dir: Path) -> LoadedModel:
    options = EngineOptions(setup.compute_type, setup.vad_filter, setup.cpu_threads, setup.batch_size)
    engine = create_engine(setup.engine, model_dir, options)
    return engine.load(setup.model, "cpu")


def transcribe_once(
    model: LoadedModel, audio: Path, beam_size: int | None = None, english: bool = True
) -> tuple[float, str]:
    """Seconds and text of one transcription, exactly as the decoder runs it; `english`: the
    model knows only English."""
    task = SubmitTask("b" * 32, str(audio), "transcribe", None, DecodeOptions(beam_size=beam_size))
    started = time.perf_counter()
    # The engine decodes the file itself, as it does in the decoder.
    upload = AudioFile(task.audio_path, None, Settings().ffmpeg_timeout_s)
    transcript = model.transcribe(upload, task, english_only=english, on_progress=lambda *_: None)
    return time.perf_counter() - started, transcript.text


@contextmanager
def _sdpa(enabled: bool) -> Iterator[None]:
    import whisper.model

    with nullcontext() if enabled else whisper.model.disable_sdpa():
        yield


def engine_matrix(
    setups: list[tuple[EngineSetup, tuple[int | None, ...]]],
    model_dir: Path,
    audio: Path,
    audio_s: float,
    reference: str,
    warm_up: Path,
) -> list[EngineRun]:
    runs: list[EngineRun] = []
    for setup, beams in setups:
        model = load(setup, model_dir)
        with _sdpa(setup.sdpa):
            # The first call pays for one-time set-up (kernels, caches); a real server has paid it.
            transcribe_once(model, warm_up)
            for beam_size in beams:
                seconds, text = transcribe_once(model, audio, beam_size)
                runs.append(EngineRun(setup, beam_size, seconds, audio_s, word_error_rate(reference, text)))
                print(f"  {setup.label}, beam {beam_size or 1}: {seconds:.1f} s", flush=True)
        del model
    return runs


class SeparateProcessTimer:
    """The in-process side of the API overhead, in a fresh process like the decoder's: the bench's
    own process has run every engine by then, and carries their libraries and settings."""

    def __init__(self, setup: EngineSetup, model_dir: Path) -> None:
        command = [sys.executable, "-m", "bench.timing_worker"]
        arguments = [setup.engine, setup.compute_type, str(setup.cpu_threads), str(model_dir), setup.model]
        self._worker = subprocess.Popen(
            [*command, *arguments], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        if self._read() != "ready":
            raise RuntimeError("the timing worker did not start")

    def _read(self) -> str:
        assert self._worker.stdout is not None
        return self._worker.stdout.readline().strip()

    def seconds(self, audio: Path) -> float:
        assert self._worker.stdin is not None
        self._worker.stdin.write(f"{audio}\n")
        self._worker.stdin.flush()
        return float(self._read())

    def __enter__(self) -> SeparateProcessTimer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._worker.stdin is not None
        self._worker.stdin.close()
        self._worker.wait(timeout=60)

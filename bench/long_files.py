"""Long files: the decoder's peak memory against the recording's length, decoded whole (as
before windowed decoding: the whole file's samples and spectrogram at once) and window by window
(decoder.audio.spectrogram). The recordings are the benchmark's long one looped: speech throughout."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ENGINE = "faster-whisper"


@dataclass(frozen=True)
class Decode:
    loaded_mib: float
    peak_mib: float
    seconds: float

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - self.loaded_mib


@dataclass(frozen=True)
class LongFile:
    length_s: int
    whole: Decode
    windowed: Decode


def measure(
    work: Path, model_dir: Path, speech: Path, lengths_s: tuple[int, ...], threads: int, limit_s: float
) -> list[LongFile]:
    """Each length decoded whole and windowed; `limit_s` is the whole-file limit windowed decoding
    starts above (the server's WHOLE_FILE_LIMIT_S, lower in the quick run)."""
    work.mkdir(parents=True, exist_ok=True)
    measured = []
    for length_s in lengths_s:
        audio = work / f"speech-{length_s}s.opus"
        looped = ["-stream_loop", "-1", "-i", str(speech), "-t", str(length_s)]
        encoded = ["-c:a", "libopus", "-b:a", "24k", "-compression_level", "0"]
        subprocess.run(["ffmpeg", "-v", "error", "-y", *looped, *encoded, str(audio)], check=True)
        whole = _decode(model_dir, audio, math.inf, threads)
        windowed = _decode(model_dir, audio, limit_s, threads)
        print(f"{length_s} s: whole {whole}, windowed {windowed}", flush=True)
        measured.append(LongFile(length_s, whole, windowed))
    return measured


def _decode(model_dir: Path, audio: Path, limit_s: float, threads: int) -> Decode:
    worker = [sys.executable, "-m", "bench.memory_worker", ENGINE, str(threads), str(model_dir), str(audio)]
    answer = subprocess.run([*worker, str(limit_s)], capture_output=True, text=True, check=True)
    return Decode(**json.loads(answer.stdout.strip().splitlines()[-1]))


def _length(seconds: int) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def _cells(decode: Decode) -> str:
    return f"{decode.peak_mib:.0f} (+{decode.growth_mib:.0f}) | {decode.seconds:.1f}"


def section(long_files: list[LongFile], threads: int, limit_s: float) -> list[str]:
    rows = [f"| {_length(f.length_s)} | {_cells(f.whole)} | {_cells(f.windowed)} |" for f in long_files]
    return [
        "## Long files",
        "",
        f"The decoder's engine ({ENGINE}, int8, {threads} threads, tiny.en) decoding the long recording "
        "looped to each length, each decode in a fresh process: its peak RSS in MiB, and in brackets what "
        "the decode added to the loaded model. *Whole* decodes the file as the server did before windowed "
        "decoding (the whole file's samples and spectrogram at once); *windowed* is how the server decodes "
        f"anything longer than {limit_s / 60:g} minutes now.",
        "",
        "| recording | whole: peak MiB | whole: s | windowed: peak MiB | windowed: s |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]

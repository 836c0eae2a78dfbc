"""Decodes one recording in a process of its own and reports the process's peak memory.

    python -m bench.memory_worker ENGINE CPU_THREADS MODEL_DIR AUDIO WHOLE_FILE_LIMIT_S

It prints one line of JSON: the peak RSS in MiB once the model is loaded and after the decode,
and the seconds the decode took. A fresh process for each decode, so that each peak is its own.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench.inprocess import MODEL
from decoder.audio.ffmpeg import AudioFile
from decoder.engines import EngineOptions, create_engine
from decoder.wire.protocol import SubmitTask


def peak_mib() -> float:
    """VmHWM: unlike getrusage's ru_maxrss, which execve keeps from the parent, it is this
    process's own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(argv: list[str]) -> int:
    engine, cpu_threads, model_dir, audio, limit = argv
    options = EngineOptions(cpu_threads=int(cpu_threads), whole_file_limit_s=float(limit))
    model = create_engine(engine, Path(model_dir), options).load(MODEL, "cpu")
    loaded = peak_mib()
    task = SubmitTask("m" * 32, audio, "transcribe", None)
    started = time.perf_counter()
    model.transcribe(AudioFile(audio, None, 3600), task, english_only=True, on_progress=lambda *_: None)
    seconds = time.perf_counter() - started
    print(json.dumps({"loaded_mib": loaded, "peak_mib": peak_mib(), "seconds": seconds}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

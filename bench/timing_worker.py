"""Times transcriptions in a process of its own, set up as the decoder is: only its engine's
libraries imported, nothing left over from other engines' runs.

    python -m bench.timing_worker ENGINE COMPUTE_TYPE CPU_THREADS MODEL_DIR MODEL

It loads the model, says "ready", then reads one audio path per line on stdin and answers each
with the seconds its transcription took.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.inprocess import EngineSetup, load, transcribe_once
from decoder.wire.models import MODELS


def main(argv: list[str]) -> int:
    engine, compute_type, cpu_threads, model_dir, name = argv
    model = load(EngineSetup(engine, compute_type, int(cpu_threads), model=name), Path(model_dir))
    english = MODELS[name].english_only
    print("ready", flush=True)
    for line in sys.stdin:
        seconds, _ = transcribe_once(model, Path(line.strip()), english=english)
        print(f"{seconds:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

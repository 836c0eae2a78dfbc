"""What `make run` serves: the default engine against openai-whisper, on the models and settings
a fresh clone gets.

`make install` imports the offline models for both engines (`whisper-api ensure-model`) and
writes `MAX_MODEL=base` to `.env`; every other setting keeps its default. Two servers set up so
decode the five-minute recording: one as it is (`ENGINE=auto`), one with `ENGINE=openai-whisper`,
the engine the server ran by default before. Each number is the task's time through the API,
from the start of the upload until its event stream ended, and the transcript's word error rate.
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import start_server
from tests.support.speech import word_error_rate

from bench import service
from bench.report import table, target_row
from whisper_api.cli.models import ensure_model
from whisper_api.settings import Settings

# What `make install` writes to .env (the Makefile's DEFAULT_MODEL), and the placement's default
# that the test servers pin to one decoder.
MAKE_RUN_SETTINGS = {"MAX_MODEL": "base", "DECODERS": str(Settings().decoders)}
# The engine the server ran by default before ENGINE=auto, and the default itself.
SETUPS: tuple[tuple[str, dict[str, str]], ...] = (
    ("openai-whisper", {"ENGINE": "openai-whisper"}),
    ("default", {}),
)


@dataclass(frozen=True)
class Served:
    setup: str
    engine: str
    seconds: float
    wer: float


def offline_models(model_dir: Path) -> Path:
    """MODEL_DIR as `make install` fills it: every offline model, for both engines."""
    with contextlib.redirect_stdout(io.StringIO()):
        if ensure_model(model_dir):
            raise RuntimeError("the offline models could not be imported")
    return model_dir


def measure(work: Path, model_dir: Path, recording: Path, text: str) -> tuple[Served, ...]:
    served = []
    for name, settings in SETUPS:
        server = start_server(work / name, model_dir, **MAKE_RUN_SETTINGS, **settings)
        try:
            with server.client(timeout=600) as client:
                service.wait_until(lambda: client.get("/readyz").status_code == 200, 300.0)
                engine = str(client.get("/api/v1/decoder_status").json()["engine"])
                started = time.perf_counter()
                body = service.wait_until_ended(client, service.upload(client, recording))
                seconds = time.perf_counter() - started
        finally:
            server.stop()
        if body["status"] != "finished":
            raise RuntimeError(f"task failed: {body}")
        served.append(Served(name, engine, seconds, word_error_rate(text, str(body["transcript"]))))
        print(f"make run, {name} ({engine}): {seconds:.1f} s, WER {served[-1].wer:.3f}", flush=True)
    return tuple(served)


def section(served: tuple[Served, ...], recording_s: float) -> list[str]:
    before, default = served
    speed_up = before.seconds / default.seconds
    added_wer = default.wer - before.wer
    rows = [
        (
            f"`{setup.setup}` ({setup.engine})",
            f"{setup.seconds:.1f}",
            f"{setup.seconds / recording_s:.3f}",
            f"{setup.wer:.3f}",
        )
        for setup in served
    ]
    targets = [
        target_row(
            "`make run` on a fresh clone against openai-whisper, speed-up",
            "≥ 2x",
            f"{speed_up:.2f}x",
            speed_up >= 2,
        ),
        target_row(
            "its word error rate against openai-whisper's",
            "within ±0.01 (or lower)",
            f"{added_wer:+.3f} ({default.wer:.3f} vs {before.wer:.3f})",
            added_wer <= 0.01,
        ),
    ]
    return [
        "## What `make run` serves",
        "",
        f"The {recording_s / 60:.1f}-minute recording through a server set up as `make run` sets it up on a "
        "fresh clone: the offline models imported for both engines, `MAX_MODEL=base`, every other "
        "setting at its default (`ENGINE=auto`, `COMPUTE_TYPE=auto`, `CPU_THREADS=0`, beam 1). Against "
        "it, the same server with `ENGINE=openai-whisper`, the default before. Seconds from the start "
        "of the upload until the task's event stream ended.",
        "",
        *table(("server", "seconds", "RTF", "WER"), rows),
        *table(("measure", "target", "result", ""), targets),
    ]

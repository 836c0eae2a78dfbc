"""Threads per decoder: how much faster one decoding of each engine and model size runs on every
CPU than on one thread, whether that is worth more than a one-thread decoder on each CPU, against
the table the server places its decoders by (decoder.wire.threads.THREADS_PER_DECODER), and what
that placement gains through the API.

Each engine decodes, in a fresh process of its own (bench.timing_worker), one paragraph (the
fastest of a few runs) and the five-minute recording, with the two offline models that
`make install` imports, on one thread and on every usable CPU. Then servers as `make run` starts
them (every placement setting left to its default) and with one decoder on every CPU (the
placement before the table, `DECODERS=1`) each take a burst of short clips uploaded at once, and
the five-minute recording alone.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import start_server
from tests.support.speech import duration_s, short_clips

from bench import service
from bench.inprocess import EngineSetup, SeparateProcessTimer
from bench.report import table
from decoder.wire.threads import threads_per_decoder, usable_cpus
from whisper_api.settings import Settings

# The offline models `make install` imports (decoder.model_import.packaged).
MODELS = ("tiny.en", "base")
# What COMPUTE_TYPE=auto computes with on a CPU.
COMPUTE_TYPES = {"openai-whisper": "float32", "faster-whisper": "int8"}
# The placements the servers compare: the default, and one decoder on every CPU.
LAYOUTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("default", {"DECODERS": str(Settings().decoders)}),
    ("one decoder", {"DECODERS": "1"}),
)


@dataclass(frozen=True)
class Timing:
    engine: str
    model: str
    threads: int
    paragraph_s: float
    recording_s: float


@dataclass(frozen=True)
class Layout:
    model: str
    name: str
    engine: str
    decoders: int
    threads: int
    burst_s: float
    recording_s: float


@dataclass(frozen=True)
class Threads:
    models: tuple[str, ...]
    engines: tuple[str, ...]
    cpus: int
    paragraph_s: float
    recording_s: float
    clips: int
    timings: tuple[Timing, ...]
    layouts: tuple[Layout, ...]


def measure(
    work: Path,
    model_dir: Path,
    paragraph: Path,
    recording: Path,
    models: tuple[str, ...],
    engines: tuple[str, ...],
    clips: int,
    repeats: int,
) -> Threads:
    """`model_dir` holds the offline models for both engines (bench.default_engine.offline_models)."""
    cpus = usable_cpus()
    timings = []
    for model in models:
        for engine in engines:
            for threads in sorted({1, cpus}):
                setup = EngineSetup(engine, COMPUTE_TYPES[engine], threads, model=model)
                with SeparateProcessTimer(setup, model_dir) as timer:
                    timer.seconds(paragraph)
                    fastest = min(timer.seconds(paragraph) for _ in range(repeats))
                    timings.append(Timing(engine, model, threads, fastest, timer.seconds(recording)))
                print(f"  {model}, {setup.label}: {fastest:.2f} s, {timings[-1].recording_s:.1f} s")
    (work / "clips").mkdir(parents=True, exist_ok=True)
    burst = [path for path, _ in short_clips(work / "clips", clips)]
    layouts = [
        _layout(work / f"{model}-{name}", model_dir, model, name, settings, burst, recording)
        for model in models
        for name, settings in LAYOUTS
    ]
    return Threads(
        models,
        engines,
        cpus,
        duration_s(paragraph),
        duration_s(recording),
        clips,
        tuple(timings),
        tuple(layouts),
    )


def _layout(
    home: Path,
    model_dir: Path,
    model: str,
    name: str,
    settings: dict[str, str],
    burst: list[Path],
    recording: Path,
) -> Layout:
    server = start_server(home, model_dir, MAX_MODEL=model, **settings)
    try:
        with server.client(timeout=600) as client:
            service.wait_until(lambda: client.get("/readyz").status_code == 200, 300.0)
            status = client.get("/api/v1/decoder_status").json()
            # Every decoder loads its model before the timings.
            decoders = status["decoders"]
            with ThreadPoolExecutor(len(decoders)) as pool:
                list(pool.map(lambda path: service.one_task_seconds(client, path), burst[: len(decoders)]))
            with ThreadPoolExecutor(len(burst)) as pool:
                started = time.perf_counter()
                task_ids = list(pool.map(lambda path: service.upload(client, path), burst))
                ended = [service.wait_until_ended(client, task_id) for task_id in task_ids]
                burst_s = time.perf_counter() - started
            if any(body["status"] != "finished" for body in ended):
                raise RuntimeError(f"a task of the burst failed: {ended}")
            recording_s = service.one_task_seconds(client, recording)
    finally:
        server.stop()
    threads = int(decoders[0]["cpu_threads"])
    layout = Layout(model, name, str(status["engine"]), len(decoders), threads, burst_s, recording_s)
    print(
        f"  {model}, {name} ({layout.decoders} x {layout.threads} threads): burst {burst_s:.1f} s, "
        f"recording {recording_s:.1f} s",
        flush=True,
    )
    return layout


def worth_every_cpu(speed_up: float, cpus: int) -> bool:
    """Whether one decoder on every CPU is worth more than a one-thread decoder on each: its
    speed-up on one decoding must reach halfway from one thread to `cpus` times. Below that,
    `cpus` decoders do nearly `cpus` times the work whenever tasks wait, and a lone task loses
    less than it gains on all of them."""
    return speed_up >= (1 + cpus) / 2


def section(measured: Threads) -> list[str]:
    cpus = measured.cpus
    rows: list[tuple[str, ...]] = []
    for model in measured.models:
        for engine in measured.engines:
            one, every = (
                next(run for run in measured.timings if (run.engine, run.model, run.threads) == key)
                for key in ((engine, model, 1), (engine, model, cpus))
            )
            speed_up = one.recording_s / every.recording_s
            rule = cpus if worth_every_cpu(speed_up, cpus) else 1
            table_says = threads_per_decoder(engine, model) or cpus
            rows.append(
                (
                    model,
                    engine,
                    f"{one.paragraph_s:.2f}",
                    f"{one.recording_s:.1f}",
                    f"{every.paragraph_s:.2f}",
                    f"{every.recording_s:.1f}",
                    f"{speed_up:.2f}x",
                    str(rule),
                    str(table_says) if table_says == rule else f"**{table_says}**",
                )
            )
    layout_rows = [
        (
            layout.model,
            f"{layout.name} ({layout.engine})",
            f"{layout.decoders} x {layout.threads}",
            f"{layout.burst_s:.1f}",
            f"{measured.clips * 60 / layout.burst_s:.1f}",
            f"{layout.recording_s:.1f}",
        )
        for layout in measured.layouts
    ]
    every_cpu = f"{cpus} threads"
    return [
        "## Threads per decoder",
        "",
        f"One decoding at a time, in a process of the engine's own (beam 1, the server's default), on "
        f"1 thread and on all {cpus} usable CPUs: a paragraph of {measured.paragraph_s:.0f} s (the "
        f"fastest of a few runs) and a recording of {measured.recording_s:.0f} s, in seconds. "
        "The *speed-up* is every CPU's on the recording. Where it falls short of halfway "
        f"to {cpus}x ({(1 + cpus) / 2:g}x), a one-thread decoder on each CPU does more than one "
        "decoder on all of them: nearly "
        f"{cpus} times the work whenever tasks wait, for a lone task a little slower. *Table* is "
        "what the server gives each decoder on a CPU with `CPU_THREADS=0` "
        "(`decoder/wire/threads.py`), in bold where this run's rule says otherwise; `DECODERS=0` "
        "then runs as many decoders as the CPUs hold.",
        "",
        *table(
            (
                "model",
                "engine",
                "1 thread: paragraph, s",
                "recording, s",
                f"{every_cpu}: paragraph, s",
                "recording, s",
                "speed-up",
                "rule",
                "table",
            ),
            rows,
        ),
        f"What that placement gains: servers set up as `make run` sets them up, and with one decoder on "
        f"every CPU (`DECODERS=1`, the placement before the table), each taking {measured.clips} short "
        "clips uploaded at once (from the first upload until the last task ended) and then the "
        "recording alone.",
        "",
        *table(
            ("model", "placement (engine)", "decoders x threads", "burst, s", "clips/minute", "recording, s"),
            layout_rows,
        ),
    ]

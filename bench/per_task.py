"""A burst of short clips: what the server adds to the engine alone, and where each task's CPU
time goes.

The same 16 clips (5-10 s) are decoded two ways, in turns, twice: one after another by the
engine in a process of its own (reading each file included), and uploaded all at once to a
server whose one decoder runs the same engine, compute type, beam and threads. The ratio is the
engine's time over the server's, from the first upload until the last task ended: 1 is a server
that adds nothing. Meanwhile /proc gives each process's CPU seconds: the front end, its upload
checker processes and its decoder, per task.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import RunningServer, start_server
from tests.support.speech import duration_s, short_clips

from bench import cpu, service
from bench.inprocess import EngineSetup, SeparateProcessTimer
from bench.report import table, target_row

ENGINE = "faster-whisper"
COMPUTE_TYPE = "int8"
THREADS = 1
CLIPS = 16
ROUNDS = 2
# What /proc reports per process kind, in this order.
PROCESSES = ("front ends", "checkers", "decoders")


@dataclass(frozen=True)
class Round:
    engine_s: float
    api_s: float
    # CPU seconds of the server's processes over the burst, by PROCESSES.
    cpu_s: dict[str, float]
    failures: int


@dataclass(frozen=True)
class Burst:
    clips: int
    clip_seconds: tuple[float, float]
    rounds: tuple[Round, ...]

    @property
    def best(self) -> Round:
        """The round whose server was fastest."""
        return min(self.rounds, key=lambda run: run.api_s)

    @property
    def ratio(self) -> float:
        """The engine alone over the server, each at its fastest round."""
        return min(run.engine_s for run in self.rounds) / self.best.api_s


def measure(work: Path, model_dir: Path, clips: int = CLIPS, rounds: int = ROUNDS) -> Burst:
    work.mkdir(parents=True, exist_ok=True)
    made = short_clips(work, clips)
    paths = [path for path, _ in made]
    settings = {"ENGINE": ENGINE, "COMPUTE_TYPE": COMPUTE_TYPE, "CPU_THREADS": str(THREADS), "DECODERS": "1"}
    server = start_server(work / "server", model_dir, **settings)
    runs = []
    try:
        with SeparateProcessTimer(EngineSetup(ENGINE, COMPUTE_TYPE, THREADS), model_dir) as engine:
            engine.seconds(paths[0])
            with server.client(timeout=600) as client:
                service.one_task_seconds(client, paths[0])
            for _ in range(rounds):
                engine_s = sum(engine.seconds(path) for path in paths)
                runs.append(_through_the_api(server, paths, engine_s))
                print(
                    f"{clips} clips: engine alone {engine_s:.2f} s, through the API {runs[-1].api_s:.2f} s",
                    flush=True,
                )
    finally:
        server.stop()
    lengths = [duration_s(path) for path in paths]
    return Burst(clips, (min(lengths), max(lengths)), tuple(runs))


def _through_the_api(server: RunningServer, paths: list[Path], engine_s: float) -> Round:
    before = cpu.sample([server.process.pid], None)
    with server.client(timeout=600) as client, ThreadPoolExecutor(len(paths)) as pool:
        started = time.perf_counter()
        task_ids = list(pool.map(lambda path: service.upload(client, path), paths))
        ended = [service.wait_until_ended(client, task_id) for task_id in task_ids]
        api_s = time.perf_counter() - started
    after = cpu.sample([server.process.pid], None)
    used = cpu.between(before, after).seconds
    failures = sum(body["status"] != "finished" for body in ended)
    return Round(engine_s, api_s, {group: used[group] for group in PROCESSES}, failures)


def section(burst: Burst) -> list[str]:
    best = burst.best
    per_task = {group: best.cpu_s[group] / burst.clips for group in PROCESSES}
    rows = [
        (
            f"{number}",
            f"{run.engine_s:.2f}",
            f"{run.api_s:.2f}",
            f"{run.engine_s / run.api_s:.3f}",
            *(f"{run.cpu_s[group] / burst.clips:.3f}" for group in PROCESSES),
            str(run.failures),
        )
        for number, run in enumerate(burst.rounds, 1)
    ]
    targets = [
        target_row(
            f"{burst.clips} clips at once through the API, against the engine alone",
            "≥ 0.97",
            f"{burst.ratio:.3f}",
            burst.ratio >= 0.97,
        ),
        target_row(
            "CPU seconds the front end spends per upload",
            "≤ 0.02",
            f"{per_task['front ends']:.3f} (its checkers: {per_task['checkers']:.3f})",
            per_task["front ends"] <= 0.02,
        ),
    ]
    low, high = burst.clip_seconds
    return [
        "## A burst of short clips",
        "",
        f"{burst.clips} clips of {low:.0f}-{high:.0f} s, decoded by {ENGINE} ({COMPUTE_TYPE}, beam 1, "
        f"{THREADS} thread) two ways, in turns: one after another in a process of the engine's own "
        "(reading each file included), and uploaded all at once to a server whose one decoder runs "
        "the same setup, from the first upload until the last task ended. The ratio is the engine's "
        "time over the server's. CPU seconds per task come from /proc: the front end, its two upload "
        "checker processes, and the decoder process.",
        "",
        *table(
            (
                "round",
                "engine alone, s",
                "through the API, s",
                "ratio",
                "front end CPU s",
                "checkers CPU s",
                "decoder CPU s",
                "failed",
            ),
            rows,
        ),
        *table(("measure", "target", "result", ""), targets),
    ]

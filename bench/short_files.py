"""Short files: what a request costs beyond the engine's own time, on a 5-second and a 30-second
clip, and how a queue of short clips (5-10 s) runs one at a time against batched (BATCH_FILES)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import start_server
from tests.support.speech import duration_s, short_clips, word_error_rate

from bench import service
from bench.inprocess import EngineSetup, SeparateProcessTimer

ENGINE = "faster-whisper"
FIXED_COST_CLIPS_S = (5, 30)
BATCH_FILES = 8


@dataclass(frozen=True)
class FixedCost:
    clip_s: int
    pairs: tuple[tuple[float, float], ...]

    @property
    def in_process_s(self) -> float:
        return min(in_process for in_process, _ in self.pairs)

    @property
    def api_s(self) -> float:
        return min(api for _, api in self.pairs)


@dataclass(frozen=True)
class QueueRun:
    batch_files: int
    total_s: float
    failures: int
    transcripts: tuple[str, ...]


@dataclass(frozen=True)
class ShortFiles:
    threads: int
    fixed_costs: tuple[FixedCost, ...]
    clips: int
    clip_seconds: tuple[float, ...]
    queues: tuple[QueueRun, ...]


def measure(work: Path, model_dir: Path, speech: Path, pairs: int, clips: int, threads: int) -> ShortFiles:
    work.mkdir(parents=True, exist_ok=True)
    cut = [_cut(speech, seconds, work / f"clip-{seconds}s.wav") for seconds in FIXED_COST_CLIPS_S]
    costs = _fixed_costs(work, model_dir, cut, pairs, threads)
    queued = short_clips(work, clips)
    runs = tuple(
        _queue(work, model_dir, [path for path, _ in queued], size, threads) for size in (1, BATCH_FILES)
    )
    lengths = tuple(duration_s(path) for path, _ in queued)
    return ShortFiles(threads, costs, clips, lengths, runs)


def _cut(speech: Path, seconds: int, output: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(speech), "-t", str(seconds), str(output)], check=True
    )
    return output


def _fixed_costs(
    work: Path, model_dir: Path, clips: list[Path], pairs: int, threads: int
) -> tuple[FixedCost, ...]:
    server = start_server(work / "fixed-cost", model_dir, ENGINE=ENGINE, CPU_THREADS=str(threads))
    try:
        setup = EngineSetup(ENGINE, "int8", threads)
        with server.client() as client, SeparateProcessTimer(setup, model_dir) as in_process:
            in_process.seconds(clips[0])
            service.one_task_seconds(client, clips[0])
            # In turns, so that a drift of the machine's speed touches both alike.
            costs = tuple(
                FixedCost(
                    seconds,
                    tuple(
                        (in_process.seconds(clip), service.one_task_seconds(client, clip))
                        for _ in range(pairs)
                    ),
                )
                for seconds, clip in zip(FIXED_COST_CLIPS_S, clips, strict=True)
            )
    finally:
        server.stop()
    for cost in costs:
        print(f"fixed cost, {cost.clip_s} s clip: (in process, through the API) {cost.pairs}", flush=True)
    return costs


def _queue(work: Path, model_dir: Path, clips: list[Path], batch_files: int, threads: int) -> QueueRun:
    settings = {"ENGINE": ENGINE, "CPU_THREADS": str(threads), "BATCH_FILES": str(batch_files)}
    server = start_server(work / f"queue-{batch_files}", model_dir, **settings)
    try:
        with server.client(timeout=600) as client:
            service.one_task_seconds(client, clips[0])
            started = time.perf_counter()
            task_ids = [service.upload(client, clip) for clip in clips]
            ended = [service.wait_until_ended(client, task_id) for task_id in task_ids]
            total_s = time.perf_counter() - started
    finally:
        server.stop()
    failures = sum(body["status"] != "finished" for body in ended)
    print(f"{len(clips)} short clips, BATCH_FILES={batch_files}: {total_s:.1f} s", flush=True)
    return QueueRun(
        batch_files, total_s, failures, tuple(str(body.get("transcript") or "") for body in ended)
    )


def section(measured: ShortFiles) -> list[str]:
    cost_rows = [
        f"| {cost.clip_s} s | {cost.in_process_s:.2f} | {cost.api_s:.2f} | "
        f"{cost.api_s - cost.in_process_s:+.2f} | {cost.api_s / cost.in_process_s:.2f} |"
        for cost in measured.fixed_costs
    ]
    one, batched = measured.queues
    agreement = word_error_rate(" ".join(one.transcripts), " ".join(batched.transcripts))
    lengths = measured.clip_seconds
    return [
        "## Short files",
        "",
        f"The server with {ENGINE} (int8, {measured.threads} threads, tiny.en). *Fixed cost*: one clip "
        "through `/api/v1/transcribe`, from the start of the upload until its event stream ends, against "
        "the engine's own call on the same file in a separate process (reading the file included), "
        f"fastest of {len(measured.fixed_costs[0].pairs)} runs each, taken in turns.",
        "",
        "| clip | in process, s | through the API, s | added, s | ratio |",
        "|---|---|---|---|---|",
        *cost_rows,
        "",
        f"*A queue of short clips*: {measured.clips} clips of {min(lengths):.0f}-{max(lengths):.0f} s "
        "(two sentences each, in two voices and three speeds) uploaded at once, from the first upload "
        f"until the last ends; one at a time (`BATCH_FILES=1`) against batches of up to {BATCH_FILES} "
        f"(`BATCH_FILES={BATCH_FILES}`). The two runs' transcripts differ by a WER of {agreement:.3f}.",
        "",
        "| BATCH_FILES | s | clips per minute | failed |",
        "|---|---|---|---|",
        *(_queue_row(run, measured.clips) for run in measured.queues),
        "",
        f"Batched against one at a time: {one.total_s / batched.total_s:.2f}x.",
        "",
    ]


def _queue_row(run: QueueRun, clips: int) -> str:
    return f"| {run.batch_files} | {run.total_s:.1f} | {60 * clips / run.total_s:.1f} | {run.failures} |"

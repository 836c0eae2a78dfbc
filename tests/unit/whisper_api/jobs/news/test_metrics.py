"""The queue's gauges at a scrape: how many tasks wait, and how long the first in line has."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from decoder.wire.protocol import SubmitTask
from tests.unit.whisper_api.jobs.tracker.test_task_tracker import scripted_pool
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.news.metrics import Metrics


def gauges(metrics: Metrics) -> dict[str, float]:
    text = generate_latest(metrics.registry).decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("whisper_api_queue_")
    }


def test_the_oldest_wait_is_the_first_in_lines_and_zero_when_none_waits() -> None:
    queue, metrics = JobQueue(), Metrics()
    metrics.watch(queue, scripted_pool(queue, 1, asyncio.sleep), None)
    assert gauges(metrics) == {"whisper_api_queue_length": 0, "whisper_api_queue_oldest_wait_seconds": 0}
    now = time.time()
    for letter, waited_s in (("b", 5.0), ("a", 30.0)):
        queue.add(SubmitTask(letter * 32, "/uploads/x.wav", "transcribe", None), now - waited_s)
    scraped = gauges(metrics)
    assert scraped["whisper_api_queue_length"] == 2
    # At least the 30 s it had waited when added; a busy machine only adds to it.
    assert 30.0 <= scraped["whisper_api_queue_oldest_wait_seconds"] < 30.0 + 60.0
    queue.drop("a" * 32)
    assert gauges(metrics)["whisper_api_queue_oldest_wait_seconds"] < 5.0 + 60.0

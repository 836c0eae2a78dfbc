"""Prometheus metrics: what the server did, what it is doing, and how fast (served at /metrics
by whisper_api.api.middleware.metrics, which also counts the HTTP requests).

Every app has its own registry, so that several apps (in tests) never share counters. Values
from the decoder process arrive over the pipe as messages; the front end exports them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from decoder.wire.protocol import ModelLoaded, ModelUnloaded
from whisper_api.jobs.dispatch.pool import DecoderPool
from whisper_api.jobs.intake.media import UploadChecker
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.tracker.workers import ClusterWorkers
from whisper_api.jobs.views import Standing

# Task durations run from a second (tiny model, short clip) to hours (long files on a CPU).
DURATION_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
# Decoding time over audio time: far below 1 on a GPU, around 0.1-1 on a CPU.
REAL_TIME_FACTOR_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.tasks_submitted = Counter(
            "whisper_api_tasks_submitted", "Tasks accepted", ["task_type"], registry=registry
        )
        self.tasks_ended = Counter(
            "whisper_api_tasks_ended", "Tasks that ended, by status", ["status"], registry=registry
        )
        self.task_duration = Histogram(
            "whisper_api_task_duration_seconds",
            "Decoding time of finished tasks",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.real_time_factor = Histogram(
            "whisper_api_real_time_factor",
            "Decoding time over audio duration of finished tasks",
            buckets=REAL_TIME_FACTOR_BUCKETS,
            registry=registry,
        )
        self.audio_seconds = Counter(
            "whisper_api_audio_processed_seconds", "Audio decoded", registry=registry
        )
        self.model_loads = Counter(
            "whisper_api_model_loads", "Model loads", ["model", "device"], registry=registry
        )
        self.model_unloads = Counter(
            "whisper_api_model_unloads", "Model unloads", ["model"], registry=registry
        )
        self.decoder_tasks = Counter(
            "whisper_api_decoder_tasks_started",
            "Tasks a decoder started decoding",
            ["decoder"],
            registry=registry,
        )
        self.upload_bytes = Counter(
            "whisper_api_upload_bytes", "Bytes of accepted uploads", registry=registry
        )
        self.http_requests = Counter(
            "whisper_api_http_requests",
            "HTTP requests by route and status code",
            ["method", "route", "code"],
            registry=registry,
        )

    def watch(self, standing: Standing, pool: DecoderPool, workers: ClusterWorkers | None) -> None:
        """Export the queue's length and head, each decoder's state, and with a shared queue the
        cluster's workers, at every scrape."""
        self.registry.register(_QueueCollector(standing, pool, workers))

    def watch_checks(self, checker: UploadChecker) -> None:
        """Export the upload checks in progress and the checker processes started again."""
        self.registry.register(_CheckerCollector(checker))

    def job_ended(self, job: Job) -> None:
        self.tasks_ended.labels(job.status.value).inc()
        if job.status is not JobStatus.FINISHED or job.started_at is None or job.finished_at is None:
            return
        seconds = job.finished_at - job.started_at
        self.task_duration.observe(seconds)
        if job.duration_s:
            self.audio_seconds.inc(job.duration_s)
            self.real_time_factor.observe(seconds / job.duration_s)

    def model_changed(self, event: ModelLoaded | ModelUnloaded) -> None:
        if isinstance(event, ModelLoaded):
            self.model_loads.labels(event.model, event.device).inc()
        else:
            self.model_unloads.labels(event.model).inc()


class _QueueCollector(Collector):
    def __init__(self, standing: Standing, pool: DecoderPool, workers: ClusterWorkers | None) -> None:
        self._queue = standing
        self._pool = pool
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("whisper_api_queue_length", "Tasks waiting", value=self._queue.count())
        oldest = self._queue.oldest_upload()
        yield GaugeMetricFamily(
            "whisper_api_queue_oldest_wait_seconds",
            "How long the task first in line has waited; 0 while none waits",
            value=0.0 if oldest is None else max(0.0, time.time() - oldest),
        )
        busy = GaugeMetricFamily(
            "whisper_api_decoder_busy", "1 while the decoder decodes", labels=["decoder"]
        )
        restarts = CounterMetricFamily("whisper_api_decoder_restarts", "Decoder restarts", labels=["decoder"])
        engines = GaugeMetricFamily(
            "whisper_api_decoder_engine",
            "1 for the engine the decoder runs (ENGINE=auto chooses it as the decoder starts)",
            labels=["decoder", "engine"],
        )
        for slot in self._pool.slots:
            status, label = slot.decoder.status, [str(slot.index)]
            busy.add_metric(label, int(bool(status and status.currently_busy)))
            restarts.add_metric(label, slot.supervisor.restarts)
            if slot.decoder.ready is not None:
                engines.add_metric([*label, slot.decoder.ready.engine], 1)
        yield busy
        yield restarts
        yield engines
        if self._workers is not None:
            workforce = self._workers.workforce
            yield GaugeMetricFamily(
                "whisper_api_workers_alive",
                "Hosts that decode, heard from within a lease",
                value=workforce.hosts,
            )
            yield GaugeMetricFamily(
                "whisper_api_worker_decoders", "Their decoders that take work", value=workforce.decoders
            )
            yield GaugeMetricFamily(
                "whisper_api_worker_decoders_busy", "Their decoders that hold a task", value=workforce.busy
            )


class _CheckerCollector(Collector):
    def __init__(self, checker: UploadChecker) -> None:
        self._checker = checker

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "whisper_api_upload_checks",
            "Upload checks sent to a checker and not answered yet",
            value=self._checker.in_progress,
        )
        yield CounterMetricFamily(
            "whisper_api_upload_checker_restarts",
            "Upload checker processes started again after one died or overran its time limit",
            value=self._checker.restarts,
        )

"""Tells the world about job changes: Server-Sent Events to watching clients, the callback URL
of a job that ended, the metrics, and readiness (which the decoder's state moves)."""

from __future__ import annotations

from typing import Any

from decoder.wire.protocol import DecoderStatus, ModelLoaded, ModelUnloaded, TaskProgress, TaskStarted
from whisper_api.jobs.dispatch.decoder_client import DecoderEvent, DecoderExited
from whisper_api.jobs.dispatch.pool import DecoderSlot
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.news.hub import PROGRESS, EventHub
from whisper_api.jobs.news.metrics import Metrics
from whisper_api.jobs.news.readiness import Readiness
from whisper_api.jobs.news.webhooks import WebhookSender
from whisper_api.jobs.views import Standing, task_json

STATUS = "status"
POSITION = "position"
# Segments decoded since the last ones: {"task_id", "first": index of the first, "segments": [...]}.
SEGMENTS = "segments"
# The status a watcher is told last when the job it watches was cancelled and deleted.
CANCELLED = "cancelled"


class Notifier:
    """The tracker's JobListener."""

    def __init__(
        self,
        hub: EventHub,
        webhooks: WebhookSender,
        metrics: Metrics,
        standing: Standing,
        readiness: Readiness,
    ) -> None:
        self._hub = hub
        self._webhooks = webhooks
        self._metrics = metrics
        self._standing = standing
        self._readiness = readiness

    def job_changed(self, job: Job, progressed: bool) -> None:
        snapshot = self._publish(job, progressed)
        if job.done and not progressed:
            self._metrics.job_ended(job)
            if job.callback_url:
                self._webhooks.send(job.callback_url, snapshot, task_id=job.task_id)

    def watches(self, task_id: str) -> bool:
        return self._hub.watched(task_id)

    def job_seen(self, job: Job, progressed: bool) -> None:
        """Another host's job: its watchers here hear of it; its host calls back and counts it."""
        self._publish(job, progressed)

    def _publish(self, job: Job, progressed: bool) -> dict[str, Any]:
        snapshot = task_json(job, self._standing)
        self._hub.publish(job.task_id, PROGRESS if progressed else STATUS, snapshot)
        if job.status is JobStatus.PROCESSING and not progressed:
            self.queue_moved()  # every waiting task moved up one place
        return snapshot

    def queue_moved(self) -> None:
        for task_id, position in self._standing.waiting_positions():
            self._hub.publish(task_id, POSITION, {"task_id": task_id, "position_in_queue": position})

    def job_cancelled(self, task_id: str) -> None:
        self._hub.publish(task_id, STATUS, {"task_id": task_id, "status": CANCELLED})

    def decoder_changed(self, slot: DecoderSlot, event: DecoderEvent) -> None:
        if isinstance(event, TaskStarted):
            self._metrics.decoder_tasks.labels(str(slot.index)).inc()
        elif isinstance(event, TaskProgress) and event.segments:
            segments = [{"start": s.start, "end": s.end, "text": s.text} for s in event.segments]
            data = {"task_id": event.task_id, "first": event.first_segment, "segments": segments}
            self._hub.publish(event.task_id, SEGMENTS, data)
        elif isinstance(event, ModelLoaded | ModelUnloaded):
            self._metrics.model_changed(event)
        elif isinstance(event, DecoderStatus | DecoderExited):
            self._readiness.update()

"""Tells the world about job changes: Server-Sent Events to watching clients, the callback URL
of a job that ended, and the metrics."""

from __future__ import annotations

from whisper_api.api.events import PROGRESS, EventHub
from whisper_api.api.metrics import Metrics
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.tracker import TaskTracker
from whisper_api.jobs.webhooks import WebhookSender
from whisper_api.outputs.views import task_json

STATUS = "status"
POSITION = "position"
# The status a watcher is told last when the job it watches was cancelled and deleted.
CANCELLED = "cancelled"


class Notifier:
    def __init__(self, hub: EventHub, webhooks: WebhookSender, metrics: Metrics) -> None:
        self.hub = hub
        self.webhooks = webhooks
        self.metrics = metrics
        self._tracker: TaskTracker | None = None

    def attach(self, tracker: TaskTracker) -> None:
        """The tracker reports to the notifier, and the notifier reads positions from it."""
        self._tracker = tracker

    def job_changed(self, job: Job, progressed: bool) -> None:
        tracker = self._tracker
        assert tracker is not None
        snapshot = task_json(job, tracker)
        self.hub.publish(job.task_id, PROGRESS if progressed else STATUS, snapshot)
        if progressed:
            return
        if job.status is JobStatus.PROCESSING:
            # Every waiting task moved up one place.
            for position, task_id in enumerate(tracker.waiting_ids()):
                self.hub.publish(task_id, POSITION, {"task_id": task_id, "position_in_queue": position})
        if job.done:
            self.metrics.job_ended(job)
            if job.callback_url:
                self.webhooks.send(job.callback_url, snapshot, task_id=job.task_id)

    def job_cancelled(self, task_id: str) -> None:
        self.hub.publish(task_id, STATUS, {"task_id": task_id, "status": CANCELLED})

"""Applies the decoder's reports to the job store and answers where a job stands in the queue."""

from __future__ import annotations

import logging

from decoder.protocol import DecoderStatus, FromDecoder, TaskFailed, TaskFinished, TaskStarted
from whisper_api.jobs import Job, JobStatus, JobStore

log = logging.getLogger(__name__)


class TaskTracker:
    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs
        # The decoder's queue as it last reported it, next task first.
        self._decoder_queue: tuple[str, ...] = ()

    def handle(self, message: FromDecoder) -> None:
        if isinstance(message, DecoderStatus):
            self._decoder_queue = message.queued_task_ids
            return
        if not isinstance(message, TaskStarted | TaskFinished | TaskFailed):
            return
        job = self.jobs.get(message.task_id)
        if job is None:
            log.warning("decoder reported on unknown task %s", message.task_id)
            return
        if isinstance(message, TaskStarted):
            job.status = JobStatus.PROCESSING
            job.started_at = message.started_at
            job.target_model_size = message.target_model_size
            self._decoder_queue = tuple(i for i in self._decoder_queue if i != job.task_id)
        elif isinstance(message, TaskFinished):
            job.status = JobStatus.FINISHED
            job.transcript = message.text
            job.source_language = message.language
            job.segments = message.segments
            job.target_model_size = message.target_model_size
            job.used_model_size = message.used_model_size
            job.used_device = message.used_device
            job.started_at, job.finished_at = message.started_at, message.finished_at
            self.jobs.finish(job)
        else:
            job.status = JobStatus.FAILED
            job.error = message.reason
            job.finished_at = message.finished_at
            self.jobs.finish(job)

    def position(self, job: Job) -> int | None:
        """0-based place in the queue of a pending job (0 runs next), None once it runs.

        The decoder owns the queue; jobs it has not acknowledged yet follow its report in
        upload order, which is the order they were sent in.
        """
        if job.status is not JobStatus.PENDING:
            return None
        if job.task_id in self._decoder_queue:
            return self._decoder_queue.index(job.task_id)
        reported = set(self._decoder_queue)
        unacknowledged = [j.task_id for j in self.jobs.pending() if j.task_id not in reported]
        return len(self._decoder_queue) + unacknowledged.index(job.task_id)

    def queued_count(self) -> int:
        return sum(1 for _ in self.jobs.pending())

"""What the tracker (whisper_api.jobs.tracker.task_tracker) tells and answers: the listener it reports its
changes to, what a cancellation came to, and the clients waiting for a job's end."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Protocol

from whisper_api.jobs.dispatch.decoder_client import DecoderEvent
from whisper_api.jobs.dispatch.pool import DecoderSlot
from whisper_api.jobs.job import Job, JobStore


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"  # it was waiting
    DELETED = "deleted"  # it had ended
    CANCELLING = "cancelling"  # it is decoding; the decoder stops it within seconds


class JobListener(Protocol):
    """Who hears of the tracker's changes (whisper_api.jobs.news.notifier); called on the loop thread."""

    def job_changed(self, job: Job, progressed: bool) -> None:
        """A job started or ended, or (progressed=True) decoded further."""

    def job_cancelled(self, task_id: str) -> None:
        """A cancelled job is gone: its watchers stop waiting."""

    def decoder_changed(self, slot: DecoderSlot, event: DecoderEvent) -> None:
        """Every message of a decoder (its status, its model, ...) and its exit."""

    def job_seen(self, job: Job, progressed: bool) -> None:
        """Another host's job started, ended or decoded further: only watchers here want to know."""

    def queue_moved(self) -> None:
        """The queue moved (another host queued, claimed or started a job): the watchers of
        waiting tasks hear their places."""

    def watches(self, task_id: str) -> bool:
        """Whether a client here follows the task: only then is another host's progress of it
        worth reading the job for."""


class EndWaiters:
    """Clients waiting for jobs to end (the OpenAI routes answer with the transcript)."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[Job | None]]] = {}

    async def wait(self, task_id: str, store: JobStore) -> Job | None:
        """The job once it has ended (None if it was cancelled or expired first)."""
        waiter: asyncio.Future[Job | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(task_id, []).append(waiter)
        job = await store.get(task_id)
        if job is None or job.done:
            self._waiting[task_id].remove(waiter)
            return job
        return await waiter

    def awaits(self, task_id: str) -> bool:
        """Whether a client here waits for the job's end."""
        return bool(self._waiting.get(task_id))

    def wake(self, task_id: str, job: Job | None) -> None:
        for waiter in self._waiting.pop(task_id, []):
            if not waiter.done():
                waiter.set_result(job)

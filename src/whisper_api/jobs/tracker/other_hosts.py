"""What this host does with the other hosts' news (whisper_api.jobs.tracker.sharing): a job
queued, started, decoded further or ended there, or a cancel that the decoder here must carry
out. Jobs are read again from the store: news says only which one changed; and only where a
client here follows the job's events, or waits for its end (the OpenAI routes). A decode's
progress is heard only where a client follows the job."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from decoder.wire.protocol import TaskProgress
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.errors import StoreUnavailable
from whisper_api.jobs.job import JobStore
from whisper_api.jobs.tracker.sharing import Kind, News
from whisper_api.jobs.tracker.tracking import EndWaiters, JobListener


class OtherHosts:
    def __init__(
        self,
        store: JobStore,
        queue: JobQueue,
        listener: JobListener,
        waiters: EndWaiters,
        dispatch: Callable[[], None],
        stop_soon: Callable[[str], None],
    ) -> None:
        self._store = store
        self._queue = queue
        self._listener = listener
        self._waiters = waiters
        self._dispatch = dispatch
        self._stop_soon = stop_soon

    async def heard(self, news: News) -> None:
        """Act on what another host said (a QUEUE message: free decoders here may claim, and
        watchers here hear their places)."""
        if news.kind is Kind.QUEUE:
            self._listener.queue_moved()
            self._dispatch()
        elif news.kind is Kind.CANCEL:
            self._stop_soon(news.task_id)
        elif news.kind is Kind.CANCELLED:
            self._listener.job_cancelled(news.task_id)
            self._waiters.wake(news.task_id, None)
        else:
            if news.kind is Kind.PROGRESS:
                progress = TaskProgress(news.task_id, news.decoded_s, news.duration_s, stage=news.stage)
                self._queue.record_progress(progress, time.monotonic())
                if not self._listener.watches(news.task_id):
                    # Its watcher left since: the status answers here have it now.
                    return
            elif not (self._listener.watches(news.task_id) or self._waiters.awaits(news.task_id)):
                # Started or ended elsewhere, and nobody here asked: not read (every host, twice
                # for every task). What this host noted of its progress goes.
                self._queue.ended(news.task_id)
                return
            with contextlib.suppress(StoreUnavailable):
                job = await self._store.get(news.task_id)
                if job is not None:
                    self._listener.job_seen(job, news.kind is Kind.PROGRESS)
                    if job.done:
                        self._queue.ended(job.task_id)
                        self._waiters.wake(job.task_id, job)

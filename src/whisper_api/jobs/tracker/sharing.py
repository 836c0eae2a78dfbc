"""Several hosts on one queue: with DATABASE_URL the PostgreSQL store is the queue, and NOTIFY
carries the hosts' news to each other.

    host A ── claim, renew, release ──>  PostgreSQL  <── claim, renew, release ── host B
           <──── NOTIFY: queue, job, cancel, cancelled, workers (who, which task) ────>
           ───── NOTIFY on the task's own channel: progress ────> hosts watching the task

SharedQueue is the tracker's side of it (whisper_api.jobs.tracker.task_tracker): it claims jobs for the
host's free decoders, renews the leases of the jobs they hold, keeps where the queue stands
(whisper_api.jobs.tracker.standing: its length, its head, the watched jobs' places) fresh from
the database whenever a host says the queue moved and every few seconds (a lost message, or a
host that disappeared without a word, costs at most that long), and hands the other hosts' news
to the tracker. A message is small: which task, and what happened; the receiver reads the job.

Messages are hints, never the only way news travels: each is its own statement, outside any
job's transaction; a burst of queue news is sent as one message and read as one refresh; and
the hosts' regular looks, a few times a lease and spread by jitter so that hosts started
together do not look together, make good a message lost.

A decode's progress goes out every PROGRESS_NEWS_EVERY_S at most, into the job's row (for a
status answer on any host, read only when a client asks: whisper_api.jobs.tracker.standing) and
on the task's own channel, which a host listens to only while a client there follows the task's
events: the other hosts never hear it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum

from decoder.wire.protocol import STAGES
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.errors import StoreUnavailable
from whisper_api.jobs.job import Job
from whisper_api.jobs.store.postgres import PostgresJobStore, task_channel
from whisper_api.jobs.tracker.standing import ClusterStanding
from whisper_api.jobs.tracker.workers import ClusterWorkers

log = logging.getLogger(__name__)

# How soon a host listens again after its notification connection broke.
LISTEN_RETRY_S = 1.0
# How far a host's regular look at the queue strays from a third of a lease, either way.
LOOK_JITTER = 0.2
# A decode's progress goes to the other hosts at most this often (its end always): they show it
# in status answers and to their watchers, who need no finer steps.
PROGRESS_NEWS_EVERY_S = 2.0


class Kind(StrEnum):
    QUEUE = "queue"  # jobs were added, claimed or released: look at the queue again
    JOB = "job"  # a job started or ended
    PROGRESS = "progress"  # a job decoded further
    CANCEL = "cancel"  # stop this job, whichever host decodes it
    CANCELLED = "cancelled"  # a cancelled job is gone
    WORKERS = "workers"  # a host that decodes started or stopped: look at the workers again


@dataclass(frozen=True)
class News:
    kind: Kind
    task_id: str = ""
    decoded_s: float = 0.0
    duration_s: float = 0.0
    stage: str = STAGES[0]
    host: str = ""


class SharedQueue:
    def __init__(
        self,
        store: PostgresJobStore,
        queue: JobQueue,
        standing: ClusterStanding,
        workers: ClusterWorkers,
        lease_s: float,
    ) -> None:
        self.store = store
        self.host = store.host
        self._queue = queue
        self.standing = standing
        self.workers = workers
        self._lease_s = lease_s
        # Set when a task gains its first watcher here or loses its last: listen again.
        self._watching_changed = asyncio.Event()
        self._on_news: Callable[[News], None] = lambda news: None
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: set[asyncio.Task[None]] = set()
        # The refresh of the queue under way, and whether more news came while it ran.
        self._refreshing: asyncio.Task[None] | None = None
        self._stale = False
        # Queue news not sent yet: more of it meanwhile goes in the same message.
        self._queue_news_due = False
        # When each decode here last told its progress (monotonic seconds).
        self._progress_told: dict[str, float] = {}

    async def start(self, on_news: Callable[[News], None]) -> None:
        """Read the queue, then listen to the other hosts and renew leases until closed."""
        self._on_news = on_news
        await self.standing.refresh()
        with contextlib.suppress(StoreUnavailable):
            await self.workers.beat()
            await self.workers.look()
        self.tell(News(Kind.WORKERS))
        self._tasks = [
            asyncio.create_task(self._listen(), name="shared-queue-listen"),
            asyncio.create_task(self._keep_up(), name="shared-queue-leases"),
        ]

    async def close(self) -> None:
        """Stop listening and renewing, and give back the claims of jobs not started here."""
        for task in [*self._tasks, *self._sending]:
            task.cancel()
        for task in [*self._tasks, *self._sending]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(StoreUnavailable):
            await self.store.let_go()
            await self.workers.retire()
        self.tell(News(Kind.QUEUE))
        self.tell(News(Kind.WORKERS))
        await asyncio.gather(*self._sending)

    async def claim(self) -> Job | None:
        return await self.store.claim(self._lease_s, self._queue.held_ids())

    async def release(self, job: Job) -> None:
        await self.store.release(job)
        self.tell(News(Kind.QUEUE))

    def watching_changed(self) -> None:
        """A task gained its first watcher here, or lost its last: its progress is heard here
        from now on, or no longer."""
        self._watching_changed.set()

    def tell(self, news: News) -> None:
        """Tell every host (this one included, for QUEUE and JOB), or for PROGRESS the hosts
        that watch the task, without waiting; a message lost to a database outage is made good
        by the hosts' regular look at the queue."""
        if news.kind is Kind.QUEUE:
            if self._queue_news_due:
                return
            self._queue_news_due = True
        elif news.kind is Kind.PROGRESS:
            now, last = time.monotonic(), self._progress_told.get(news.task_id)
            if last is not None and now - last < PROGRESS_NEWS_EVERY_S and news.decoded_s < news.duration_s:
                return
            self._progress_told[news.task_id] = now
        elif news.kind is Kind.JOB:
            self._progress_told.pop(news.task_id, None)
        self._track(asyncio.create_task(self._send(news)))

    def _track(self, task: asyncio.Task[None]) -> None:
        """Keep a background step until it is done (and cancel it on close)."""
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, news: News) -> None:
        if news.kind is Kind.QUEUE:
            self._queue_news_due = False
        payload = json.dumps({**asdict(news), "host": self.host})
        with contextlib.suppress(StoreUnavailable):
            if news.kind is Kind.PROGRESS:
                progress = self._queue.progress(news.task_id)
                if progress is not None:
                    await self.store.note_progress(news.task_id, progress)
                await self.store.db.notify(payload, task_channel(news.task_id))
            else:
                await self.store.db.notify(payload)

    async def _listen(self) -> None:
        deaf = False  # logged once per outage, not at every try
        while True:
            try:
                notifications = self.store.db.notifications(self.standing.watched, self._watching_changed)
                async for payload in notifications:
                    if deaf and not payload:
                        log.info("hearing the other hosts again")
                        deaf = False
                    self._heard(News(Kind.QUEUE) if not payload else _news(payload))
            except StoreUnavailable as exc:
                if not deaf:
                    log.warning("not hearing the other hosts: %s", exc)
                deaf = True
            await asyncio.sleep(LISTEN_RETRY_S)

    def _heard(self, news: News) -> None:
        if news.kind in (Kind.QUEUE, Kind.JOB) and self.standing.watching():
            # A job queued, claimed, released, started or ended: the places of those behind it
            # moved, which watchers here are told once they are read again.
            self._refresh_soon()
        elif news.kind is Kind.QUEUE:
            # Free decoders here may claim. Nothing is read: the queue limit counts for itself,
            # and /metrics is told at the next regular look.
            self._on_news(news)
        if news.kind is Kind.WORKERS:
            self._track(asyncio.create_task(self._look_at_workers()))
        elif news.kind is not Kind.QUEUE and news.host != self.host:
            self._on_news(news)

    async def _look_at_workers(self) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self.workers.look()

    def _refresh_soon(self) -> None:
        """One refresh at a time: a burst of queue news (fifty uploads) costs one more look at
        where the queue stands, not one each."""
        if self._refreshing is not None and not self._refreshing.done():
            self._stale = True
            return
        self._refreshing = asyncio.create_task(self._refreshed())
        self._track(self._refreshing)

    async def _refreshed(self) -> None:
        while True:
            self._stale = False
            with contextlib.suppress(StoreUnavailable):
                await self.standing.refresh()
                self._on_news(News(Kind.QUEUE))
            if not self._stale:
                return

    async def _keep_up(self) -> None:
        """Renew the leases of the jobs this host holds, say how its decoders are, and look at the
        queue and the workers, a few times a lease."""
        while True:
            await asyncio.sleep(self._lease_s / 3 * random.uniform(1 - LOOK_JITTER, 1 + LOOK_JITTER))
            with contextlib.suppress(StoreUnavailable):
                held = self._queue.held_ids()
                if held:
                    await self.store.renew(held, self._lease_s)
                await self.workers.beat()
                await self.workers.look()
                await self.standing.refresh()
                self._on_news(News(Kind.QUEUE))


def _news(payload: str) -> News:
    fields = json.loads(payload)
    return News(Kind(fields.pop("kind")), **fields)

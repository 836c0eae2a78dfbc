"""Decoder supervision: starting a decoder, restarting a dead one with a backoff, a watchdog
that notices a decoder that stops answering while it has work and kills it (so that it is
restarted), and the rules for the jobs a dead decoder leaves behind. Each decoder of the pool
(whisper_api.jobs.dispatch.pool) has its own supervisor.

The rules are pure: `fate_after_crash` judges the job in hand when its decoder died, and
`fate_on_requeue` each unfinished job when a new decoder (or a new server) starts. A job is
retried once; a second crash or interruption on the same file fails it, so that a file that
takes the decoder down cannot do so for ever. The tracker applies the verdicts.

The decoder's pipe reader answers a Ping at once, whatever the model is doing, so a
decoder that leaves one unanswered is stopped (SIGSTOP), hung, or so starved that it is no use.
While it has work the watchdog keeps one such ping outstanding. Unanswered for half of
DECODER_WATCHDOG_S, the decoder counts as unresponsive (/readyz says so); unanswered for all of
it, the decoder is killed, and restarted under the same rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from decoder.wire.protocol import Ping
from whisper_api.jobs.dispatch.decoder_client import DecoderClient, DecoderEvent, DecoderExited
from whisper_api.jobs.errors import DecoderUnavailable
from whisper_api.jobs.job import Job, JobStatus

log = logging.getLogger(__name__)

# A decoder that dies sooner than this after its start counts as failing to start.
STABLE_AFTER_S = 10.0
MAX_RESTART_DELAY_S = 30.0
CRASHED_TWICE = "the decoder crashed twice on this file"
INTERRUPTED_TWICE = "decoding this file was interrupted twice by a stop of the server"


class Action(Enum):
    KEEP = "keep"  # leave it as it is
    REQUEUE = "requeue"  # it was decoding: it waits again, in its upload place, for a free decoder
    DROP = "drop"  # it was cancelled while it decoded: delete it
    FAIL = "fail"  # it took a decoder down twice: it ends, failed


@dataclass(frozen=True)
class Fate:
    action: Action
    reason: str | None = None


def fate_after_crash(job: Job) -> Fate:
    """What becomes of the job in hand when its decoder died."""
    if job.cancel_requested:
        return Fate(Action.DROP)
    if job.attempts >= 2:
        return Fate(Action.FAIL, CRASHED_TWICE)
    return Fate(Action.REQUEUE)


def fate_on_requeue(job: Job) -> Fate:
    """What becomes of an unfinished job when the server starts."""
    if job.cancel_requested:
        # Cancelled while it decoded, and the decoder or the server went down meanwhile.
        return Fate(Action.DROP)
    if job.status is JobStatus.PROCESSING and job.attempts >= 2:
        return Fate(Action.FAIL, INTERRUPTED_TWICE)
    if job.status is JobStatus.PROCESSING:
        return Fate(Action.REQUEUE)
    return Fate(Action.KEEP)


EventHandler = Callable[[DecoderEvent], None]


class DecoderSupervisor:
    """Keeps one decoder running: starts it, restarts it with a backoff, and watches it."""

    def __init__(
        self,
        decoder: DecoderClient,
        start_timeout_s: float,
        watchdog_s: float,
        has_work: Callable[[], bool],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.decoder = decoder
        self._sleep = sleep
        self._start_timeout_s = start_timeout_s
        self.watchdog = DecoderWatchdog(decoder, has_work, watchdog_s)
        self.restarts = 0
        self._restarter: asyncio.Task[None] | None = None
        self._on_event: EventHandler = lambda event: None

    @property
    def restarting(self) -> bool:
        return self._restarter is not None and not self._restarter.done()

    async def start(self, on_event: EventHandler) -> None:
        """Start the decoder, whose messages (and exit) go to `on_event`, and watch it."""
        self._on_event = on_event
        await self.decoder.start(self._start_timeout_s, on_event)
        self.watchdog.start()

    def is_current(self, exited: DecoderExited) -> bool:
        """Whether this is the exit of the latest decoder (not of one that never came up)."""
        return exited.pid == self.decoder.last_pid

    def restart(self, when_up: Callable[[], None]) -> None:
        """Start a new decoder in the background, unless one is on its way; then `when_up()`."""
        if not self.restarting:
            self._restarter = asyncio.create_task(self._restart(when_up), name="decoder-restart")

    async def _restart(self, when_up: Callable[[], None]) -> None:
        await restart_until_up(self.decoder, self._start_timeout_s, self._on_event, self._sleep)
        self.restarts += 1
        log.info("decoder restarted (pid %s)", self.decoder.pid)
        when_up()

    async def close(self) -> None:
        await self.watchdog.close()
        if self._restarter is not None:
            self._restarter.cancel()


async def restart_until_up(
    decoder: DecoderClient,
    start_timeout_s: float,
    on_event: EventHandler,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Start decoders until one comes up, backing off while they keep dying at once."""
    delay = 0.0
    last_start = decoder.started_at or 0.0
    while True:
        if time.monotonic() - last_start < STABLE_AFTER_S:
            delay = min(MAX_RESTART_DELAY_S, max(1.0, delay * 2))
            await sleep(delay)
        last_start = time.monotonic()
        try:
            await decoder.start(start_timeout_s, on_event)
            return
        except DecoderUnavailable as exc:
            log.error("restarting the decoder failed: %s", exc)


class DecoderWatchdog:
    def __init__(self, decoder: DecoderClient, has_work: Callable[[], bool], timeout_s: float) -> None:
        self._decoder = decoder
        self._has_work = has_work
        self._timeout_s = timeout_s
        # When the outstanding ping was sent; None when none is.
        self._ping_sent: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.kills = 0

    @property
    def unresponsive(self) -> bool:
        return self._unanswered_for() > self._timeout_s / 2

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="decoder-watchdog")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _unanswered_for(self) -> float:
        if self._ping_sent is None or self._decoder.last_heard >= self._ping_sent:
            return 0.0
        return time.monotonic() - self._ping_sent

    async def _watch(self) -> None:
        interval = min(1.0, self._timeout_s / 4)
        while True:
            await asyncio.sleep(interval)
            self.check()

    def check(self) -> None:
        """One look: ping the decoder if it has work, kill it if it left the ping unanswered."""
        if not self._decoder.running or not self._has_work():
            self._ping_sent = None
            return
        silent = self._unanswered_for()
        if silent > self._timeout_s:
            log.error(
                "the decoder (pid %s) has not answered for %.0f s while it has work: killing it",
                self._decoder.pid,
                silent,
            )
            self.kills += 1
            self._ping_sent = None
            self._decoder.kill()
        elif silent == 0.0:
            self._ping_sent = time.monotonic()
            with contextlib.suppress(DecoderUnavailable):
                self._decoder.send(Ping())

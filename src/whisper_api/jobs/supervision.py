"""Decoder supervision: restarting a dead decoder with a backoff, and a watchdog that notices a
decoder that stops answering while it has work and kills it, so that it is restarted.

The decoder's pipe reader answers a Ping at once, whatever the model is doing, so a
decoder that leaves one unanswered is stopped (SIGSTOP), hung, or so starved that it is no use.
While it has work the watchdog keeps one such ping outstanding. Unanswered for half of
DECODER_WATCHDOG_S, the decoder counts as unresponsive (/readyz says so); unanswered for all of
it, the decoder is killed with its process group, and the tracker restarts it under the usual
rules (its task is retried once; a second crash on the same file fails it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from decoder.protocol import Ping
from whisper_api.jobs.decoder_client import DecoderClient, DecoderUnavailable

log = logging.getLogger(__name__)

# A decoder that dies sooner than this after its start counts as failing to start.
STABLE_AFTER_S = 10.0
MAX_RESTART_DELAY_S = 30.0


async def restart_until_up(decoder: DecoderClient, start_timeout_s: float) -> None:
    """Start decoders until one comes up, backing off while they keep dying at once."""
    delay = 0.0
    last_start = decoder.started_at or 0.0
    while True:
        if time.monotonic() - last_start < STABLE_AFTER_S:
            delay = min(MAX_RESTART_DELAY_S, max(1.0, delay * 2))
            await asyncio.sleep(delay)
        last_start = time.monotonic()
        try:
            await decoder.start(start_timeout_s)
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

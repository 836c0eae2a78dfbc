"""The front end's end of the pipe: starts the decoder process and relays its messages.

A reader thread blocks on the pipe and hands every message to the event loop, so that all
job state changes happen on the loop thread and the HTTP side never waits on the decoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Any

from decoder.protocol import (
    DecoderConfig,
    DecoderReady,
    DecoderStatus,
    FromDecoder,
    RequestStatus,
    Shutdown,
    SubmitTask,
)

log = logging.getLogger(__name__)

DecoderTarget = Callable[[Connection, "Queue[Any]", DecoderConfig], None]


class DecoderUnavailable(Exception):
    """The decoder process did not start, or is gone."""


class DecoderClient:
    def __init__(
        self,
        config: DecoderConfig,
        log_queue: Queue[Any],
        on_message: Callable[[FromDecoder], None],
        target: DecoderTarget,
    ) -> None:
        self._config = config
        self._log_queue = log_queue
        self._on_message = on_message
        self._target = target
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Future[DecoderReady] | None = None
        self._status_waiters: list[asyncio.Future[DecoderStatus]] = []
        self.ready: DecoderReady | None = None
        self.status: DecoderStatus | None = None
        self.status_received_at: float | None = None
        self._stopping = False

    async def start(self, timeout_s: float) -> DecoderReady:
        self._loop = asyncio.get_running_loop()
        self._ready = self._loop.create_future()
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        self._process = context.Process(
            target=self._target, args=(child_end, self._log_queue, self._config), name="decoder"
        )
        self._process.start()
        child_end.close()
        self._conn = parent_end
        threading.Thread(target=self._read_pipe, args=(parent_end,), name="decoder-pipe", daemon=True).start()
        try:
            self.ready = await asyncio.wait_for(self._ready, timeout_s)
        except (TimeoutError, EOFError) as exc:
            await self.stop(timeout_s=1)
            raise DecoderUnavailable(f"the decoder process did not start within {timeout_s:.0f} s") from exc
        return self.ready

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def submit(self, task: SubmitTask) -> None:
        self._send(task)

    async def refresh_status(self, timeout_s: float) -> DecoderStatus:
        """Ask the decoder for its state and wait for the answer."""
        assert self._loop is not None
        waiter: asyncio.Future[DecoderStatus] = self._loop.create_future()
        self._status_waiters.append(waiter)
        self._send(RequestStatus())
        try:
            return await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError as exc:
            raise DecoderUnavailable(f"the decoder did not answer within {timeout_s:.0f} s") from exc
        finally:
            if waiter in self._status_waiters:
                self._status_waiters.remove(waiter)

    async def stop(self, timeout_s: float) -> None:
        """Ask the decoder to exit after its current task; kill it if it overstays."""
        process = self._process
        if process is None:
            return
        self._stopping = True
        with contextlib.suppress(DecoderUnavailable):
            self._send(Shutdown())
        await asyncio.to_thread(process.join, timeout_s)
        if process.is_alive():
            log.warning("decoder did not exit within %.0f s, terminating it", timeout_s)
            process.terminate()
            await asyncio.to_thread(process.join, 5)
        if self._conn is not None:
            self._conn.close()
        self._process = None

    def _send(self, message: SubmitTask | RequestStatus | Shutdown) -> None:
        if self._conn is None:
            raise DecoderUnavailable("the decoder is not running")
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:
            raise DecoderUnavailable("the decoder process is gone") from exc

    def _read_pipe(self, conn: Connection) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                self._call_on_loop(self._on_pipe_closed)
                return
            self._call_on_loop(self._dispatch, message)

    def _call_on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        # A closed loop raises RuntimeError: the server has shut down and nobody is listening.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    def _dispatch(self, message: FromDecoder) -> None:
        if isinstance(message, DecoderReady):
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(message)
        elif isinstance(message, DecoderStatus):
            self.status, self.status_received_at = message, time.time()
            for waiter in self._status_waiters:
                if not waiter.done():
                    waiter.set_result(message)
        self._on_message(message)

    def _on_pipe_closed(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(EOFError("decoder pipe closed"))
        if not self._stopping:
            log.error("the decoder process exited unexpectedly")

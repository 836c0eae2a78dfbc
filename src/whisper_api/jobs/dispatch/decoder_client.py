"""The front end's end of one decoder's pipe: starts the process and relays its messages.

A reader thread blocks on the pipe and hands every message to the event loop, so that all
job state changes happen on the loop thread. A writer thread sends what the loop hands it, so
that a decoder that stops reading (stopped, hung, or slow with a full pipe) never blocks the
event loop. When the process ends, for whatever reason, the handler receives DecoderExited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Any

from decoder.wire.protocol import (
    DecoderConfig,
    DecoderReady,
    DecoderStatus,
    FromDecoder,
    ModelFailed,
    ModelLoaded,
    ModelsAvailable,
    RequestStatus,
    Shutdown,
    ToDecoder,
)
from whisper_api.jobs.errors import DecoderUnavailable

log = logging.getLogger(__name__)

DecoderTarget = Callable[[Connection, "Queue[Any]", DecoderConfig], None]
# How often the log forwarder checks whether its decoder is still alive.
LOG_POLL_S = 0.5


@dataclass(frozen=True)
class DecoderExited:
    """The decoder process ended (the front end's own event, never sent over the pipe)."""

    pid: int | None
    exitcode: int | None


DecoderEvent = FromDecoder | DecoderExited


class DecoderClient:
    def __init__(
        self,
        config: DecoderConfig,
        log_records: queue.SimpleQueue[logging.LogRecord],
        target: DecoderTarget,
        name: str = "decoder",
    ) -> None:
        self._config = config
        # The process's name, which its log records carry.
        self.name = name
        self._log_records = log_records
        self._on_event: Callable[[DecoderEvent], None] = lambda event: None
        self._target = target
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Future[DecoderReady] | None = None
        self._status_waiters: list[asyncio.Future[DecoderStatus]] = []
        self.ready: DecoderReady | None = None
        self.status: DecoderStatus | None = None
        self.status_received_at: float | None = None
        self.started_at: float | None = None
        # The pid of the latest decoder, kept after it ended, to tell its exit from older ones.
        self.last_pid: int | None = None
        # The process stop() is ending: its exit is expected and is not reported.
        self._stopping: BaseProcess | None = None
        # Messages for the writer thread of the running decoder.
        self._outbox: queue.SimpleQueue[ToDecoder | None] | None = None
        # Monotonic time of the last message from the decoder, for the watchdog.
        self.last_heard = 0.0
        # When each model it has held was last used (epoch seconds), kept after it unloads, and
        # why a model the operator asked for did not load.
        self.models_used_at: dict[str, float] = {}
        self.model_failures: dict[str, str] = {}

    async def start(self, timeout_s: float, on_event: Callable[[DecoderEvent], None]) -> DecoderReady:
        """Spawn a decoder process (again, after one ended) and wait for its DecoderReady; its
        messages, and at the end DecoderExited, go to `on_event` on the event loop thread."""
        self._on_event = on_event
        self._loop = asyncio.get_running_loop()
        self._ready = self._loop.create_future()
        self.ready, self.status = None, None
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        # A new queue for every process: one killed mid-write can only break its own queue.
        decoder_logs: Queue[logging.LogRecord] = context.Queue()
        process = context.Process(
            target=self._target, args=(child_end, decoder_logs, self._config), name=self.name
        )
        process.start()
        child_end.close()
        threading.Thread(
            target=self._forward_logs, args=(decoder_logs, process), name="decoder-logs", daemon=True
        ).start()
        self._conn, self._process, self.started_at = parent_end, process, time.monotonic()
        self.last_pid, self.last_heard = process.pid, time.monotonic()
        threading.Thread(
            target=self._read_pipe, args=(parent_end, process), name="decoder-pipe", daemon=True
        ).start()
        self._outbox = queue.SimpleQueue()
        threading.Thread(
            target=self._write_pipe, args=(parent_end, self._outbox), name="decoder-send", daemon=True
        ).start()
        try:
            self.ready = await asyncio.wait_for(self._ready, timeout_s)
        except (TimeoutError, EOFError) as exc:
            await self.stop(timeout_s=1)
            raise DecoderUnavailable(f"the decoder process did not start within {timeout_s:.0f} s") from exc
        return self.ready

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self.ready is not None and self._conn is not None

    def send(self, message: ToDecoder) -> None:
        """Queue a message for the decoder; returns at once, however full the pipe is."""
        if self._conn is None or self._outbox is None:
            raise DecoderUnavailable("the decoder is not running")
        self._outbox.put(message)

    def kill(self) -> None:
        """SIGKILL the decoder; DecoderExited follows."""
        process = self._process
        if process is not None:
            process.kill()

    async def refresh_status(self, timeout_s: float) -> DecoderStatus:
        """Ask the decoder for its state and wait for the answer."""
        assert self._loop is not None
        waiter: asyncio.Future[DecoderStatus] = self._loop.create_future()
        self._status_waiters.append(waiter)
        try:
            self.send(RequestStatus())
            return await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError as exc:
            raise DecoderUnavailable(f"the decoder did not answer within {timeout_s:.0f} s") from exc
        finally:
            self._status_waiters.remove(waiter)

    async def stop(self, timeout_s: float) -> None:
        """Ask the decoder to exit after its current task; kill it if it overstays."""
        process = self._process
        if process is None:
            return
        self._stopping = process
        with contextlib.suppress(DecoderUnavailable):
            self.send(Shutdown())
        await asyncio.to_thread(process.join, timeout_s)
        if process.is_alive():
            log.warning("decoder did not finish within %.0f s, killing it", timeout_s)
            process.kill()
            await asyncio.to_thread(process.join, 5)
        self._forget(process)

    def _forget(self, process: BaseProcess) -> None:
        if self._process is process:
            if self._outbox is not None:
                self._outbox.put(None)
            if self._conn is not None:
                self._conn.close()
            self._conn, self._process, self.ready, self._outbox = None, None, None, None

    def _read_pipe(self, conn: Connection, process: BaseProcess) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            self._call_on_loop(self._dispatch, message)
        # The pipe closes when the process ends; wait for its exit code off the event loop.
        process.join(timeout=10)
        self._call_on_loop(self._on_exit, process)

    def _write_pipe(self, conn: Connection, outbox: queue.SimpleQueue[ToDecoder | None]) -> None:
        while (message := outbox.get()) is not None:
            try:
                conn.send(message)
            except (OSError, ValueError):
                return  # the decoder is gone; the reader reports its exit

    def _forward_logs(self, decoder_logs: Queue[logging.LogRecord], process: BaseProcess) -> None:
        """Move the decoder's log records to the front end's queue until the process is gone."""
        while True:
            try:
                self._log_records.put(decoder_logs.get(timeout=LOG_POLL_S))
            except queue.Empty:
                if not process.is_alive():
                    break
            except (EOFError, OSError, ValueError):
                break  # a record cut off by a killed process: nothing more will come
        decoder_logs.close()
        decoder_logs.cancel_join_thread()

    def _call_on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        # A closed loop raises RuntimeError: the server has shut down and nobody is listening.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    def _dispatch(self, message: FromDecoder) -> None:
        self.last_heard = time.monotonic()
        if isinstance(message, DecoderReady):
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(message)
        elif isinstance(message, DecoderStatus):
            self.status, self.status_received_at = message, time.time()
            self.models_used_at |= {held.model: held.last_used_at for held in message.loaded_models}
            for waiter in self._status_waiters:
                if not waiter.done():
                    waiter.set_result(message)
        elif isinstance(message, ModelsAvailable) and self.ready is not None:
            self.ready = replace(self.ready, available_models=message.available_models)
        elif isinstance(message, ModelFailed):
            self.model_failures[message.model] = message.reason
        elif isinstance(message, ModelLoaded):
            self.model_failures.pop(message.model, None)
        self._on_event(message)

    def _on_exit(self, process: BaseProcess) -> None:
        if self._process is not process or self._stopping is process:
            return  # stopped on purpose
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(EOFError("decoder pipe closed"))
        self._forget(process)
        self._on_event(DecoderExited(process.pid, process.exitcode))

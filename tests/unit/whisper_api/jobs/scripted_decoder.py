"""A decoder client without a process, for unit tests: the test plays the decoder's part."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

from decoder.wire.protocol import DecoderConfig, DecoderReady, ToDecoder
from whisper_api.jobs.dispatch.decoder_client import DecoderClient, DecoderEvent, DecoderExited
from whisper_api.jobs.errors import DecoderUnavailable

CONFIG = DecoderConfig(
    max_model="tiny.en",
    cpu_fallback_model="tiny.en",
    use_gpu_if_available=False,
    develop_mode=False,
    load_model_on_startup=False,
    unload_model_after_s=None,
    model_dir="/nowhere",
    log_level=logging.INFO,
    engine="openai-whisper",
    compute_type="auto",
    vad_filter=False,
    cpu_threads=1,
    batch_size=1,
    ffmpeg_timeout_s=60.0,
)


def _never_spawned(conn: Connection, log_queue: Queue[Any], config: DecoderConfig) -> None:
    raise AssertionError("a scripted decoder spawns no process")


class ScriptedDecoder(DecoderClient):
    """Records what it is sent. `report()` plays a decoder message, `crash()` its death; the
    next `fail_starts` starts fail as a decoder that does not come up would."""

    def __init__(self, fail_starts: int = 0) -> None:
        super().__init__(CONFIG, queue.SimpleQueue(), _never_spawned)
        self.fail_starts = fail_starts
        # What its DecoderReady says of batches (decoder.wire.protocol.SubmitBatch).
        self.batch_files = 1
        self.sent: list[ToDecoder] = []
        self.starts = 0
        self.kills = 0
        self._up = False
        self._handler: Callable[[DecoderEvent], None] = lambda event: None

    async def start(self, timeout_s: float, on_event: Callable[[DecoderEvent], None]) -> DecoderReady:
        self.starts += 1
        self.last_pid, self.started_at = 1000 + self.starts, time.monotonic()
        if self.fail_starts:
            self.fail_starts -= 1
            raise DecoderUnavailable("the scripted decoder did not start")
        self._handler, self._up, self.sent = on_event, True, []
        self.ready = DecoderReady(
            self.last_pid, False, "tiny.en", True, (("en", "english"),), batch_files=self.batch_files
        )
        return self.ready

    @property
    def running(self) -> bool:
        return self._up

    @property
    def pid(self) -> int | None:
        return self.last_pid if self._up else None

    def send(self, message: ToDecoder) -> None:
        if not self._up:
            raise DecoderUnavailable("the decoder is not running")
        self.sent.append(message)

    def kill(self) -> None:
        self.kills += 1
        self.crash(-9)

    def crash(self, exitcode: int = -11) -> None:
        self._up, self.ready = False, None
        self.report(DecoderExited(self.last_pid, exitcode))

    def report(self, event: DecoderEvent) -> None:
        self.last_heard = time.monotonic()
        self._handler(event)

    async def stop(self, timeout_s: float) -> None:
        self._up, self.ready = False, None

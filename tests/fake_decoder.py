"""A stand-in decoder process that speaks the real protocol without a model, for fast route tests.

Submitted tasks wait in its queue until the next RequestStatus (GET decoder_status_refresh),
which "transcribes" them all as `heard <language or auto>`; so tests control the queue exactly.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import time
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

from decoder.protocol import (
    DecoderConfig,
    DecoderReady,
    DecoderStatus,
    RequestStatus,
    Shutdown,
    SubmitTask,
    TaskFinished,
    TaskStarted,
)

LANGUAGES = (("en", "english"), ("de", "german"), ("fr", "french"))


def run_fake_decoder(conn: Connection, log_queue: Queue[Any], config: DecoderConfig) -> None:
    logging.getLogger().handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    logging.getLogger().setLevel(logging.INFO)
    model = config.max_model or config.cpu_fallback_model
    conn.send(DecoderReady(os.getpid(), False, model, model.endswith(".en"), LANGUAGES))
    queued: list[SubmitTask] = []

    def send_status() -> None:
        conn.send(DecoderStatus(False, model, model, True, False, tuple(t.task_id for t in queued)))

    while True:
        message = conn.recv()
        if isinstance(message, Shutdown):
            return
        if isinstance(message, SubmitTask):
            logging.getLogger("fake").info("fake decoder queued task %s", message.task_id)
            queued.append(message)
        elif isinstance(message, RequestStatus):
            for task in queued:
                now = time.time()
                text = f"heard {task.language or 'auto'}"
                conn.send(TaskStarted(task.task_id, model, now))
                conn.send(
                    TaskFinished(task.task_id, text, task.language or "en", ((0.0, 1.5, text),),
                                 model, model, "cpu", now, now + 0.5)
                )  # fmt: skip
            queued.clear()
        send_status()

"""A stand-in decoder process that speaks the real protocol without a model, for fast route tests.

A task it gets starts at once and stays "decoding" (the front end hands a decoder one task at
a time; any more would wait in its queue). The next RequestStatus (GET decoder_status_refresh)
"transcribes" what it holds as `heard <language or auto>`, and the front end hands it the next
task, so tests control the queue exactly. Every language it detects is
German. Its "model" counts as loaded from the first RequestStatus on. A live turn is answered at
once with how long it was: `heard 1.5 s`.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import time
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

from decoder.wire.protocol import (
    CancelTask,
    DecoderConfig,
    DecoderReady,
    DecoderStatus,
    DecodeTurn,
    DetectLanguage,
    LanguageDetected,
    Ping,
    Pong,
    RequestStatus,
    Shutdown,
    SubmitTask,
    TaskCancelled,
    TaskFinished,
    TaskStarted,
    TurnDecoded,
)
from decoder.wire.transcript import DecodeRun, Segment, Transcript

LANGUAGES = (("en", "english"), ("de", "german"), ("fr", "french"))


def run_fake_decoder(conn: Connection, log_queue: Queue[Any], config: DecoderConfig) -> None:
    logging.getLogger().handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    logging.getLogger().setLevel(logging.INFO)
    model = config.max_model or config.cpu_fallback_model
    # The smallest model of its family is there too, as ensure-model would import it.
    smallest = "tiny.en" if model.endswith(".en") else "tiny"
    available = tuple(dict.fromkeys((smallest, model)))
    conn.send(DecoderReady(os.getpid(), False, model, model.endswith(".en"), LANGUAGES, available))
    decoding: SubmitTask | None = None
    queued: list[SubmitTask] = []
    # Its "model" counts as loaded from the first RequestStatus on, so tests see readiness flip.
    loaded = False
    conn.send(DecoderStatus(False, model, None, loaded, False, ()))

    while True:
        message = conn.recv()
        if isinstance(message, Shutdown):
            return
        if isinstance(message, Ping):
            conn.send(Pong())
            continue
        if isinstance(message, SubmitTask):
            logging.getLogger("fake").info("fake decoder got task %s", message.task_id)
            if decoding is None:
                decoding = message
                conn.send(TaskStarted(message.task_id, model, time.time()))
            else:
                queued.append(message)
        elif isinstance(message, DecodeTurn):
            seconds = len(message.audio) / 4 / 16000
            conn.send(TurnDecoded(message.turn_id, f"heard {seconds:g} s", message.language or "en", 0.0))
            continue
        elif isinstance(message, DetectLanguage):
            conn.send(LanguageDetected(message.task_id, "de", 0.875, (("de", 0.875), ("en", 0.125)), 2))
        elif isinstance(message, CancelTask):
            if any(task.task_id == message.task_id for task in queued):
                queued = [task for task in queued if task.task_id != message.task_id]
                conn.send(TaskCancelled(message.task_id))
        elif isinstance(message, RequestStatus):
            loaded = True
            for task in [decoding, *queued] if decoding else queued:
                now = time.time()
                if task is not decoding:
                    conn.send(TaskStarted(task.task_id, model, now))
                text = f"heard {task.language or 'auto'}"
                transcript = Transcript(text, task.language or "en", 0.0, (Segment(0.0, 1.5, text),))
                run = DecodeRun(model, model, "cpu", now, now + 0.5)
                conn.send(TaskFinished(task.task_id, transcript, run))
            decoding, queued = None, []
        waiting = tuple(task.task_id for task in queued)
        conn.send(DecoderStatus(False, model, model, loaded, decoding is not None, waiting))

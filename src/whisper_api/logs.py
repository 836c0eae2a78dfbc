"""Logging for both processes: every record goes through one queue to one QueueListener.

The front end puts its records on an in-process queue; the decoder client forwards the decoder
process's records into the same queue. A single listener thread writes them to the console and
to a timed rotating file: writing on that thread keeps slow disks off the event loop, and one
writer keeps the two processes' lines whole and in order.

The front end never writes to a multiprocessing queue itself: a decoder killed while holding
such a queue's lock would leave every later writer blocked for ever.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import re

from whisper_api.settings import Settings

# Task ids are uuid4 hex strings.
TASK_ID_PATTERN = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{24}\b")


class TaskIdShortener(logging.Filter):
    """Shortens every task id in a record to its first 8 characters (LOG_PRIVACY_MODE).

    A filter at the writer catches ids from both processes, whatever code logged them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shortened = TASK_ID_PATTERN.sub(r"\1…", message)
        if shortened != message:
            record.msg, record.args = shortened, None
        return True


class LogPipeline:
    """The shared record queue and its listener; start() before the decoder, stop() last."""

    def __init__(self, settings: Settings) -> None:
        self.queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        formatter = logging.Formatter(settings.log_format, settings.log_date_format, style="{")
        console = logging.StreamHandler()
        console.setLevel(settings.log_level_console)
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        log_file = logging.handlers.TimedRotatingFileHandler(
            settings.log_path,
            when=settings.log_rotation_when,
            interval=settings.log_rotation_interval,
            backupCount=settings.log_rotation_backup_count,
            encoding="utf-8",
        )
        log_file.setLevel(settings.log_level_file)
        for handler in (console, log_file):
            handler.setFormatter(formatter)
            if settings.log_privacy_mode:
                handler.addFilter(TaskIdShortener())
        self._handlers: tuple[logging.Handler, ...] = (console, log_file)
        self._listener = logging.handlers.QueueListener(
            self.queue, *self._handlers, respect_handler_level=True
        )
        # The most verbose of the two handlers decides what the loggers produce at all.
        self.level = min(
            logging.getLevelNamesMapping()[name]
            for name in (settings.log_level_console, settings.log_level_file)
        )

    def start(self) -> None:
        root = logging.getLogger()
        root.handlers[:] = [logging.handlers.QueueHandler(self.queue)]
        root.setLevel(self.level)
        # httpx logs every request with its full URL at INFO: callback URLs can carry tokens.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._listener.start()

    def stop(self) -> None:
        self._listener.stop()
        for handler in self._handlers:
            handler.close()

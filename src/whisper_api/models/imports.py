"""Model imports the operator started from the API, each in a process of its own
(decoder.model_import.job, which alone may import torch), watched from the event loop.

Every import has an id. Its state is kept in memory (an import is over in minutes, and one cut
off by a restart left nothing in MODEL_DIR) and published on the event hub under
`model-import:<id>`, so that `/api/v1/models/imports/{id}/events` streams a download's progress.
When one finishes, `on_finished` tells the decoders to look at MODEL_DIR again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from decoder.wire.entry import run_importer
from decoder.wire.helper_pipes import (
    CHECKPOINT_URL,
    HUB_SOURCE,
    OPENAI_SOURCE,
    FromImporter,
    ImportFailed,
    ImportFinished,
    ImportProgress,
    ImportRequest,
)
from decoder.wire.models import MODELS
from whisper_api.jobs.errors import Refused
from whisper_api.jobs.job import iso_time
from whisper_api.jobs.news.hub import PROGRESS, EventHub

log = logging.getLogger(__name__)

RUNNING, FINISHED, FAILED = "running", "finished", "failed"
# How long a stopped import may take to clean up after itself.
STOP_WAIT_S = 5.0
STATUS = "status"
# The hub's name space for imports, apart from the task ids.
TOPIC = "model-import:"


@dataclass(frozen=True)
class ModelImport:
    import_id: str
    name: str
    source: str
    status: str = RUNNING
    # "starting", "downloading" or "converting"; the bytes so far and in all (None: unknown).
    stage: str = "starting"
    done_bytes: int = 0
    total_bytes: int | None = None
    error: str | None = None
    paths: tuple[str, ...] = ()
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def json(self) -> dict[str, Any]:
        data = asdict(self)
        data["paths"] = list(self.paths)
        data["started_at"], data["finished_at"] = iso_time(self.started_at), iso_time(self.finished_at)
        return data


def check_source(name: str, source: str) -> None:
    """Refuse what no import can do, before a process starts."""
    if name not in MODELS:
        raise Refused(f"{name!r} is no official Whisper model name; choose one of {', '.join(MODELS)}")
    if source == OPENAI_SOURCE or CHECKPOINT_URL.match(source) or HUB_SOURCE.match(source):
        return
    path = Path(source).expanduser()
    if not path.is_absolute() or not path.is_dir():
        raise Refused(
            "source must be 'openai', a checkpoint URL in openai-whisper's layout (…/<sha256>/<name>.pt), "
            "'hf:<owner>/<repo>', or the absolute path of a model directory on the server"
        )


class ModelImports:
    def __init__(
        self, model_dir: Path, hub: EventHub, hub_endpoint: str, on_finished: Callable[[], None]
    ) -> None:
        self._model_dir = model_dir
        self._hub = hub
        self._hub_endpoint = hub_endpoint
        self._on_finished = on_finished
        self._imports: dict[str, ModelImport] = {}
        self._processes: dict[str, BaseProcess] = {}

    def get(self, import_id: str) -> ModelImport | None:
        return self._imports.get(import_id)

    def all(self) -> list[ModelImport]:
        return list(self._imports.values())

    def start(self, name: str, source: str) -> ModelImport:
        """Start importing `source` as model `name`; Refused for a bad source or a model already
        being imported."""
        check_source(name, source)
        if any(each.name == name and each.status == RUNNING for each in self._imports.values()):
            raise Refused(f"model {name} is being imported already")
        started = ModelImport(uuid.uuid4().hex, name, source)
        request = ImportRequest(name, source, str(self._model_dir), self._hub_endpoint)
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe(duplex=False)
        process = context.Process(target=run_importer, args=(child_end, request), name=f"import-{name}")
        process.start()
        child_end.close()
        self._imports[started.import_id] = started
        self._processes[started.import_id] = process
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=self._relay, args=(parent_end, process, started.import_id, loop), daemon=True
        ).start()
        log.info("importing model %s (import %s)", name, started.import_id[:8])
        return started

    def topic(self, import_id: str) -> str:
        return TOPIC + import_id

    def _relay(
        self, conn: Connection, process: BaseProcess, import_id: str, loop: asyncio.AbstractEventLoop
    ) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._heard, import_id, message)
        conn.close()
        process.join()
        ended = ImportFailed(f"the import process ended unexpectedly (exit code {process.exitcode})")
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._heard, import_id, ended)

    def _heard(self, import_id: str, message: FromImporter) -> None:
        current = self._imports[import_id]
        if current.status != RUNNING:
            return
        if isinstance(message, ImportProgress):
            changed = replace(
                current, stage=message.stage, done_bytes=message.done, total_bytes=message.total
            )
        elif isinstance(message, ImportFinished):
            changed = replace(current, status=FINISHED, paths=message.paths, finished_at=time.time())
        else:
            changed = replace(current, status=FAILED, error=message.reason, finished_at=time.time())
            log.error("model import %s failed: %s\n%s", import_id[:8], message.reason, message.traceback)
        self._imports[import_id] = changed
        event = PROGRESS if changed.status == RUNNING else STATUS
        self._hub.publish(self.topic(import_id), event, changed.json())
        if changed.status != RUNNING:
            self._processes.pop(import_id, None)
            log.info("model import %s %s", import_id[:8], changed.status)
            if changed.status == FINISHED:
                self._on_finished()

    def close(self) -> None:
        """Stop the imports still running; each removes what it had written as it exits."""
        processes = list(self._processes.values())
        self._processes.clear()
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(STOP_WAIT_S)
            if process.is_alive():
                process.kill()

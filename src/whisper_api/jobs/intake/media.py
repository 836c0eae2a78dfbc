"""The upload check, run before an upload is queued so that bad files fail at once with 400.

The check itself (decoder.checking.probe) reads the file with ffmpeg's libraries, so it never
runs in the front end: a crash in a media library, on a file made to cause one, must cost one
check, not the front end with every upload and stream it holds. `UploadChecker` keeps
CHECKERS long-lived processes for it, started once with the server; no program starts per
upload. Each check is one message over its process's pipe.

- The check answers: UploadChecked is the upload's duration and format; a refusal is NotAudio
  (400) with the check's reason, and the libraries' own words go to the log.
- The check runs past PROBE_TIMEOUT_S: its process is killed and started again, and the
  upload is refused as unreadable, as a file that takes that long is.
- Its process dies mid-check: it is started again, and that upload gets 503 (CheckerUnavailable),
  to send again; the server goes on.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from decoder.wire.entry import run_checker
from decoder.wire.helper_pipes import CheckFailed, CheckUpload, FromChecker, UploadChecked, UploadRefused
from whisper_api.jobs.errors import CheckerUnavailable, NotAudio

log = logging.getLogger(__name__)

# Processes that check uploads: more than one, so that a file that takes long to read holds
# one of them, not every upload behind it; few, since a check takes milliseconds.
CHECKERS = 2
# A check reads a bounded part of the file; one that takes longer than this is stuck.
PROBE_TIMEOUT_S = 30.0
# How long a checker that was asked to stop may take before it is killed.
_STOP_S = 5.0


class _CheckerProcess:
    """One checker process and its pipe, started again whenever it has died."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        # Times a process was started again after the one before died or overran.
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        process = context.Process(target=run_checker, args=(child_end,), name=self.name, daemon=True)
        process.start()
        child_end.close()
        self._process, self._conn = process, parent_end

    def ask(self, request: CheckUpload, timeout_s: float, on_sent: Callable[[], None]) -> FromChecker:
        """The checker's answer; raises TimeoutError or EOFError/OSError (it died), after which
        the process has been started again. `on_sent` is called once the request is sent."""
        if self._process is None:
            self.start()
        elif not self._process.is_alive():
            # It died while idle: that costs no upload.
            self.restart()
        assert self._conn is not None
        try:
            self._conn.send(request)
            on_sent()
            if not self._conn.poll(timeout_s):
                raise TimeoutError
            answer: FromChecker = self._conn.recv()
        except (TimeoutError, EOFError, OSError):
            self.restart()
            raise
        return answer

    def restart(self) -> None:
        self.stop(timeout_s=0)
        self.restarts += 1
        self.start()

    def stop(self, timeout_s: float) -> None:
        process, conn = self._process, self._conn
        self._process, self._conn = None, None
        if conn is not None:
            conn.close()  # the checker exits when its pipe closes
        if process is not None:
            process.join(timeout_s)
            if process.is_alive():
                process.kill()
                process.join()


class UploadChecker:
    """CHECKERS checker processes, each taking one upload at a time.

    `check` blocks: call it from a worker thread.
    """

    def __init__(self, processes: int = CHECKERS, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s
        self._checkers = [_CheckerProcess(f"upload-check-{n}") for n in range(processes)]
        self._idle: queue.SimpleQueue[_CheckerProcess] = queue.SimpleQueue()
        for checker in self._checkers:
            self._idle.put(checker)
        self._lock = threading.Lock()
        # Checks sent to a checker and not answered yet, for /metrics.
        self.in_progress = 0

    @property
    def restarts(self) -> int:
        """Checker processes started again after one died or overran its time limit."""
        return sum(checker.restarts for checker in self._checkers)

    def start(self) -> None:
        """Start the processes now, so that they load their libraries while the server starts
        (a checker that is not running when asked is started then)."""
        for checker in self._checkers:
            checker.start()

    def stop(self) -> None:
        for checker in self._checkers:
            checker.stop(_STOP_S)

    def check(self, path: Path) -> UploadChecked:
        """The upload's duration and format; raises NotAudio, or CheckerUnavailable where the
        checker died during the check."""
        checker = self._idle.get()
        sent = False

        def on_sent() -> None:
            nonlocal sent
            sent = True
            self._add_in_progress(1)

        try:
            answer = checker.ask(CheckUpload(str(path)), self._timeout_s, on_sent)
        except TimeoutError as exc:
            raise NotAudio(
                f"checking the file took longer than {self._timeout_s:g} s: it cannot be read as it is"
            ) from exc
        except (EOFError, OSError) as exc:
            log.error("the upload checker %s died checking %s; it is started again", checker.name, path.name)
            raise CheckerUnavailable("the upload check stopped unexpectedly; send the file again") from exc
        finally:
            if sent:
                self._add_in_progress(-1)
            self._idle.put(checker)
        if isinstance(answer, UploadRefused):
            log.info("the upload check refused %s: %s", path.name, answer.detail or answer.reason)
            raise NotAudio(answer.reason)
        if isinstance(answer, CheckFailed):
            log.error("the upload check failed on %s:\n%s", path.name, answer.traceback)
            raise CheckerUnavailable("the upload check failed unexpectedly; the server's log says why")
        return answer

    def _add_in_progress(self, step: int) -> None:
        with self._lock:
            self.in_progress += step

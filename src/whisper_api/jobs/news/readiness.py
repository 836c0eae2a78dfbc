"""Readiness, for load balancers, container health checks and systemd (served by
whisper_api.api.routes.health at /readyz).

The server is ready once a decoder runs and, with LOAD_MODEL_ON_STARTUP, has loaded its model
once; it stops being ready while no decoder of the pool takes work (they start or restart after
a crash, or none answers: the watchdog), and while the job store cannot write (a full or
read-only disk, a lost file). One decoder of several restarting leaves the server ready. An API
host (ROLE=api), which has no decoder, is ready while its store answers: uploads wait in the
queue for the workers, and `concern` says when none is alive.
Under systemd (Type=notify), readiness is announced once with READY=1 on NOTIFY_SOCKET: a unix
datagram, no library needed.
"""

from __future__ import annotations

import logging
import os
import socket

from whisper_api.jobs.dispatch.pool import DecoderPool
from whisper_api.jobs.job import JobStore
from whisper_api.jobs.tracker.workers import ClusterWorkers

log = logging.getLogger(__name__)


class Readiness:
    def __init__(
        self, pool: DecoderPool, store: JobStore, workers: ClusterWorkers | None, *, model_needed: bool
    ) -> None:
        self._pool = pool
        self._store = store
        self._workers = workers
        self._model_needed = model_needed
        self._model_seen = False
        self._announced = False

    def reason_not_ready(self) -> str | None:
        """Why the server cannot take work yet, or None when it can."""
        if self._store.failing is not None:
            return "the job store cannot write (see the server's log)"
        if not self._pool.slots:
            return None
        working = [slot for slot in self._pool.slots if slot.takes_work]
        if not working:
            return "the decoder is starting" if not self._pool.restarts else "the decoder is restarting"
        if all(slot.supervisor.watchdog.unresponsive for slot in working):
            return "the decoder does not answer"
        self._model_seen = self._model_seen or any(
            slot.decoder.status is not None and slot.decoder.status.is_model_loaded for slot in working
        )
        if self._model_needed and not self._model_seen:
            return "the model is loading"
        return None

    def concern(self) -> str | None:
        """What a ready host would have its operator know: an API host with no worker alive."""
        if self._pool.slots or self._workers is None or self._workers.workforce.hosts:
            return None
        return "no worker is alive: uploads wait in the queue until one is"

    def update(self) -> None:
        """Call on every decoder status: announces readiness to systemd the first time."""
        if not self._announced and self.reason_not_ready() is None:
            self._announced = True
            log.info("whisper-api is ready")
            notify_systemd("READY=1")


def notify_systemd(state: str) -> None:
    """Send a state line to systemd's notification socket, if it gave us one."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    # A leading "@" names a socket in the abstract namespace.
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notifier:
            notifier.sendto(state.encode(), target)
    except OSError as exc:
        log.warning("could not notify systemd (%s): %s", state, exc)

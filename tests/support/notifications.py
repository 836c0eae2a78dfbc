"""Every NOTIFY on the channels listened to, heard in a thread on a connection of its own: what
the cluster tests and the cluster benchmark count of the hosts' messages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


class Heard:
    def __init__(self, url: str, *channels: str) -> None:
        self._db = psycopg.connect(url, autocommit=True)
        self.payloads: dict[str, list[dict[str, object]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._hear, daemon=True)
        for channel in channels:
            self.listen(channel)

    def listen(self, channel: str) -> None:
        """Listen from now on: LISTEN waits for the connection, which the thread frees twice a second."""
        self.payloads.setdefault(channel, [])
        self._db.execute(f'LISTEN "{channel}"')

    def _hear(self) -> None:
        while not self._stop.is_set():
            for notification in self._db.notifies(timeout=0.5):
                self.payloads[notification.channel].append(json.loads(notification.payload))

    @contextmanager
    def hearing(self) -> Iterator[Heard]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(30)
            self._db.close()

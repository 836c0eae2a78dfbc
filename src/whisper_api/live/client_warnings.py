"""Warnings about what clients sent, held to a few per client a minute: a client that sends
nothing but malformed messages cannot fill the log.

Each client (its address) may cause BURST warnings in a window of PERIOD_S; the next one says
that its further warnings are held back until the window ends, and those are dropped.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

BURST = 5
PERIOD_S = 60.0
# The clients remembered at once; the oldest window is forgotten first.
MAX_CLIENTS = 1024


@dataclass
class _Window:
    started: float
    count: int = 0


class ClientWarnings:
    def __init__(self, log: logging.Logger, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def warn(self, client: str, message: str, *args: object) -> None:
        """Log `message % args` as one line, unless `client` has had its share of this window."""
        now = self._clock()
        window = self._windows.get(client)
        if window is None or now - window.started >= PERIOD_S:
            window = self._windows[client] = _Window(now)
        self._windows.move_to_end(client)
        while len(self._windows) > MAX_CLIENTS:
            self._windows.popitem(last=False)
        window.count += 1
        if window.count <= BURST:
            self._log.warning(message, *args)
        elif window.count == BURST + 1:
            left = PERIOD_S - (now - window.started)
            self._log.warning("further warnings about client %s are held back for %.0f s", client, left)

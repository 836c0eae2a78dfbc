"""The decoder process's entry point, importable without torch.

The front end hands this function to a `spawn` process; the heavy imports happen in the child.
"""

from __future__ import annotations

import os
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

from decoder.wire.protocol import DecoderConfig


def run_decoder(conn: Connection, log_queue: Queue[Any], config: DecoderConfig) -> None:
    if config.cuda_device is not None:
        # Before torch or CTranslate2 is imported: CUDA reads it once, when it starts.
        os.environ["CUDA_VISIBLE_DEVICES"] = config.cuda_device
    from decoder.process.service import serve

    serve(conn, log_queue, config)

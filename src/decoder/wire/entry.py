"""The entry points of the decoder's, the upload checker's and a model import's processes,
importable without torch or PyAV.

The front end hands these functions to `spawn` processes; the heavy imports happen in the child.
"""

from __future__ import annotations

import os
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

from decoder.wire.helper_pipes import ImportRequest
from decoder.wire.protocol import DecoderConfig


def run_decoder(conn: Connection, log_queue: Queue[Any], config: DecoderConfig) -> None:
    if config.cuda_device is not None:
        # Before torch or CTranslate2 is imported: CUDA reads it once, when it starts.
        os.environ["CUDA_VISIBLE_DEVICES"] = config.cuda_device
    from decoder.process.service import serve

    serve(conn, log_queue, config)


def run_checker(conn: Connection) -> None:
    from decoder.checking.service import serve

    serve(conn)


def run_importer(conn: Connection, request: ImportRequest) -> None:
    from decoder.model_import.job import run

    run(conn, request)

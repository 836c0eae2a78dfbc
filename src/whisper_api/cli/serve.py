"""`whisper-api serve`: the server under hypercorn, once the job store answers, with the log
pipeline that writes the front end's and the decoders' records."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from decoder.wire.entry import run_decoder
from whisper_api.api import protocol_errors
from whisper_api.api.realtime import max_event_bytes
from whisper_api.app import begin_shutdown, create_app
from whisper_api.jobs.dispatch.decoder_client import DecoderTarget
from whisper_api.jobs.errors import StoreError
from whisper_api.logs import LogPipeline
from whisper_api.services import make_store
from whisper_api.settings import Settings


def serve(settings: Settings, decoder_target: DecoderTarget = run_decoder) -> int:
    pipeline = LogPipeline(settings)
    pipeline.start()
    try:
        # Logged: opening the store may upgrade its schema.
        problem = asyncio.run(_store_problem(settings))
        if problem is not None:
            # One line for the operator rather than the traceback of a failed lifespan.
            print(f"whisper-api: {problem}", file=sys.stderr)
            return 1
        asyncio.run(_serve(settings, pipeline, decoder_target))
    finally:
        pipeline.stop()
    return 0


async def _store_problem(settings: Settings) -> str | None:
    """Why the job store cannot be used, or None: checked before anything else starts."""
    store = make_store(settings)
    try:
        await store.open()
    except StoreError as exc:
        return str(exc)
    finally:
        await store.close()
    return None


async def _serve(settings: Settings, pipeline: LogPipeline, decoder_target: DecoderTarget) -> None:
    config = HypercornConfig()
    host = f"[{settings.listen}]" if ":" in settings.listen else settings.listen
    config.bind = [f"{host}:{settings.port}"]
    config.errorlog = logging.getLogger("hypercorn.error")
    config.websocket_max_message_size = max_event_bytes(settings.live_max_turn_s)
    protocol_errors.install()
    app = create_app(settings, pipeline.queue, decoder_target)
    shutdown = asyncio.Event()

    def on_signal() -> None:
        begin_shutdown(app)
        shutdown.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    await hypercorn_serve(app, config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]

"""The Starlette application: routes, the error mapping, and a lifespan that owns the decoder."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from multiprocessing.queues import Queue
from typing import Any

from starlette.applications import Starlette

from decoder.entry import run_decoder
from decoder.protocol import DecoderConfig
from whisper_api.decoder_client import DecoderClient, DecoderTarget
from whisper_api.errors import EXCEPTION_HANDLERS
from whisper_api.jobs import JobStore
from whisper_api.routes import ROUTES
from whisper_api.settings import Settings
from whisper_api.tracker import TaskTracker

log = logging.getLogger(__name__)

# Spawning imports torch and whisper from scratch; a cold disk can take a while.
DECODER_START_TIMEOUT_S = 180.0
# How long shutdown waits for the task in hand before it kills the decoder.
DECODER_STOP_TIMEOUT_S = 30.0


def decoder_config(settings: Settings) -> DecoderConfig:
    return DecoderConfig(
        max_model=settings.max_model,
        cpu_fallback_model=settings.cpu_fallback_model,
        use_gpu_if_available=settings.use_gpu_if_available,
        develop_mode=settings.develop_mode,
        load_model_on_startup=settings.load_model_on_startup,
        unload_model_after_s=settings.unload_model_after_s,
        model_dir=str(settings.model_dir),
        log_level=logging.getLogger().getEffectiveLevel(),
    )


def create_app(
    settings: Settings, log_queue: Queue[Any], decoder_target: DecoderTarget = run_decoder
) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.upload_dir.mkdir(parents=True, exist_ok=True)
        jobs = JobStore(
            keep_results_s=settings.delete_results_after_m * 60,
            refresh_on_use=settings.refresh_expiration_time_on_usage,
        )
        tracker = TaskTracker(jobs)
        decoder = DecoderClient(decoder_config(settings), log_queue, tracker.handle, decoder_target)
        await decoder.start(DECODER_START_TIMEOUT_S)
        app.state.settings, app.state.jobs, app.state.tracker = settings, jobs, tracker
        app.state.decoder = decoder
        sweeper = None
        if settings.run_result_expiry_check_m:
            sweeper = asyncio.create_task(_expire_every(jobs, settings.run_result_expiry_check_m * 60))
        log.info("whisper-api is ready on %s:%d", settings.listen, settings.port)
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
            await decoder.stop(DECODER_STOP_TIMEOUT_S)
            # Jobs live in memory: their uploads would only be orphans after this process.
            jobs.remove_all()
            log.info("whisper-api stopped")

    return Starlette(routes=ROUTES, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)


async def _expire_every(jobs: JobStore, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        removed = jobs.expire()
        if removed:
            log.info("removed %d expired results", removed)

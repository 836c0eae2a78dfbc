"""The Starlette application: routes, the error mapping, and a lifespan that owns the job
store, the decoder and the tracker between them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from decoder.entry import run_decoder
from decoder.protocol import DecoderConfig, DecoderStatus, ModelLoaded, ModelUnloaded
from whisper_api.api.auth import AuthMiddleware
from whisper_api.api.errors import EXCEPTION_HANDLERS
from whisper_api.api.events import EventHub
from whisper_api.api.health import Readiness, notify_systemd
from whisper_api.api.keepalive import CloseUnreadBodies
from whisper_api.api.metrics import Metrics, MetricsMiddleware
from whisper_api.api.routes import ROUTES
from whisper_api.jobs.admission import Admission
from whisper_api.jobs.decoder_client import DecoderClient, DecoderEvent, DecoderExited, DecoderTarget
from whisper_api.jobs.job import StoreUnavailable
from whisper_api.jobs.notifier import Notifier
from whisper_api.jobs.sqlite_store import SQLiteJobStore
from whisper_api.jobs.tracker import TaskTracker
from whisper_api.jobs.webhooks import WebhookSender
from whisper_api.settings import Settings

log = logging.getLogger(__name__)

# Spawning imports torch and whisper from scratch; a cold disk can take a while.
DECODER_START_TIMEOUT_S = 180.0
# How often the job store's file and writability are checked, for /readyz.
STORE_CHECK_INTERVAL_S = 5.0


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
        engine=settings.engine,
        compute_type=settings.compute_type,
        vad_filter=settings.vad_filter,
        cpu_threads=settings.cpu_threads,
        batch_size=settings.batch_size,
        ffmpeg_timeout_s=settings.ffmpeg_timeout_s,
    )


def create_app(
    settings: Settings,
    log_queue: queue.SimpleQueue[logging.LogRecord],
    decoder_target: DecoderTarget = run_decoder,
) -> Starlette:
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.upload_dir.mkdir(parents=True, exist_ok=True)
        store = SQLiteJobStore(
            settings.database_path,
            keep_results_s=settings.delete_results_after_m * 60,
            refresh_on_use=settings.refresh_expiration_time_on_usage,
        )
        await store.open()

        def on_decoder_event(event: DecoderEvent) -> None:
            if isinstance(event, ModelLoaded | ModelUnloaded):
                metrics.model_changed(event)
            tracker.on_decoder_event(event)
            if isinstance(event, DecoderStatus | DecoderExited):
                readiness.update()

        decoder = DecoderClient(decoder_config(settings), log_queue, on_decoder_event, decoder_target)
        webhooks = WebhookSender(allowed_networks=settings.callback_allowed_networks)
        notifier = Notifier(EventHub(), webhooks, metrics)
        tracker = TaskTracker(
            store,
            decoder,
            DECODER_START_TIMEOUT_S,
            settings.decoder_watchdog_s,
            notifier.job_changed,
            notifier.job_cancelled,
        )
        readiness = Readiness(tracker, store, model_needed=settings.load_model_on_startup)
        notifier.attach(tracker)
        metrics.watch(tracker)
        await tracker.start(settings.upload_dir)
        readiness.update()
        admission = Admission(
            settings.max_task_queue_size, settings.max_concurrent_uploads, tracker.waiting_count
        )
        app.state.settings, app.state.store, app.state.tracker = settings, store, tracker
        app.state.decoder, app.state.hub, app.state.admission = decoder, notifier.hub, admission
        app.state.readiness = readiness
        background = [asyncio.create_task(_check_every(store, STORE_CHECK_INTERVAL_S))]
        if settings.run_result_expiry_check_m:
            background.append(
                asyncio.create_task(_expire_every(store, settings.run_result_expiry_check_m * 60))
            )
        log.info("whisper-api is ready on %s:%d", settings.listen, settings.port)
        try:
            yield
        finally:
            admission.draining = True
            for task in background:
                task.cancel()
            # The task in hand may finish within the grace period; the rest stay pending in
            # the store and are queued again by the next start.
            await decoder.stop(settings.shutdown_grace_s)
            await tracker.close()
            # After the tracker: the last results it applied may have started callbacks.
            await notifier.webhooks.close(settings.shutdown_grace_s)
            await store.close()
            log.info("whisper-api stopped")

    app = Starlette(
        routes=ROUTES,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
        # Outermost first: answers before the body was read close the connection; metrics
        # count every answer, the 401s of the key check included.
        middleware=[
            Middleware(CloseUnreadBodies),
            Middleware(MetricsMiddleware, metrics=metrics),
            Middleware(AuthMiddleware, settings=settings),
        ],
    )
    app.state.metrics = metrics
    return app


def begin_shutdown(app: Starlette) -> None:
    """Refuse new uploads from now on (503) and end the event streams, which would otherwise hold
    the server's graceful stop open; called when SIGTERM or SIGINT arrives."""
    admission: Admission | None = getattr(app.state, "admission", None)
    if admission is not None:
        admission.draining = True
        app.state.hub.close()
    notify_systemd("STOPPING=1")


async def _expire_every(store: SQLiteJobStore, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            removed = await store.expire()
        except StoreUnavailable:
            continue  # the store logs it once; the next round tries again
        if removed:
            log.info("removed %d expired results", removed)


async def _check_every(store: SQLiteJobStore, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        await store.check()

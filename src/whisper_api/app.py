"""The Starlette application: routes, the error mapping, middleware, and a lifespan that builds
the server's parts (whisper_api.services), starts them, and stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
from collections.abc import AsyncIterator

from starlette.middleware import Middleware

from decoder.wire.entry import run_decoder
from whisper_api.api.errors import EXCEPTION_HANDLERS
from whisper_api.api.middleware.auth import AuthMiddleware
from whisper_api.api.middleware.keepalive import CloseUnreadBodies
from whisper_api.api.middleware.metrics import MetricsMiddleware
from whisper_api.api.routes import ROUTES, WORKER_ROUTES
from whisper_api.api.state import WhisperApp
from whisper_api.jobs.dispatch.decoder_client import DecoderTarget
from whisper_api.jobs.errors import StoreUnavailable
from whisper_api.jobs.job import JobStore
from whisper_api.jobs.news.metrics import Metrics
from whisper_api.jobs.news.readiness import notify_systemd
from whisper_api.services import build_services
from whisper_api.settings import Settings
from whisper_api.settings.cluster import Role

log = logging.getLogger(__name__)

# How often the job store's file and writability are checked, for /readyz.
STORE_CHECK_INTERVAL_S = 5.0


def create_app(
    settings: Settings,
    log_queue: queue.SimpleQueue[logging.LogRecord],
    decoder_target: DecoderTarget = run_decoder,
) -> WhisperApp:
    # Made here, not in the lifespan: the middleware counts requests from the first one on.
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: WhisperApp) -> AsyncIterator[None]:
        services = build_services(settings, log_queue, decoder_target, metrics)
        settings.upload_dir.mkdir(parents=True, exist_ok=True)
        await services.store.open()
        if settings.role != Role.WORKER:
            # A worker takes no uploads; its checker, never asked, starts no process.
            services.checker.start()
        await services.tracker.start(settings.upload_dir)
        services.readiness.update()
        app.services = services
        background = [asyncio.create_task(_check_every(services.store, STORE_CHECK_INTERVAL_S))]
        if settings.run_result_expiry_check_m:
            expiry_s = settings.run_result_expiry_check_m * 60
            background.append(asyncio.create_task(_expire_every(services.store, expiry_s)))
        if services.wyoming is not None and settings.wyoming_port is not None:
            await services.wyoming.start(settings.listen, settings.wyoming_port)
        log.info("whisper-api is ready on %s:%d", settings.listen, settings.port)
        try:
            yield
        finally:
            services.admission.draining = True
            services.tracker.drain()
            for task in background:
                task.cancel()
            if services.wyoming is not None:
                await services.wyoming.stop()
            # The tasks in hand may finish within the grace period; the rest stay pending in
            # the store and are queued again by the next start (or, on a shared queue, by
            # another host at once).
            await services.pool.stop(settings.stop_grace_s)
            await services.tracker.close()
            # After the tracker: the last results it applied may have started callbacks.
            await services.webhooks.close(settings.shutdown_grace_s)
            await services.store.close()
            await asyncio.to_thread(services.checker.stop)
            await asyncio.to_thread(services.models.close)
            app.services = None
            log.info("whisper-api stopped")

    return WhisperApp(
        routes=WORKER_ROUTES if settings.role == Role.WORKER else ROUTES,
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


def begin_shutdown(app: WhisperApp) -> None:
    """Refuse new uploads from now on (503) and end the event streams, which would otherwise hold
    the server's graceful stop open; called when SIGTERM or SIGINT arrives."""
    if app.services is not None:
        app.services.admission.draining = True
        app.services.tracker.drain()
        app.services.hub.close()
    notify_systemd("STOPPING=1")


async def _expire_every(store: JobStore, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            removed = await store.expire()
        except StoreUnavailable:
            continue  # the store logs it once; the next round tries again
        if removed:
            log.info("removed %d expired results", removed)


async def _check_every(store: JobStore, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        await store.check()

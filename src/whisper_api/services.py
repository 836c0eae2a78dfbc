"""The running server's parts, built once by the app's lifespan, in the order they depend on
each other: nothing is created before what it needs, and nothing is attached afterwards.

    settings ─┬─ store (the SQLite file, or PostgreSQL with DATABASE_URL)
              ├─ queue (waiting jobs, what each decoder holds, progress)
              ├─ standing: the queue as clients see it (the queue, or the cluster's)
              ├─ workers: with PostgreSQL, the hosts that decode (an API host has no pool)
              ├─ pool: per decoder, client ── supervisor (restarts, watchdog) ── readiness
              ├─ hub, webhooks, metrics ── notifier
              ├─ tracker (store, pool, queue, notifier)
              ├─ admission (queue length), the upload checker (its processes)
              ├─ live sessions (pool, queue): turns decoded ahead of file jobs
              │    └─ the Wyoming server (WYOMING_PORT)
              ├─ uploads (the store's jobs by content, for DEDUPLICATE_UPLOADS)
              └─ model imports (hub): MODEL_DIR filled from the API, the decoders told
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import socket
import uuid
from dataclasses import dataclass, replace

from decoder.wire.protocol import DecoderConfig, DecoderReady, RescanModels
from whisper_api.jobs.dispatch.decoder_client import DecoderClient, DecoderTarget
from whisper_api.jobs.dispatch.live_turns import LiveDecoders
from whisper_api.jobs.dispatch.placement import Placement, host_placements
from whisper_api.jobs.dispatch.pool import DecoderPool, DecoderSlot
from whisper_api.jobs.dispatch.queue import JobQueue
from whisper_api.jobs.dispatch.supervision import DecoderSupervisor
from whisper_api.jobs.intake.admission import Admission
from whisper_api.jobs.intake.media import UploadChecker
from whisper_api.jobs.intake.uploads_index import UploadIndex
from whisper_api.jobs.job import JobStore
from whisper_api.jobs.news.hub import EventHub
from whisper_api.jobs.news.metrics import Metrics
from whisper_api.jobs.news.notifier import Notifier
from whisper_api.jobs.news.readiness import Readiness
from whisper_api.jobs.news.webhooks import WebhookSender
from whisper_api.jobs.store.postgres import PostgresJobStore
from whisper_api.jobs.store.sqlite import SQLiteJobStore
from whisper_api.jobs.tracker.sharing import SharedQueue
from whisper_api.jobs.tracker.standing import ClusterStanding
from whisper_api.jobs.tracker.task_tracker import TaskTracker
from whisper_api.jobs.tracker.workers import ClusterWorkers
from whisper_api.jobs.views import Standing
from whisper_api.live.sessions import LiveLimits, LiveSessions
from whisper_api.live.wyoming import WyomingService
from whisper_api.models.imports import ModelImports
from whisper_api.settings import Settings
from whisper_api.settings.cluster import MediaStore, Role
from whisper_api.settings.rules import decoder_engine

# Spawning imports torch and whisper from scratch; a cold disk can take a while.
DECODER_START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Services:
    settings: Settings
    metrics: Metrics
    store: JobStore
    pool: DecoderPool
    queue: JobQueue
    standing: Standing
    readiness: Readiness
    hub: EventHub
    webhooks: WebhookSender
    tracker: TaskTracker
    admission: Admission
    checker: UploadChecker
    # The jobs by their uploads' content (DEDUPLICATE_UPLOADS); None where it is off.
    uploads: UploadIndex | None
    live: LiveSessions
    # Home Assistant's protocol on WYOMING_PORT; None where it is off.
    wyoming: WyomingService | None
    # The cluster's decoding hosts, with PostgreSQL; None on a host of its own.
    workers: ClusterWorkers | None
    models: ModelImports

    def decoders_ready(self) -> DecoderReady | None:
        """What uploads are checked against: this host's decoders', or on an API host the
        workers'; None while none has announced its model."""
        return self.pool.ready if self.workers is None else self.workers.ready


def rescan_models(pool: DecoderPool) -> None:
    """MODEL_DIR changed: every running decoder looks at it again."""
    for slot in pool.slots:
        if slot.decoder.running:
            slot.decoder.send(RescanModels())


def build_services(
    settings: Settings,
    log_records: queue.SimpleQueue[logging.LogRecord],
    decoder_target: DecoderTarget,
    metrics: Metrics,
) -> Services:
    """Every part, connected; none is started (the lifespan opens and starts them)."""
    store = make_store(settings)
    jobs = JobQueue()
    config = decoder_config(settings)
    slots = [
        DecoderSlot(
            placement,
            DecoderSupervisor(
                DecoderClient(_placed(config, placement), log_records, decoder_target, placement.name),
                DECODER_START_TIMEOUT_S,
                settings.decoder_watchdog_s,
                functools.partial(jobs.busy, placement.index),
            ),
        )
        for placement in host_placements(settings, os.environ)
        if settings.role != Role.API
    ]
    pool = DecoderPool(slots)
    hub = EventHub()
    shared = workers = None
    standing: Standing = jobs
    if isinstance(store, PostgresJobStore):
        standing = cluster = ClusterStanding(store, jobs, hub.watched_ids)
        workers = ClusterWorkers(store, pool, jobs, settings.lease_s)
        shared = SharedQueue(store, jobs, cluster, workers, settings.lease_s)
        hub.on_watching_changed(shared.watching_changed)
    readiness = Readiness(pool, store, workers, model_needed=settings.load_model_on_startup)
    webhooks = WebhookSender(allowed_networks=settings.callback_allowed_networks)
    notifier = Notifier(hub, webhooks, metrics, standing, readiness)
    tracker = TaskTracker(store, pool, jobs, notifier, shared)
    admission = Admission(settings.max_task_queue_size, settings.max_concurrent_uploads, standing.counted)
    metrics.watch(standing, pool, workers)
    checker = UploadChecker()
    metrics.watch_checks(checker)
    live_decoders = LiveDecoders(pool, jobs)
    pool.watch(live_decoders.on_decoder_event)
    # Live turns are decoded by this host's own decoders: an API host has none to offer.
    live_max_sessions = settings.live_max_sessions if slots else 0
    limits = LiveLimits(live_max_sessions, settings.live_max_turn_s, settings.live_idle_timeout_s)
    live = LiveSessions(live_decoders, limits)
    return Services(
        settings=settings,
        metrics=metrics,
        store=store,
        pool=pool,
        queue=jobs,
        standing=standing,
        readiness=readiness,
        hub=hub,
        webhooks=webhooks,
        tracker=tracker,
        admission=admission,
        checker=checker,
        uploads=UploadIndex(store) if settings.deduplicate_uploads else None,
        live=live,
        wyoming=WyomingService(live, lambda: pool.ready) if settings.wyoming_port else None,
        workers=workers,
        models=ModelImports(
            settings.model_dir, hub, settings.hf_endpoint, functools.partial(rescan_models, pool)
        ),
    )


def make_store(settings: Settings) -> JobStore:
    """The store the settings name (not opened): PostgreSQL with DATABASE_URL, else SQLite."""
    keep_results_s = settings.delete_results_after_m * 60
    refresh_on_use = settings.refresh_expiration_time_on_usage
    if settings.database_url:
        # Unique to this process: a host restarted under the same name must not take its
        # predecessor's claims for its own before their leases run out.
        host = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        in_database = settings.media_store == MediaStore.DATABASE
        return PostgresJobStore(
            settings.database_url,
            host=host,
            keep_results_s=keep_results_s,
            refresh_on_use=refresh_on_use,
            media_dir=settings.upload_dir if in_database else None,
        )
    return SQLiteJobStore(
        settings.database_path, keep_results_s=keep_results_s, refresh_on_use=refresh_on_use
    )


def _placed(config: DecoderConfig, placement: Placement) -> DecoderConfig:
    return replace(config, cuda_device=placement.cuda_device, cpu_threads=placement.cpu_threads)


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
        engine=decoder_engine(settings),
        compute_type=settings.compute_type,
        vad_filter=settings.vad_filter,
        cpu_threads=settings.cpu_threads,
        batch_size=settings.batch_size,
        batch_files=settings.batch_files,
        speaker_encoder=settings.speaker_encoder,
        ffmpeg_timeout_s=settings.ffmpeg_timeout_s,
        max_audio_duration_s=settings.max_audio_duration_s or None,
        preload_models=settings.preload_models,
    )

"""The HTTP routes, one module per concern."""

from starlette.routing import BaseRoute

from whisper_api.api.openapi import document as openapi
from whisper_api.api.routes import (
    account,
    asr_webservice,
    health,
    live,
    metrics,
    models,
    openai_api,
    page,
    realtime,
    service,
    speakers,
    task_control,
    tasks,
)

ROUTES: list[BaseRoute] = [
    *tasks.ROUTES,
    *task_control.ROUTES,
    *speakers.ROUTES,
    *live.ROUTES,
    *realtime.ROUTES,
    *openai_api.ROUTES,
    *asr_webservice.ROUTES,
    *service.ROUTES,
    *models.ROUTES,
    *account.ROUTES,
    *health.ROUTES,
    *metrics.ROUTES,
    *openapi.ROUTES,
    *page.ROUTES,
]

# A worker (ROLE=worker) decodes for the cluster and serves only its probes and its metrics.
WORKER_ROUTES: list[BaseRoute] = [*health.ROUTES, *metrics.ROUTES]

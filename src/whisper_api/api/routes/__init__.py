"""The HTTP routes, one module per concern."""

from starlette.routing import BaseRoute

from whisper_api.api import health, metrics, openapi
from whisper_api.api.routes import (
    account,
    asr_webservice,
    live,
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
    *account.ROUTES,
    *health.ROUTES,
    *metrics.ROUTES,
    *openapi.ROUTES,
    *page.ROUTES,
]

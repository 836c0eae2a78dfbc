"""/metrics in Prometheus's text format: the server's metrics (whisper_api.jobs.news.metrics)
and the HTTP requests that whisper_api.api.middleware.metrics counts."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whisper_api.api.state import services


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(services(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


ROUTES = [Route("/metrics", metrics_endpoint, methods=["GET"])]

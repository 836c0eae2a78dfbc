"""The middleware that counts HTTP requests for /metrics (whisper_api.api.routes.metrics)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whisper_api.jobs.news.metrics import Metrics


class MetricsMiddleware:
    """Counts HTTP requests by route template (never the raw path: task ids are in paths)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        codes: list[int] = []

        async def send_noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                codes.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            code = str(codes[0]) if codes else "none"
            self.metrics.http_requests.labels(scope["method"], template, code).inc()

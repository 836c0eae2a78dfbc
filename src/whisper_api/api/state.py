"""The one way a route reaches the server's parts: `services(request)`, typed."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from whisper_api.api.errors import ServiceUnavailable
from whisper_api.services import Services


class WhisperApp(Starlette):
    """The Starlette app, holding the parts its lifespan built (None before and after it)."""

    services: Services | None = None


def services(request: HTTPConnection) -> Services:
    app = request.app
    assert isinstance(app, WhisperApp)
    if app.services is None:
        raise ServiceUnavailable("the server is starting or stopping", headers={"Retry-After": "5"})
    return app.services

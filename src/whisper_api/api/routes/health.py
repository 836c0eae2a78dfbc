"""Liveness (/healthz) and readiness (/readyz), for load balancers and container health checks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from whisper_api.api.state import services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """503 while the host cannot take work; 200 otherwise, with a concern where it has one (an
    API host whose uploads wait for workers): it takes uploads all the same."""
    readiness = services(request).readiness
    reason = readiness.reason_not_ready()
    if reason is not None:
        return JSONResponse({"ready": False, "reason": reason}, status_code=503, headers={"Retry-After": "5"})
    concern = readiness.concern()
    return JSONResponse({"ready": True} if concern is None else {"ready": True, "concern": concern})


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]

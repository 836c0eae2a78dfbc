"""Liveness (/healthz) and readiness (/readyz), for load balancers and container health checks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from whisper_api.api.state import services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    reason = services(request).readiness.reason_not_ready()
    if reason is not None:
        return JSONResponse({"ready": False, "reason": reason}, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"ready": True})


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]

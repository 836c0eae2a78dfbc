"""The web page: a fixed allow-list of files (api.contract.PAGE_FILES) from `api/static/`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from whisper_api.api.contract import PAGE_FILES

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def _endpoint(name: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        return FileResponse(STATIC_DIR / name, media_type=media_type, headers={"Cache-Control": "no-cache"})

    return serve


ROUTES = [
    Route(path, _endpoint(name, media_type), methods=["GET"])
    for path, (name, media_type, _) in PAGE_FILES.items()
]

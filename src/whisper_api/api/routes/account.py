"""Who is asking: identity from a trusted authenticating proxy, and the log download it guards.

whisper-api does no authentication itself. A proxy in front (oauth2-proxy and the like) sets
X-User and X-Email for signed-in people.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from whisper_api.api.errors import Forbidden
from whisper_api.api.middleware.auth import identity_of
from whisper_api.api.state import services
from whisper_api.settings import Settings


async def userinfo(request: Request) -> Response:
    identity = identity_of(request)
    return JSONResponse(
        {
            "user": identity.user,
            "email": identity.email,
            "authenticated": bool(identity.owner),
            "may_download_logs": may_download_logs(request, services(request).settings),
        }
    )


async def login(request: Request) -> Response:
    """Reached after the proxy signed the person in: send them back where they came from."""
    target = request.query_params.get("redirect", "/")
    parts = urlsplit(target)
    # Only paths on this server, so that the link cannot be abused to redirect elsewhere.
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        target = "/"
    return RedirectResponse(target, status_code=303)


async def logs(request: Request) -> Response:
    settings: Settings = services(request).settings
    if not may_download_logs(request, settings):
        raise Forbidden("the logs are only for the mail addresses in LOG_AUTHORIZED_MAILS")
    archive = await run_in_threadpool(zip_log_files, settings.log_dir, settings.log_file)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="whisper_api_logs.zip"'},
    )


def may_download_logs(request: Request, settings: Settings) -> bool:
    """An authorised mail from a trusted proxy, or a direct request from this machine.

    A request that carries proxy headers is judged by its mail alone: behind a proxy on the
    same host every request comes from loopback.
    """
    identity = identity_of(request)
    if identity.email is not None:
        return identity.email in settings.log_authorized_mails
    return identity.local


def zip_log_files(log_dir: Path, log_file: str) -> bytes:
    """The current log file and its rotated predecessors (name.log.YYYY-...) as a zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(log_dir.glob(f"{log_file}*")):
            if path.is_file():
                archive.write(path, arcname=path.name)
    return buffer.getvalue()


ROUTES = [
    Route("/api/v1/userinfo", userinfo, methods=["GET"]),
    Route("/api/v1/login", login, methods=["GET"]),
    Route("/api/v1/logs", logs, methods=["GET"]),
]

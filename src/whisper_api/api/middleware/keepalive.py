"""Says `Connection: close` on an HTTP/1.1 answer given before the request's body was read.

A route may answer before it reads the body: a refused upload (429, 413, 408, 507) or any
error of a request that carried a body. hypercorn then cannot read the next request on that
connection and closes it, but a client that was not told so sends its next request there and
loses it ("server disconnected"). HTTP/2 needs nothing: the stream ends, and h2 forbids the
header.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class CloseUnreadBodies:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("http_version", "1.1").startswith("1"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        has_body = headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers
        received_all = not has_body

        async def receiving() -> Message:
            nonlocal received_all
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                received_all = True
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and not received_all:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receiving, sending)

"""Gives the errors hypercorn answers itself the server's JSON error body.

A request whose head h11 cannot accept (headers over h11_max_incomplete_size: 431; a malformed
request line or header: 400) is answered by hypercorn before any route or middleware runs, with
an empty body. Clients should get the same `{"error": ..., "detail": ...}` shape as for every
other error, so hypercorn's H11Protocol is given a method that writes that body instead. This is
the one place that reaches into hypercorn; `install()` is called once, before serving.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from itertools import chain

import h11
from hypercorn.protocol.h11 import H11Protocol

# What the client did wrong, by the status h11 suggests.
_MESSAGES = {
    400: ("bad_request", "the request is not valid HTTP/1.1"),
    414: ("uri_too_long", "the request line is too long"),
    431: ("headers_too_large", "the request's headers are too large"),
}


def error_body(status_code: int) -> bytes:
    code, message = _MESSAGES.get(status_code, ("http_error", HTTPStatus(status_code).phrase.lower()))
    error = {"code": code, "message": message, "type": "invalid_request_error", "param": None}
    return json.dumps({"error": error, "detail": message}).encode()


async def _send_json_error_response(self: H11Protocol, status_code: int) -> None:
    body = error_body(status_code)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    response = h11.Response(
        status_code=status_code, headers=list(chain(headers, self.config.response_headers("h11")))
    )
    await self._send_h11_event(response)
    await self._send_h11_event(h11.Data(data=body))
    await self._send_h11_event(h11.EndOfMessage())


def install() -> None:
    H11Protocol._send_error_response = _send_json_error_response  # type: ignore[method-assign]

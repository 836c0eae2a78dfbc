"""Answers given before the request's body was read say that the connection closes."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from whisper_api.api.middleware.keepalive import CloseUnreadBodies


def answer_headers(*, body: bytes, reads: bool, http_version: str = "1.1") -> dict[bytes, bytes]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if reads:
            while (await receive()).get("more_body"):
                pass
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    chunks = [body[:1], body[1:]] if body else [b""]
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "http_version": http_version, "headers": headers}
    asyncio.run(CloseUnreadBodies(app)(scope, receive, send))
    return dict(sent[0]["headers"])


def test_an_answer_before_the_body_closes_the_connection() -> None:
    assert answer_headers(body=b"abc", reads=False).get(b"connection") == b"close"


def test_an_answer_after_the_body_or_without_one_keeps_it() -> None:
    assert b"connection" not in answer_headers(body=b"abc", reads=True)
    assert b"connection" not in answer_headers(body=b"", reads=False)


def test_http2_never_gets_the_header() -> None:
    assert b"connection" not in answer_headers(body=b"abc", reads=False, http_version="2")

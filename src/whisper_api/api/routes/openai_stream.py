"""OpenAI's streamed transcription (`stream=true`): `transcript.text.delta` events as the
decoder reports segments, then one `transcript.text.done`. With `response_format=diarized_json`,
a `transcript.text.segment` event for each segment of one speaker comes before the done event:
speakers are labelled once the text is complete.

The stream is watched from before the job can start (whisper_api.api.submission.accept_job's
`watch`), so no segment is missed. The decoder numbers its segments; deltas are sent in that
order only, so that their concatenation is always a prefix of the final text. Each segment's
text joins the others with one space, whatever spaces it had, so that a segment split where
the speaker changes joins the same. Segments this host never hears of (a job decoded by another
host of a shared queue) arrive in one delta at the end. While the job waits or decodes, a
comment line every KEEPALIVE_S keeps proxies from closing the stream; a job that fails or is
cancelled ends it with an `error` event, which the official client raises.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from whisper_api.api.errors import ApiError
from whisper_api.api.sse import KEEPALIVE, SubscribedStream
from whisper_api.api.submission import finished_job
from whisper_api.jobs.job import Job
from whisper_api.jobs.news.hub import Subscription
from whisper_api.jobs.news.notifier import SEGMENTS
from whisper_api.jobs.views import transcript_of
from whisper_api.outputs.formats import openai_diarized_json

KEEPALIVE_S = 15.0


def usage_of(job: Job) -> dict[str, Any]:
    """OpenAI's usage of a transcription billed by duration: whole seconds, rounded up."""
    return {"type": "duration", "seconds": math.ceil(transcript_of(job).duration_s)}


def transcript_stream(
    request: Request, job: Job, subscription: Subscription, *, diarized: bool = False
) -> StreamingResponse:
    """The events of `job`, read from `subscription` (taken before the job could start);
    `diarized`: with its segments, one speaker each, at the end."""
    return SubscribedStream(_events(request, job, subscription, diarized), subscription)


class StreamedText:
    """The text sent so far, built from numbered segments in their order."""

    def __init__(self) -> None:
        self.sent = ""
        self._next = 0
        self._waiting: dict[int, str] = {}

    def add(self, first: int, texts: list[str]) -> str:
        """The delta that segments `first`, `first + 1`, ... add (maybe ""); later ones wait for
        the segments before them."""
        for index, text in enumerate(texts, start=first):
            if index >= self._next:
                self._waiting[index] = " ".join(text.split())
        delta = ""
        while self._next in self._waiting:
            text = self._waiting.pop(self._next)
            self._next += 1
            if text:
                delta += f" {text}" if self.sent or delta else text
        self.sent += delta
        return delta

    @staticmethod
    def whole(texts: list[str]) -> str:
        """The text of every segment, joined as the deltas join them."""
        return " ".join(" ".join(text.split()) for text in texts if text.strip())


async def _events(
    request: Request, job: Job, subscription: Subscription, diarized: bool
) -> AsyncIterator[bytes]:
    end = asyncio.ensure_future(finished_job(request, job))
    text = StreamedText()
    try:
        while not end.done():
            if subscription.ended:
                await asyncio.wait({end}, timeout=KEEPALIVE_S)
                event = None
            else:
                event = await _next_event(subscription, end)
            if event is not None and event[0] == SEGMENTS:
                data = event[1]
                delta = text.add(int(data["first"]), [str(segment["text"]) for segment in data["segments"]])
                if delta:
                    yield _frame({"type": "transcript.text.delta", "delta": delta})
            elif not end.done():
                yield KEEPALIVE
        try:
            ended = end.result()
        except ApiError as exc:
            yield _frame({"type": "error", "error": {"message": exc.message, "type": exc.code}})
            return
        transcript = transcript_of(ended)
        whole = StreamedText.whole([segment.text for segment in transcript.segments])
        if whole.startswith(text.sent) and len(whole) > len(text.sent):
            yield _frame({"type": "transcript.text.delta", "delta": whole[len(text.sent) :]})
        if diarized:
            for segment in openai_diarized_json(transcript)["segments"]:
                yield _frame(segment)
        yield _frame({"type": "transcript.text.done", "text": whole, "usage": usage_of(ended)})
    finally:
        end.cancel()


async def _next_event(subscription: Subscription, end: asyncio.Future[Job]) -> tuple[str, Any] | None:
    """The subscription's next event, or None when the job ended or KEEPALIVE_S passed first."""
    waiting = asyncio.ensure_future(subscription.get())
    either: list[asyncio.Future[Any]] = [waiting, end]
    done, _ = await asyncio.wait(either, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED)
    if waiting in done:
        return waiting.result()
    waiting.cancel()
    return None


def _frame(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()

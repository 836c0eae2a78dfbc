"""Wyoming's framing, read within limits: a JSON header line, then `data_length` bytes of JSON
that add to its `data`, then `payload_length` bytes of payload (audio).

The `wyoming` package's own reader takes any length a header claims and reads it in full. This
one refuses a header line over MAX_HEADER_BYTES, data over MAX_DATA_BYTES and a payload over
MAX_PAYLOAD_BYTES before reading them, and says what was wrong with a BadFrame:

- `lost=False`: the message was read to its end and is dropped; the next one can be read.
- `lost=True`: where the next message starts is unknown (or not worth reading to), so the
  connection must end.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from wyoming.event import Event, async_write_event

from whisper_api.live.formats import MAX_RATE
from whisper_api.live.sessions import SEND_TIMEOUT_S

KIB = 1024
MAX_HEADER_BYTES = 8 * KIB
MAX_DATA_BYTES = 8 * KIB
# Home Assistant sends about a tenth of a second an audio-chunk; one second of 16-bit mono audio
# at the highest rate taken is ten times that with room to spare.
MAX_PAYLOAD_BYTES = 2 * MAX_RATE


class BadFrame(Exception):
    def __init__(self, message: str, *, lost: bool) -> None:
        super().__init__(message)
        self.message = message
        self.lost = lost


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, or None where the client closed the connection (mid-message too).

    The reader must have been opened with `limit=MAX_HEADER_BYTES`."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as exc:
        raise BadFrame(f"a header line is longer than {MAX_HEADER_BYTES // KIB} KiB", lost=True) from exc
    header = _json_object(line, "a header")
    data_length = _length(header, "data_length", MAX_DATA_BYTES)
    payload_length = _length(header, "payload_length", MAX_PAYLOAD_BYTES)
    try:
        extra = await reader.readexactly(data_length) if data_length else b""
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None
    kind, data = header.get("type"), header.get("data", {})
    if not isinstance(kind, str) or not isinstance(data, dict):
        raise BadFrame("a header is a JSON object with a string 'type' and an object 'data'", lost=False)
    if extra:
        data = {**data, **_json_object(extra, "an event's data")}
    return Event(kind, data, payload)


async def write_event(writer: asyncio.StreamWriter, event: Event) -> None:
    """Send an event; TimeoutError where the client has not taken it within SEND_TIMEOUT_S."""
    await asyncio.wait_for(async_write_event(event, writer), SEND_TIMEOUT_S)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise BadFrame(f"{what} is not a JSON object", lost=False)
    return value


def _length(header: dict[str, Any], name: str, limit: int) -> int:
    value = header.get(name) or 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadFrame(f"{name} must be a whole number of bytes", lost=True)
    if value > limit:
        raise BadFrame(f"{name} {value} is over this server's limit of {limit} bytes", lost=True)
    return value

from __future__ import annotations

import asyncio
import json

import pytest

from whisper_api.live.wyoming.framing import (
    MAX_DATA_BYTES,
    MAX_HEADER_BYTES,
    MAX_PAYLOAD_BYTES,
    BadFrame,
    read_event,
)


def reader_of(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_an_event_with_data_and_payload_is_read_whole() -> None:
    extra = json.dumps({"width": 2}).encode()
    head = {"type": "audio-chunk", "data": {"rate": 16000}, "data_length": len(extra), "payload_length": 4}
    sent = json.dumps(head).encode() + b"\n" + extra + b"abcd"

    async def read() -> None:
        reader = reader_of(sent + b'{"type": "audio-stop"}\n')
        event = await read_event(reader)
        assert event is not None
        assert (event.type, event.data, event.payload) == (
            "audio-chunk",
            {"rate": 16000, "width": 2},
            b"abcd",
        )
        stop = await read_event(reader)
        assert stop is not None and stop.type == "audio-stop"
        assert await read_event(reader) is None

    asyncio.run(read())


@pytest.mark.parametrize(
    ("sent", "lost"),
    [
        (b"[1]\n", False),
        (b'{"data": {}}\n', False),
        (b'{"type": "x", "data": [1]}\n', False),
        (b"[" * 10_000 + b"\n", True),  # longer than a header may be
        (b'{"type": "x", "data_length": "abc"}\n', True),
        (b'{"type": "x", "data_length": -1}\n', True),
        (json.dumps({"type": "x", "data_length": MAX_DATA_BYTES + 1}).encode() + b"\n", True),
        (json.dumps({"type": "x", "payload_length": MAX_PAYLOAD_BYTES + 1}).encode() + b"\n", True),
        (b'{"type": "x", "payload_length": 4294967296}\n', True),
    ],
)
def test_a_malformed_or_oversized_message_is_refused_before_it_is_read(sent: bytes, lost: bool) -> None:
    async def read() -> None:
        with pytest.raises(BadFrame) as refused:
            await read_event(reader_of(sent))
        assert refused.value.lost is lost

    asyncio.run(read())


def test_a_message_cut_off_is_the_end_of_the_stream() -> None:
    async def read() -> None:
        assert await read_event(reader_of(b'{"type": "x", "payload_length": 10}\nabc')) is None

    asyncio.run(read())

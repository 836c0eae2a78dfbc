"""Receives a multipart/form-data upload by streaming it to disk, never holding the file in memory.

The body goes through python-multipart's push parser chunk by chunk as the client sends it. The
part named `file` is appended to `<stem>.part` in batches, written from a worker thread so that the
event loop keeps serving other requests; once the body is complete the file is flushed to disk
(fsync of the file, then of the directory after the rename to its final name), so that an upload
the client hears accepted survives a power cut as its job row does. The size limit is enforced
as bytes arrive, and so is the pace: a client that sends nothing for UPLOAD_TIMEOUT_S, or whose
average rate falls below MIN_UPLOAD_KIB_PER_S after that long, is cut off with 408. Whatever goes
wrong (a bad body, a limit, a client that disconnects, a cancelled request, a full disk) the
partial file is deleted. The memory an upload holds is one batch, however slowly it arrives.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import struct
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from whisper_api.api.errors import BadRequest, PayloadTooLarge, RequestTimeout
from whisper_api.jobs.errors import storage_failure
from whisper_api.jobs.intake.speaker_options import MAX_KNOWN_SPEAKERS, MAX_REFERENCE_BYTES, REFERENCES_FIELD
from whisper_api.jobs.job import delete_file, fsync_path

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILE_FIELD = "file"
# Raw PCM uploads (whisper-asr-webservice's encode=false): 16 kHz mono signed 16-bit little-endian.
RAW_PCM_RATE = 16000
MAX_FIELDS = 24
MAX_FIELD_BYTES = 64 * 1024
# A known speaker's reference clip, base64 in a data URL, may be longer than other fields.
REFERENCE_FIELD_BYTES = MAX_REFERENCE_BYTES * 4 // 3 + 1024
# Room in the body besides the file: the text fields, each part's headers and the boundaries.
MULTIPART_OVERHEAD = MAX_FIELDS * MAX_FIELD_BYTES + MAX_KNOWN_SPEAKERS * REFERENCE_FIELD_BYTES + 1024 * 1024
# File data is written in batches of this size: large enough that handing each batch to a worker
# thread costs little, small enough that many uploads in progress are no memory concern.
WRITE_BATCH_BYTES = 256 * 1024
_MIB = 1024 * 1024
_SUFFIX = re.compile(r"\.[a-z0-9]{1,15}")
_DIGITS = re.compile(r"[0-9]+")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedUpload:
    path: Path
    """The stored file, already renamed to its final name."""
    filename: str
    """The client's file name, reduced to a safe base name ("upload" if it gave none)."""
    size: int
    """Bytes in the file."""
    fields: dict[str, str]
    """The other (text) form fields; the values of a name sent more than once (as OpenAI clients
    send `timestamp_granularities[]`) joined by commas."""
    sha256: str
    """The hex SHA-256 of the file's bytes as the client sent them."""


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    """The largest file accepted (MAX_UPLOAD_MB)."""
    idle_timeout_s: float
    """The longest pause between two parts of the body; also the time before the rate counts."""
    min_bytes_per_s: float
    """The lowest average rate accepted once idle_timeout_s have passed; 0: any rate."""


@dataclass(frozen=True)
class UploadForm:
    """Where the file is in the form, and what it is."""

    field: str = FILE_FIELD
    """The name of the form field that holds the file."""
    raw_pcm: bool = False
    """The file is headerless 16 kHz mono s16le PCM: it is stored as WAV (the header written
    in front of the bytes as they arrive, its sizes filled in at the end)."""

    @property
    def reading(self) -> str:
        """How the file's bytes are read: the same bytes read two ways are two different uploads."""
        return "pcm_s16le 16 kHz mono" if self.raw_pcm else "media file"


# The form of the job APIs and OpenAI's: any file, in the field `file`.
FILE_FORM = UploadForm()


async def receive_upload(
    request: Request, directory: Path, stem: str, limits: UploadLimits, form_kind: UploadForm = FILE_FORM
) -> ReceivedUpload:
    """Store the form's file field as `directory/<stem><suffix>`, the suffix from the client's
    name (".wav" for raw PCM).

    Raises BadRequest for a body that is not a multipart form with one file in its field,
    PayloadTooLarge when the file is over the limit, RequestTimeout for a client too slow, and
    StoreUnavailable when the disk refuses the file. Nothing stays in `directory` unless it
    returns.
    """
    how_to_send = f"send the audio or video as the multipart form field {form_kind.field!r}"
    boundary = _boundary(request.headers.get("content-type", ""), how_to_send)
    body_limit = limits.max_bytes + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if _DIGITS.fullmatch(declared) and int(declared) > body_limit:
        raise _too_large(limits.max_bytes)
    form = _FormReader(directory / f"{stem}.part", limits.max_bytes, form_kind, how_to_send)
    final: Path | None = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        parser = MultipartParser(boundary, form.callbacks())
        received = 0
        async with aclosing(_paced(request.stream(), limits)) as chunks:
            async for chunk in chunks:
                received += len(chunk)
                if received > body_limit:
                    raise _too_large(limits.max_bytes)
                parser.write(chunk)
                if len(form.pending) >= WRITE_BATCH_BYTES:
                    await form.write_pending()
        await form.write_pending()
        form.check_complete()
        if form_kind.raw_pcm:
            await asyncio.to_thread(_complete_wav_header, form.partial, form.file_size)
        await asyncio.to_thread(fsync_path, form.partial)
        # Renamed on the event loop (it is quick) rather than in a thread that could outlive a
        # cancellation and leave the file behind under its final name.
        suffix = ".wav" if form_kind.raw_pcm else _suffix(form.filename or "")
        final = directory / f"{stem}{suffix}"
        os.replace(form.partial, final)
        await asyncio.to_thread(fsync_path, directory)
        filename = form.filename or "upload"
        return ReceivedUpload(final, filename, form.file_size, form.fields, form.digest.hexdigest())
    except FormParserError as exc:
        form.partial.unlink(missing_ok=True)
        # The parser's own words are for the log; the client hears what to send instead.
        log.info("refused a malformed multipart body: %s", exc)
        raise BadRequest(f"the body is not a valid multipart form: {how_to_send}") from exc
    except OSError as exc:
        _discard(form.partial, final)
        raise storage_failure(exc) from exc
    except BaseException:
        _discard(form.partial, final)
        raise


async def _paced(chunks: AsyncGenerator[bytes, None], limits: UploadLimits) -> AsyncGenerator[bytes, None]:
    """The body's chunks, cut off with RequestTimeout where the client is too slow."""
    started = time.monotonic()
    received = 0
    async with aclosing(chunks):
        while True:
            now = time.monotonic()
            deadline = now + limits.idle_timeout_s
            if limits.min_bytes_per_s:
                # The average since the start must stay at the minimum once the grace time is over.
                needed_by = started + received / limits.min_bytes_per_s
                deadline = min(deadline, max(started + limits.idle_timeout_s, needed_by))
            try:
                async with asyncio.timeout(deadline - now):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise _too_slow(limits) from None
            received += len(chunk)
            yield chunk


def _too_slow(limits: UploadLimits) -> RequestTimeout:
    return RequestTimeout(
        f"the upload arrived too slowly: at least {limits.min_bytes_per_s / 1024:g} KiB/s on average, "
        f"with no pause over {limits.idle_timeout_s:g} s (UPLOAD_TIMEOUT_S, MIN_UPLOAD_KIB_PER_S)"
    )


def _discard(partial: Path, final: Path | None) -> None:
    for path in (partial, final):
        if path is not None:
            delete_file(path)


@dataclass
class _Part:
    name: str = ""
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


class _FormReader:
    """The parser's callbacks: they collect the text fields and queue the file's bytes for writing."""

    def __init__(self, partial: Path, max_bytes: int, kind: UploadForm, how_to_send: str) -> None:
        self.partial = partial
        self.max_bytes = max_bytes
        self.kind = kind
        self.how_to_send = how_to_send
        self.digest = hashlib.sha256()
        self.pending = bytearray()
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_size = 0
        self.file_complete = False
        self.ended = False
        self._field_count = 0
        self._part = _Part()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        }

    async def write_pending(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, bytearray()
        await asyncio.to_thread(_append, self.partial, batch)

    def check_complete(self) -> None:
        if not self.ended:
            raise BadRequest("the multipart body ended before its closing boundary: the upload is incomplete")
        if self.filename is None or not self.file_complete:
            raise BadRequest(f"the form has no file in the field {self.kind.field!r}: {self.how_to_send}")

    def _on_part_begin(self) -> None:
        self._part = _Part()
        self._disposition = b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise BadRequest(
                "a part of the multipart form has no name (Content-Disposition: form-data; name=...)"
            )
        self._part.name = _decode(options[b"name"])
        if b"filename" in options:
            if self._part.name != self.kind.field or self.filename is not None:
                raise BadRequest(
                    f"the form may hold only one file, in the field {self.kind.field!r}: {self.how_to_send}"
                )
            self._part.is_file = True
            self.filename = _safe_filename(_decode(options[b"filename"]))
            # Created here on the event loop, so that a write still running in a worker thread
            # after a cancellation can only append to it, never create it again once deleted.
            self.partial.write_bytes(_wav_header(0) if self.kind.raw_pcm else b"")
        elif self._part.name == self.kind.field:
            raise BadRequest(f"the field {self.kind.field!r} holds text, not a file: {self.how_to_send}")
        else:
            self._field_count += 1
            if self._field_count > MAX_FIELDS:
                raise BadRequest(f"the form has more than {MAX_FIELDS} text fields")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = memoryview(data)[start:end]
        if self._part.is_file:
            self.file_size += len(chunk)
            if self.file_size > self.max_bytes:
                raise _too_large(self.max_bytes)
            self.digest.update(chunk)
            self.pending += chunk
        else:
            self._part.data += chunk
            limit = REFERENCE_FIELD_BYTES if self._part.name == REFERENCES_FIELD else MAX_FIELD_BYTES
            if len(self._part.data) > limit:
                raise BadRequest(f"the form field {self._part.name!r} is longer than {limit // 1024} KiB")

    def _on_part_end(self) -> None:
        if self._part.is_file:
            self.file_complete = True
        else:
            value = _decode(bytes(self._part.data))
            earlier = self.fields.get(self._part.name)
            self.fields[self._part.name] = value if earlier is None else f"{earlier},{value}"

    def _on_end(self) -> None:
        self.ended = True


def _boundary(content_type: str, how_to_send: str) -> bytes:
    media_type, options = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise BadRequest(
            f"the request is not a multipart form (Content-Type multipart/form-data): {how_to_send}"
        )
    boundary = options.get(b"boundary", b"")
    if not boundary:
        raise BadRequest(f"the multipart Content-Type has no boundary: {how_to_send}")
    return boundary


def _wav_header(data_bytes: int) -> bytes:
    """A canonical 44-byte WAV header for `data_bytes` of RAW_PCM_RATE mono s16le samples (its
    32-bit sizes saturate, which ffmpeg reads as "to the end of the file")."""
    data_bytes = min(data_bytes, 0xFFFFFFFF - 36)
    channels, sample_bytes = 1, 2
    block = channels * sample_bytes
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        channels,
        RAW_PCM_RATE,
        RAW_PCM_RATE * block,
        block,
        8 * sample_bytes,
        b"data",
        data_bytes,
    )


def _complete_wav_header(path: Path, data_bytes: int) -> None:
    with open(path, "r+b") as target:
        target.write(_wav_header(data_bytes))


def _append(path: Path, data: bytearray) -> None:
    # No O_CREAT: a write that outlives its cancelled request must not recreate a deleted file.
    with open(os.open(path, os.O_WRONLY | os.O_APPEND), "wb") as target:
        target.write(data)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the upload is larger than the limit of {max_bytes / _MIB:g} MB (MAX_UPLOAD_MB)")


def _decode(raw: bytes) -> str:
    """UTF-8 as browsers send it, or Latin-1 for the odd client that sends that instead."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _safe_filename(raw: str) -> str:
    """The base name of a client's path, without control characters; "upload" where none is left."""
    base = re.split(r"[/\\]", raw)[-1]
    name = "".join(char for char in base if char.isprintable()).strip()
    return name[:255] if name not in ("", ".", "..") else "upload"


def _suffix(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower()
    return suffix if _SUFFIX.fullmatch(suffix) else ""

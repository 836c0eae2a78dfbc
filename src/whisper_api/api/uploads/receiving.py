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
import logging
import os
import re
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path, PurePath

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from starlette.requests import Request

from whisper_api.api.errors import BadRequest, RequestTimeout
from whisper_api.api.uploads.form import FILE_FORM, MULTIPART_OVERHEAD, FormReader, UploadForm, too_large
from whisper_api.api.uploads.form import boundary as form_boundary
from whisper_api.api.uploads.wav import complete_wav_header
from whisper_api.jobs.errors import storage_failure
from whisper_api.jobs.job import delete_file, fsync_path

# File data is written in batches of this size: large enough that handing each batch to a worker
# thread costs little, small enough that many uploads in progress are no memory concern.
WRITE_BATCH_BYTES = 256 * 1024
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
    boundary = form_boundary(request.headers.get("content-type", ""), how_to_send)
    body_limit = limits.max_bytes + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if _DIGITS.fullmatch(declared) and int(declared) > body_limit:
        raise too_large(limits.max_bytes)
    form = FormReader(directory / f"{stem}.part", limits.max_bytes, form_kind, how_to_send)
    final: Path | None = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        parser = MultipartParser(boundary, form.callbacks())
        received = 0
        async with aclosing(_paced(request.stream(), limits)) as chunks:
            async for chunk in chunks:
                received += len(chunk)
                if received > body_limit:
                    raise too_large(limits.max_bytes)
                parser.write(chunk)
                if len(form.pending) >= WRITE_BATCH_BYTES:
                    await form.write_pending()
        await form.write_pending()
        form.check_complete()
        if form_kind.raw_pcm:
            await asyncio.to_thread(complete_wav_header, form.partial, form.file_size)
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


def _suffix(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower()
    return suffix if _SUFFIX.fullmatch(suffix) else ""

"""The multipart/form-data body of an upload, read by python-multipart's push parser as it
arrives (whisper_api.api.uploads.receiving feeds it): the text fields, held within their
limits, and the one file part, whose bytes are queued for writing to its partial file and
hashed on the way. Which field holds the file, and how its bytes are read, is the form's kind
(UploadForm)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from python_multipart.multipart import parse_options_header

from whisper_api.api.errors import BadRequest, PayloadTooLarge
from whisper_api.api.uploads.wav import wav_header
from whisper_api.jobs.intake.speaker_options import MAX_KNOWN_SPEAKERS, MAX_REFERENCE_BYTES, REFERENCES_FIELD

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILE_FIELD = "file"
MAX_FIELDS = 24
MAX_FIELD_BYTES = 64 * 1024
# A known speaker's reference clip, base64 in a data URL, may be longer than other fields.
REFERENCE_FIELD_BYTES = MAX_REFERENCE_BYTES * 4 // 3 + 1024
# Room in the body besides the file: the text fields, each part's headers and the boundaries.
MULTIPART_OVERHEAD = MAX_FIELDS * MAX_FIELD_BYTES + MAX_KNOWN_SPEAKERS * REFERENCE_FIELD_BYTES + 1024 * 1024
_MIB = 1024 * 1024


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


@dataclass
class _Part:
    name: str = ""
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


class FormReader:
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
            self.partial.write_bytes(wav_header(0) if self.kind.raw_pcm else b"")
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
                raise too_large(self.max_bytes)
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


def boundary(content_type: str, how_to_send: str) -> bytes:
    media_type, options = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise BadRequest(
            f"the request is not a multipart form (Content-Type multipart/form-data): {how_to_send}"
        )
    boundary = options.get(b"boundary", b"")
    if not boundary:
        raise BadRequest(f"the multipart Content-Type has no boundary: {how_to_send}")
    return boundary


def _append(path: Path, data: bytearray) -> None:
    # No O_CREAT: a write that outlives its cancelled request must not recreate a deleted file.
    with open(os.open(path, os.O_WRONLY | os.O_APPEND), "wb") as target:
        target.write(data)


def too_large(max_bytes: int) -> PayloadTooLarge:
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

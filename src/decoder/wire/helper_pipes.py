"""Messages of the helper processes' pipes, frozen dataclasses of primitives as in
decoder.wire.protocol (which the decoders' pipe speaks).

The upload checker (decoder.checking), one long-lived process:

    front end  --CheckUpload-->  checker
    front end  <--UploadChecked / UploadRefused / CheckFailed--  checker

A model import (decoder.model_import.job), one process per import, told what to do at spawn:

    front end  <--ImportProgress / ImportFinished / ImportFailed--  importer
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Front end <-> upload checker.


@dataclass(frozen=True)
class CheckUpload:
    """Check the upload at `path` before it is queued."""

    path: str


@dataclass(frozen=True)
class UploadChecked:
    """The upload can be decoded."""

    # Seconds of audio (None where unknown).
    duration_s: float | None
    # The container's demuxer (decoder.wire.containers), pinned when the decoder decodes it.
    demuxer: str
    # The audio track's channels.
    channels: int = 1


@dataclass(frozen=True)
class UploadRefused:
    """The upload is no audio this server accepts: `reason` is for the client, `detail` (the
    media libraries' own words, no server path) for the log."""

    reason: str
    detail: str


@dataclass(frozen=True)
class CheckFailed:
    """The check itself failed, unexpectedly; the traceback is for the log."""

    traceback: str


FromChecker = UploadChecked | UploadRefused | CheckFailed


# Model importer -> front end.


@dataclass(frozen=True)
class ImportProgress:
    """How far an import is: `stage` is "downloading" (bytes) or "converting" (no counts)."""

    stage: str
    done: int = 0
    # None where the size is not known (a server that sends no length).
    total: int | None = None


@dataclass(frozen=True)
class ImportFinished:
    """The model is in MODEL_DIR: the files written, for each engine that can load them."""

    paths: tuple[str, ...]


@dataclass(frozen=True)
class ImportFailed:
    """Nothing of the import is left behind; `reason` is for the client, `traceback` (where the
    failure was unexpected) for the front end's log."""

    reason: str
    traceback: str = ""


FromImporter = ImportProgress | ImportFinished | ImportFailed


# Front end -> model importer, at spawn.

# What an import's source may be besides a directory on the server: openai-whisper's own
# published checkpoint, a checkpoint URL in its layout (the path names the file's SHA-256 before
# its name), or a CTranslate2 repository on the Hugging Face hub.
OPENAI_SOURCE = "openai"
CHECKPOINT_URL = re.compile(r"^https?://\S+/(?P<sha256>[0-9a-f]{64})/[^/\s]+\.pt$")
HUB_SOURCE = re.compile(r"^hf:(?P<repo>[\w.-]+/[\w.-]+)$")


@dataclass(frozen=True)
class ImportRequest:
    """Bring model `name` (an official name) into `model_dir` from `source`: a directory on the
    server (as `whisper-api import-model` takes), "openai" (openai-whisper's published checkpoint),
    an http(s) URL in openai-whisper's layout (…/<sha256>/<file>.pt), or "hf:<owner>/<repo>", a
    CTranslate2 model repository on the Hugging Face hub (`hub_endpoint`)."""

    name: str
    source: str
    model_dir: str
    hub_endpoint: str

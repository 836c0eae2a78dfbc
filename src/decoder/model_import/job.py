"""A model import in a process of its own (the front end's `POST /api/v1/models`): it downloads
or converts, reports its progress over its pipe, and ends with ImportFinished or ImportFailed.
Whatever it fails at, nothing of it is left in MODEL_DIR.

Sources (decoder.wire.helper_pipes.ImportRequest):
- a directory on the server: converted as `whisper-api import-model` does (decoder.model_import);
- "openai", or an http(s) URL in openai-whisper's layout (<base>/<sha256>/<file>.pt): the
  checkpoint is downloaded and its SHA-256 checked against the one its URL names, as
  openai-whisper checks its own downloads; it serves the openai-whisper engine;
- "hf:<owner>/<repo>": a CTranslate2 model repository on the Hugging Face hub, its files fetched
  by the hub's `<endpoint>/<repo>/resolve/main/<file>` URLs, then imported as a directory (both
  engines).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import signal
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from decoder.errors import ModelImportError
from decoder.wire.helper_pipes import (
    CHECKPOINT_URL,
    HUB_SOURCE,
    OPENAI_SOURCE,
    FromImporter,
    ImportFailed,
    ImportFinished,
    ImportProgress,
    ImportRequest,
)
from decoder.wire.models import MODELS

# The files of a CTranslate2 Whisper repository (faster-whisper's conversions); those after the
# first two are optional (a hub answers 404 for a file a repository does not have).
HUB_FILES = (
    "model.bin",
    "config.json",
    "tokenizer.json",
    "vocabulary.json",
    "vocabulary.txt",
    "preprocessor_config.json",
)
REQUIRED_HUB_FILES = 2
CHUNK = 1 << 20
PROGRESS_EVERY_S = 0.25
TIMEOUT_S = 60.0

Report = Callable[[FromImporter], None]


def run(conn: Connection, request: ImportRequest) -> None:
    """Entry point of the importer process."""
    # The server stops an import with SIGTERM: exiting through the finally blocks removes what
    # it had written.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    try:
        paths = import_from(request, conn.send)
    except ModelImportError as exc:
        conn.send(ImportFailed(str(exc)))
    except Exception as exc:
        conn.send(ImportFailed(f"unexpected failure: {type(exc).__name__}: {exc}", traceback.format_exc()))
    else:
        conn.send(ImportFinished(tuple(str(path) for path in paths)))
    finally:
        conn.close()


def official_url(name: str) -> str:
    """openai-whisper's published checkpoint URL of the model."""
    import whisper

    url: str = whisper._MODELS[MODELS[name].file_stem]
    return url


def import_from(request: ImportRequest, report: Report) -> list[Path]:
    model_dir = Path(request.model_dir)
    stem = MODELS[request.name].file_stem
    source = request.source
    if source == OPENAI_SOURCE:
        source = official_url(request.name)
    if CHECKPOINT_URL.match(source):
        return [download_checkpoint(source, model_dir / f"{stem}.pt", report)]
    if match := HUB_SOURCE.match(source):
        return import_hub_repository(request.hub_endpoint, match["repo"], stem, model_dir, report)
    return import_directory(Path(source).expanduser(), stem, model_dir, report)


def import_directory(source: Path, stem: str, model_dir: Path, report: Report) -> list[Path]:
    from decoder.model_import import import_model
    from decoder.wire.models import has_ct2_copy

    report(ImportProgress("converting"))
    checkpoint = import_model(source, stem, model_dir)
    ct2 = model_dir / "ctranslate2" / stem
    return [checkpoint, ct2] if has_ct2_copy(model_dir, stem) else [checkpoint]


def download_checkpoint(url: str, destination: Path, report: Report) -> Path:
    """Download `url` to `destination` whole or not at all, refusing a copy whose SHA-256 is not
    the one the URL names."""
    match = CHECKPOINT_URL.match(url)
    assert match is not None
    expected = match["sha256"]
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{time.time_ns()}.part")
    try:
        digest = _fetch(url, partial, report)
        if digest != expected:
            raise ModelImportError(
                f"the download from {url} is corrupt: its SHA-256 is {digest}, the URL names {expected}; "
                "nothing was kept"
            )
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)
    return destination


def import_hub_repository(endpoint: str, repo: str, stem: str, model_dir: Path, report: Report) -> list[Path]:
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{stem}.hub.", dir=model_dir))
    try:
        for index, name in enumerate(HUB_FILES):
            url = f"{endpoint.rstrip('/')}/{repo}/resolve/main/{name}"
            try:
                _fetch(url, staging / name, report)
            except ModelImportError:
                if index < REQUIRED_HUB_FILES:
                    raise
                (staging / name).unlink(missing_ok=True)
        return import_directory(staging, stem, model_dir, report)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch(url: str, target: Path, report: Report) -> str:
    """Write what `url` serves to `target`, reporting the bytes as they come; its SHA-256."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, target.open("wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done, reported = 0, 0.0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if time.monotonic() - reported >= PROGRESS_EVERY_S:
                    report(ImportProgress("downloading", done, total))
                    reported = time.monotonic()
            report(ImportProgress("downloading", done, total))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            target.unlink()
        raise ModelImportError(f"cannot download {url}: {exc}") from exc
    return digest.hexdigest()

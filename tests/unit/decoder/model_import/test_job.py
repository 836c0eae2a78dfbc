from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from decoder.errors import ModelImportError
from decoder.model_import.job import download_checkpoint, import_from
from decoder.wire.helper_pipes import FromImporter, ImportProgress, ImportRequest


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Not on the test's output."""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "served"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def publish(root: Path, data: bytes, digest: str) -> str:
    path = root / digest / "tiny.pt"
    path.parent.mkdir()
    path.write_bytes(data)
    return f"{digest}/tiny.pt"


def test_a_download_is_checked_and_reported(served: tuple[Path, str], tmp_path: Path) -> None:
    root, base = served
    data = bytes(range(256)) * 20_000
    url = f"{base}/{publish(root, data, hashlib.sha256(data).hexdigest())}"
    heard: list[FromImporter] = []
    models = tmp_path / "models"
    assert download_checkpoint(url, models / "tiny.pt", heard.append) == models / "tiny.pt"
    assert (models / "tiny.pt").read_bytes() == data
    assert heard[-1] == ImportProgress("downloading", len(data), len(data))


def test_a_corrupt_download_is_refused_and_nothing_is_kept(served: tuple[Path, str], tmp_path: Path) -> None:
    root, base = served
    url = f"{base}/{publish(root, b'not the weights', 'cd' * 32)}"
    models = tmp_path / "models"
    with pytest.raises(ModelImportError, match="corrupt: its SHA-256 is"):
        download_checkpoint(url, models / "tiny.pt", lambda message: None)
    assert list(models.iterdir()) == []


def test_a_hub_repository_without_its_weights_leaves_nothing(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    _, base = served
    models = tmp_path / "models"
    request = ImportRequest("tiny", "hf:owner/missing", str(models), base)
    with pytest.raises(ModelImportError, match=r"cannot download .*/model\.bin"):
        import_from(request, lambda message: None)
    assert list(models.iterdir()) == []

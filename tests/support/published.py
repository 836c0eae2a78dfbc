"""Models published as openai-whisper and the Hugging Face hub publish them, by a loopback HTTP
server of the test's own: the model-import tests download from it, with no network."""

from __future__ import annotations

import functools
import hashlib
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# A CTranslate2 repository's name on the hub, as faster-whisper's models are published.
HUB_REPOSITORY = "Systran/faster-whisper-tiny.en"


@dataclass(frozen=True)
class Published:
    # The checkpoint at openai-whisper's URL layout (…/<sha256>/<name>.pt).
    checkpoint_url: str
    # A corrupted copy, under the real checkpoint's SHA-256.
    corrupt_url: str
    # The server's root: a hub endpoint (HF_ENDPOINT) that serves HUB_REPOSITORY.
    hub_endpoint: str
    size: int


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Not on the test's output."""


@contextmanager
def published(root: Path, checkpoint: Path, ct2_model: Path) -> Iterator[Published]:
    """Serve tiny.en's `checkpoint` and its CTranslate2 directory `ct2_model` from `root`."""
    data = checkpoint.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    good = root / "main" / "whisper" / "models" / digest / checkpoint.name
    good.parent.mkdir(parents=True)
    good.write_bytes(data)
    corrupt = root / "corrupt" / digest / checkpoint.name
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(data[:-1000] + bytes(1000))
    shutil.copytree(ct2_model, root / HUB_REPOSITORY / "resolve" / "main")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield Published(
            f"{base}/main/whisper/models/{digest}/{checkpoint.name}",
            f"{base}/corrupt/{digest}/{checkpoint.name}",
            base,
            len(data),
        )
    finally:
        server.shutdown()
        server.server_close()

"""Streaming uploads: through a small app with TestClient, directly with hand-made ASGI messages
(disconnects, cancellation, a body never read), and through a real hypercorn server for memory."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message, Receive

from whisper_api.api.errors import EXCEPTION_HANDLERS, PayloadTooLarge
from whisper_api.api.uploads.form import MAX_FIELD_BYTES, MAX_FIELDS, UploadForm
from whisper_api.api.uploads.receiving import WRITE_BATCH_BYTES, UploadLimits, receive_upload

MIB = 1024 * 1024
BOUNDARY = "test-boundary-7d1f"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
REPO = Path(__file__).resolve().parents[5]


def limits(max_bytes: int) -> UploadLimits:
    """The size limit, and a pace no test client is too slow for."""
    return UploadLimits(max_bytes=max_bytes, idle_timeout_s=600, min_bytes_per_s=0)


def upload_app(directory: Path) -> Starlette:
    """One route that stores an upload; the query sets the stem and the limit (1 MiB by default)."""

    async def upload(request: Request) -> Response:
        stem = request.query_params.get("stem", "task")
        max_bytes = int(request.query_params.get("max_bytes", MIB))
        form = UploadForm(request.query_params.get("field", "file"), raw_pcm="raw" in request.query_params)
        received = await receive_upload(request, directory, stem, limits(max_bytes), form)
        return JSONResponse(
            {
                "path": received.path.name,
                "filename": received.filename,
                "size": received.size,
                "fields": received.fields,
                "sha256": received.sha256,
            }
        )

    return Starlette(
        routes=[Route("/upload", upload, methods=["POST"])], exception_handlers=EXCEPTION_HANDLERS
    )


def form_body(*parts: tuple[str, str | None, bytes], closed: bool = True) -> bytes:
    """A multipart body of (name, filename or None for a text field, content) parts."""
    body = bytearray()
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    if closed:
        body += f"--{BOUNDARY}--\r\n".encode()
    return bytes(body)


def file_part_head(filename: str = "big.wav") -> bytes:
    return form_body(("file", filename, b""), closed=False)[: -len(b"\r\n")]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def test_client(store: Path) -> Iterator[TestClient]:
    with TestClient(upload_app(store)) as client:
        yield client


def post_form(client: TestClient, body: bytes, content_type: str = MULTIPART) -> tuple[int, dict[str, Any]]:
    """The status and JSON of a POST of a hand-made body; errors carry their message in "detail"."""
    response = client.post("/upload", content=body, headers={"content-type": content_type})
    return response.status_code, response.json()


# The file's bytes include what a boundary starts with, and span several write batches.
AUDIO = os.urandom(WRITE_BATCH_BYTES * 2 + 12345) + b"\r\n--" + BOUNDARY.encode()[:-1] + b"\r\n"


def test_the_file_is_stored_whole_with_the_text_fields(test_client: TestClient, store: Path) -> None:
    response = test_client.post(
        "/upload?max_bytes=10000000",
        files={"file": ("Meeting.MP3", AUDIO, "audio/mpeg")},
        data={"language": "de", "note": "Grüße"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "path": "task.mp3",
        "filename": "Meeting.MP3",
        "size": len(AUDIO),
        "fields": {"language": "de", "note": "Grüße"},
        "sha256": hashlib.sha256(AUDIO).hexdigest(),
    }
    assert (store / "task.mp3").read_bytes() == AUDIO
    assert sorted(path.name for path in store.iterdir()) == ["task.mp3"]


def test_raw_pcm_is_stored_as_wav_under_its_own_field(test_client: TestClient, store: Path) -> None:
    """whisper-asr-webservice's encode=false: headerless 16 kHz mono s16le in `audio_file`."""
    pcm = AUDIO[: len(AUDIO) // 2 * 2]
    response = test_client.post(
        "/upload?max_bytes=10000000&field=audio_file&raw=1", files={"audio_file": ("audio_file", pcm)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "task.wav" and response.json()["size"] == len(pcm)
    assert response.json()["sha256"] == hashlib.sha256(pcm).hexdigest()
    with wave.open(str(store / "task.wav")) as stored:
        assert (stored.getnchannels(), stored.getsampwidth(), stored.getframerate()) == (1, 2, 16000)
        assert stored.readframes(stored.getnframes()) == pcm
    # The job APIs' field name is refused there, by name.
    refused = test_client.post("/upload?field=audio_file&raw=1", files={"file": ("x", pcm[:100])})
    assert refused.status_code == 400 and "'audio_file'" in refused.json()["error"]["message"]
    assert sorted(path.name for path in store.iterdir()) == ["task.wav"]


@pytest.mark.parametrize(
    ("sent", "filename", "stored"),
    [
        ("talk.wav", "talk.wav", "task.wav"),
        ("Talk.Ogg ", "Talk.Ogg", "task.ogg"),
        ("../../etc/passwd.wav", "passwd.wav", "task.wav"),
        ("C:\\Users\\me\\clip.M4A", "clip.M4A", "task.m4a"),
        ("archive.tar.gz", "archive.tar.gz", "task.gz"),
        ("Grüße.flac", "Grüße.flac", "task.flac"),
        ("tab\there.mp3", "tabhere.mp3", "task.mp3"),
        ("no_extension", "no_extension", "task"),
        ("sound.wav;x=1", "sound.wav;x=1", "task"),
        ("voice.ü", "voice.ü", "task"),
        ("voice.averyverylongext", "voice.averyverylongext", "task"),
        ("", "upload", "task"),
        ("..", "upload", "task"),
    ],
)
def test_the_name_is_reduced_to_a_safe_base_name_and_suffix(
    test_client: TestClient, store: Path, sent: str, filename: str, stored: str
) -> None:
    status, body = post_form(test_client, form_body(("file", sent, b"RIFF")))
    assert status == 200, body
    assert (body["filename"], body["path"]) == (filename, stored)
    assert [path.name for path in store.iterdir()] == [stored]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"file": "x"}'),
        ("application/x-www-form-urlencoded", b"file=x"),
        ("multipart/form-data", form_body(("file", "a.wav", b"RIFF"))),
        ("", b"RIFF"),
    ],
)
def test_a_body_that_is_not_a_multipart_form_is_400(
    test_client: TestClient, store: Path, content_type: str, body: bytes
) -> None:
    status, answer = post_form(test_client, body, content_type)
    assert status == 400
    assert "multipart form field 'file'" in answer["detail"]
    assert not store.exists() or list(store.iterdir()) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (form_body(("language", None, b"en")), "no file in the field 'file'"),
        (form_body(("file", None, b"RIFF")), "holds text, not a file"),
        (form_body(("file", "a.wav", b"RIFF"), ("file", "b.wav", b"RIFF")), "only one file"),
        (form_body(("file", "a.wav", b"RIFF"), ("other", "b.wav", b"RIFF")), "only one file"),
        (form_body(("other", "a.wav", b"RIFF")), "only one file"),
        (form_body(("file", "a.wav", b"RIFF"), closed=False), "ended before its closing boundary"),
        (b"this is not multipart at all", "not a valid multipart form"),
        (f"--{BOUNDARY}\r\nX: y\r\n\r\ndata\r\n--{BOUNDARY}--\r\n".encode(), "has no name"),
        (
            form_body(("file", "a.wav", b"RIFF"), *[(f"f{n}", None, b"x") for n in range(MAX_FIELDS + 1)]),
            f"more than {MAX_FIELDS} text fields",
        ),
        (
            form_body(("note", None, b"x" * (MAX_FIELD_BYTES + 1)), ("file", "a.wav", b"RIFF")),
            "longer than 64 KiB",
        ),
    ],
)
def test_a_bad_form_is_400_and_nothing_is_kept(
    test_client: TestClient, store: Path, body: bytes, expected: str
) -> None:
    status, answer = post_form(test_client, body)
    assert status == 400
    assert expected in answer["detail"]
    assert list(store.iterdir()) == []


def test_a_file_over_the_limit_is_413_and_nothing_is_kept(test_client: TestClient, store: Path) -> None:
    status, answer = post_form(test_client, form_body(("file", "a.wav", b"x" * (MIB + 1))))
    assert status == 413
    assert answer["detail"] == "the upload is larger than the limit of 1 MB (MAX_UPLOAD_MB)"
    assert list(store.iterdir()) == []
    assert post_form(test_client, form_body(("file", "a.wav", b"x" * MIB)))[0] == 200


# Straight calls with hand-made ASGI messages: the exact order of reads, disconnects and cancels.


def direct_request(receive: Receive, content_length: int | None = None) -> Request:
    headers = [(b"content-type", MULTIPART.encode())]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    return Request({"type": "http", "method": "POST", "path": "/upload", "headers": headers}, receive)


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(store: Path) -> None:
    async def receive() -> Message:
        raise AssertionError("the body was read")

    request = direct_request(receive, content_length=100 * MIB)
    with pytest.raises(PayloadTooLarge, match="limit of 5 MB"):
        asyncio.run(receive_upload(request, store, "task", limits(5 * MIB)))
    assert not store.exists()


def test_a_body_without_length_stops_being_read_at_the_limit(store: Path) -> None:
    read = 0

    async def receive() -> Message:
        nonlocal read
        read += 1
        body = file_part_head() if read == 1 else b"\0" * MIB
        return {"type": "http.request", "body": body, "more_body": True}

    with pytest.raises(PayloadTooLarge, match="limit of 5 MB"):
        asyncio.run(receive_upload(direct_request(receive), store, "task", limits(5 * MIB)))
    assert read == 7  # the head, 5 MiB within the limit, and the chunk that crosses it
    assert list(store.iterdir()) == []


def test_a_client_that_disconnects_mid_upload_leaves_nothing_behind(store: Path) -> None:
    chunks = [file_part_head(), *[b"a" * MIB] * 3]

    async def receive() -> Message:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(0), "more_body": True}
        return {"type": "http.disconnect"}

    request = direct_request(receive)
    with pytest.raises(ClientDisconnect):
        asyncio.run(receive_upload(request, store, "task", limits(100 * MIB)))
    assert list(store.iterdir()) == []


def test_a_cancelled_upload_leaves_nothing_behind(store: Path) -> None:
    async def scenario() -> None:
        chunks = [file_part_head(), *[b"a" * MIB] * 3]
        stalled = asyncio.Event()

        async def receive() -> Message:
            if chunks:
                return {"type": "http.request", "body": chunks.pop(0), "more_body": True}
            stalled.set()
            await asyncio.Event().wait()  # the client goes quiet
            raise AssertionError("never set")

        task = asyncio.create_task(receive_upload(direct_request(receive), store, "task", limits(100 * MIB)))
        await asyncio.wait_for(stalled.wait(), timeout=5)
        assert (store / "task.part").stat().st_size >= 2 * MIB
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert list(store.iterdir()) == []


# A real hypercorn server in its own process: the body streams in as a client sends it.

SERVER = """
import asyncio, sys
from pathlib import Path
from hypercorn.asyncio import serve
from hypercorn.config import Config
from tests.unit.whisper_api.api.uploads.test_receiving import upload_app
config = Config()
config.bind = [f"127.0.0.1:{sys.argv[1]}"]
asyncio.run(serve(upload_app(Path(sys.argv[2])), config))
"""


class Server:
    def __init__(self, port: int, process: subprocess.Popen[bytes], directory: Path) -> None:
        self.url = f"http://127.0.0.1:{port}/upload"
        self.port = port
        self.process = process
        self.directory = directory

    def memory(self, key: str) -> int:
        """VmRSS (now) or VmHWM (peak) of the server process, in bytes."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        found = re.search(rf"^{key}:\s+(\d+) kB$", status, re.MULTILINE)
        assert found is not None
        return int(found[1]) * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("upload-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with (home / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port), str(home / "uploads")], cwd=REPO, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, (home / "server.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the upload server did not start"
                time.sleep(0.05)
        yield Server(port, process, home / "uploads")
    finally:
        process.terminate()
        process.wait(timeout=10)


def streamed_form(file_bytes: int) -> Iterator[bytes]:
    """A multipart body sent chunk by chunk without Content-Length (chunked transfer encoding)."""
    yield file_part_head()
    chunk = b"\0" * MIB
    for _ in range(file_bytes // MIB):
        yield chunk
    if file_bytes % MIB:
        yield b"\0" * (file_bytes % MIB)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_server_memory_does_not_grow_with_the_file(server: Server) -> None:
    size = 200 * MIB
    with httpx.Client(timeout=30) as client:
        warm_up = client.post(
            f"{server.url}?stem=warm", content=streamed_form(MIB), headers={"content-type": MULTIPART}
        )
        assert warm_up.status_code == 200, warm_up.text
        baseline = server.memory("VmRSS")
        started = time.monotonic()
        response = client.post(
            f"{server.url}?stem=big&max_bytes={size}",
            content=streamed_form(size),
            headers={"content-type": MULTIPART},
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert (server.directory / "big.wav").stat().st_size == size
    growth = server.memory("VmHWM") - baseline
    print(f"200 MiB streamed in {elapsed:.2f} s; server peak RSS grew by {growth / MIB:.1f} MiB")
    assert growth < 40 * MIB
    for path in server.directory.iterdir():
        path.unlink()


def test_server_cuts_off_a_chunked_body_over_the_limit(server: Server) -> None:
    response = httpx.post(
        f"{server.url}?stem=over&max_bytes={5 * MIB}",
        content=streamed_form(50 * MIB),
        headers={"content-type": MULTIPART},
        timeout=30,
    )
    assert response.status_code == 413
    assert "limit of 5 MB (MAX_UPLOAD_MB)" in response.json()["error"]["message"]
    wait_until(lambda: not any(server.directory.glob("over*")))


def raw_request_head(content_length: int, max_bytes: int = MIB) -> bytes:
    return (
        f"POST /upload?stem=raw&max_bytes={max_bytes} HTTP/1.1\r\nHost: test\r\n"
        f"Content-Type: {MULTIPART}\r\nContent-Length: {content_length}\r\n\r\n"
    ).encode()


def test_server_answers_413_to_a_declared_length_without_waiting_for_the_body(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(raw_request_head(10 * 1024 * MIB))
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_server_removes_the_partial_file_of_a_client_that_disconnects(server: Server) -> None:
    partial = server.directory / "raw.part"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(raw_request_head(50 * MIB, max_bytes=100 * MIB) + file_part_head())
        for _ in range(3):
            connection.sendall(b"a" * MIB)
        wait_until(lambda: partial.exists() and partial.stat().st_size >= MIB)
    wait_until(lambda: not any(server.directory.glob("raw*")))


def test_the_file_and_its_directory_are_flushed_before_the_upload_returns(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from whisper_api.jobs.job import fsync_path

    flushed: list[Path] = []

    def recording(path: Path) -> None:
        flushed.append(path)
        fsync_path(path)

    monkeypatch.setattr("whisper_api.api.uploads.receiving.fsync_path", recording)
    with TestClient(upload_app(store)) as client:
        response = client.post(
            "/upload", content=form_body(("file", "a.wav", b"abc")), headers={"content-type": MULTIPART}
        )
    assert response.status_code == 200, response.text
    assert flushed == [store / "task.part", store]
    assert (store / "task.wav").read_bytes() == b"abc"

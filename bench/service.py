"""The real server measured from outside: start-up, API overhead, latency under load, queue
throughput and memory. Servers are started exactly as the end-to-end tests start them."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.support.server import RunningServer, start_server

TASK_DEADLINE_S = 600.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def decoder_pid(client: httpx.Client) -> int:
    return int(client.get("/api/v1/decoder_status").json()["pid"])


def upload(client: httpx.Client, path: Path) -> str:
    with path.open("rb") as audio:
        response = client.post("/api/v1/transcribe", files={"file": (path.name, audio)})
    if response.is_error:
        raise RuntimeError(f"the upload of {path.name} got {response.status_code}: {response.text}")
    return str(response.json()["task_id"])


def wait_until_ended(client: httpx.Client, task_id: str) -> dict[str, Any]:
    """Follows the task's event stream, which the server ends with the task: no polling load
    on a machine whose CPUs the decoder needs, and no polling interval in the timings."""
    with client.stream("GET", f"/api/v1/tasks/{task_id}/events", timeout=TASK_DEADLINE_S) as events:
        events.raise_for_status()
        for _ in events.iter_bytes():
            pass
    body: dict[str, Any] = client.get("/api/v1/status", params={"task_id": task_id}).json()
    if body["status"] not in ("finished", "failed"):
        raise RuntimeError(f"the event stream of task {task_id} ended while it was {body['status']}")
    return body


def wait_until(check: Callable[[], object], deadline_s: float = 120.0, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval_s)
    raise RuntimeError("condition not reached in time")


@dataclass(frozen=True)
class Startup:
    healthz_s: float
    readyz_s: float


def start_timed(home: Path, model_dir: Path, **settings: str) -> tuple[RunningServer, Startup]:
    started = time.monotonic()
    server = start_server(home, model_dir, **settings)
    healthz_s = time.monotonic() - started
    wait_until(lambda: httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200, 300.0, 0.02)
    return server, Startup(healthz_s, time.monotonic() - started)


def one_task_seconds(client: httpx.Client, audio: Path) -> float:
    """Wall time of one task through the HTTP API: upload until the status says finished."""
    started = time.perf_counter()
    body = wait_until_ended(client, upload(client, audio))
    seconds = time.perf_counter() - started
    if body["status"] != "finished":
        raise RuntimeError(f"task failed: {body}")
    return seconds


@dataclass(frozen=True)
class Latencies:
    idle_ms: dict[str, list[float]]
    busy_ms: dict[str, list[float]]


def _sample_latencies(client: httpx.Client, paths: dict[str, str], seconds: float) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in paths}
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        for name, path in paths.items():
            started = time.perf_counter()
            client.get(path).raise_for_status()
            samples[name].append((time.perf_counter() - started) * 1000)
    return samples


def responsiveness(server: RunningServer, long_audio: Path, short_audio: Path, window_s: float) -> Latencies:
    """Latency of status and health requests, idle and while the decoder works on a long file.

    The long file is cancelled once the busy window is over: the window is what is measured,
    and a fast machine must not finish the file inside it."""
    with server.client() as client:
        known = upload(client, short_audio)
        wait_until_ended(client, known)
        paths = {"/api/v1/status": f"/api/v1/status?task_id={known}", "/healthz": "/healthz"}
        idle = _sample_latencies(client, paths, window_s)
        busy_task = upload(client, long_audio)
        wait_until(lambda: decoder_busy(client))
        busy = _sample_latencies(client, paths, window_s)
        still_busy = decoder_busy(client)
        client.delete(f"/api/v1/tasks/{busy_task}")
        wait_until(lambda: not decoder_busy(client))
    if not still_busy:
        raise RuntimeError("the long file ended before the busy window did; use a longer file")
    return Latencies(idle, busy)


def decoder_busy(client: httpx.Client) -> bool:
    return bool(client.get("/api/v1/decoder_status").json()["currently_busy"])


@dataclass(frozen=True)
class Throughput:
    tasks: int
    failures: int
    total_s: float
    single_s: float


def throughput(server: RunningServer, audio: Path, tasks: int) -> Throughput:
    with server.client() as client:
        single_s = statistics.median(one_task_seconds(client, audio) for _ in range(3))
        started = time.perf_counter()
        task_ids = [upload(client, audio) for _ in range(tasks)]
        ended = [wait_until_ended(client, task_id) for task_id in task_ids]
        total_s = time.perf_counter() - started
    failures = sum(body["status"] != "finished" for body in ended)
    return Throughput(tasks, failures, total_s, single_s)


@dataclass(frozen=True)
class FrontEndMemory:
    idle_mib: float
    after_warm_up_mib: float
    after_all_mib: float
    tasks: int


def front_end_memory(server: RunningServer, audio: Path, tasks: int, warm_up: int) -> FrontEndMemory:
    """Front end RSS idle, after `warm_up` tasks, and after `tasks` in all: growth would be a leak."""
    pid = server.process.pid
    idle = rss_mib(pid)
    with server.client() as client:
        after_warm_up = 0.0
        for done in range(1, tasks + 1):
            body = wait_until_ended(client, upload(client, audio))
            if body["status"] != "finished":
                raise RuntimeError(f"task failed: {body}")
            client.get("/api/v1/srt", params={"task_id": body["task_id"]}).raise_for_status()
            if done == warm_up:
                after_warm_up = rss_mib(pid)
    return FrontEndMemory(idle, after_warm_up, rss_mib(pid), tasks)


@dataclass(frozen=True)
class DecoderMemory:
    loaded_mib: float
    unloaded_mib: float


def decoder_memory(server: RunningServer, audio: Path) -> DecoderMemory:
    """Needs a few seconds of UNLOAD_MODEL_AFTER_S: the model has decoded a file and is still
    loaded when the task ends, and is unloaded a little later."""

    def model_loaded() -> bool:
        return bool(client.get("/api/v1/decoder_status").json()["is_model_loaded"])

    with server.client() as client:
        pid = decoder_pid(client)
        wait_until_ended(client, upload(client, audio))
        loaded = rss_mib(pid)
        if not model_loaded():
            raise RuntimeError("the model was unloaded before it was measured; raise UNLOAD_MODEL_AFTER_S")
        wait_until(lambda: not model_loaded())
        return DecoderMemory(loaded, rss_mib(pid))


@dataclass(frozen=True)
class UploadMemory:
    size_mib: int
    idle_mib: float
    peak_mib: float
    status_code: int
    seconds: float


def _multipart(boundary: str, size_mib: int) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    chunk = b"\0" * (1 << 20)
    for _ in range(size_mib):
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def upload_memory(server: RunningServer, size_mib: int) -> UploadMemory:
    """Front end RSS while a large upload streams in. The body is no media, so the server
    refuses it once it has arrived, and deletes it."""
    pid = server.process.pid
    idle = rss_mib(pid)
    peak = [idle]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_mib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    boundary = "whisper-api-bench-boundary"
    started = time.perf_counter()
    with server.client(timeout=600) as client:
        response = client.post(
            "/api/v1/transcribe",
            content=_multipart(boundary, size_mib),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return UploadMemory(size_mib, idle, peak[0], response.status_code, seconds)

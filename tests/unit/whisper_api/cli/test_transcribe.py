"""`whisper-api transcribe` against the real server, a server that wants a key, and no server."""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.server import RunningServer
from tests.support.speech import PARAGRAPHS, word_error_rate
from whisper_api.cli.transcribe import add_transcribe_command, run_transcribe

SRT_TIMING = re.compile(r"^\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}$", re.MULTILINE)


@pytest.fixture(autouse=True)
def no_client_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runner's own settings must not pick the server or send a key.
    monkeypatch.delenv("WHISPER_API_URL", raising=False)
    monkeypatch.delenv("WHISPER_API_KEY", raising=False)


def transcribe(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="whisper-api")
    add_transcribe_command(parser.add_subparsers(dest="command"))
    return run_transcribe(parser.parse_args(["transcribe", *argv]))


@pytest.mark.slow
def test_two_files_give_srt_and_txt(
    server: RunningServer, speech_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = [speech_dir / "paragraph0.wav", speech_dir / "paragraph1.wav"]
    out = tmp_path / "out"

    status = transcribe(*map(str, sources), "--url", server.url, "--format", "srt,txt", "-o", str(out))

    captured = capsys.readouterr()
    assert status == 0, captured.err
    written = {out / f"paragraph{index}.{fmt}" for index in (0, 1) for fmt in ("srt", "txt")}
    assert set(map(Path, captured.out.splitlines())) == written
    for index in (0, 1):
        assert SRT_TIMING.search((out / f"paragraph{index}.srt").read_text())
        text = (out / f"paragraph{index}.txt").read_text()
        assert word_error_rate(PARAGRAPHS[index], text) <= 0.10, text
    assert "paragraph1.wav: finished" in captured.err


@pytest.mark.slow
def test_a_file_that_is_not_audio_is_refused(
    server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "notes.mp3"
    fake.write_text("these are meeting notes, not audio\n")

    status = transcribe(str(fake), "--url", server.url, "-o", str(tmp_path / "out"))

    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == ""
    assert re.search(r"notes\.mp3: refused: \S", captured.err), captured.err
    assert list((tmp_path / "out").iterdir()) == []


def test_an_unreachable_server_is_exit_2_with_a_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audio = tmp_path / "talk.wav"
    audio.write_bytes(b"RIFF")
    url = f"http://127.0.0.1:{free_port()}"

    status = transcribe(str(audio), "--url", url)

    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.splitlines()[-1].startswith(
        f"whisper-api transcribe: cannot reach the server at {url}"
    )
    assert "Traceback" not in captured.err


@pytest.fixture
def locked_server() -> Iterator[tuple[str, list[str]]]:
    """A stand-in server that answers 401 as whisper-api does without a valid key, and records
    the Authorization headers it got."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(self.headers.get("Authorization", ""))
            body = json.dumps({"error": {"code": "unauthorized", "message": "invalid API key"}}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


def test_a_refused_key_is_exit_2_and_names_the_option(
    locked_server: tuple[str, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, seen = locked_server
    files = [tmp_path / "first.wav", tmp_path / "second.wav"]
    for path in files:
        path.write_bytes(b"RIFF")
    monkeypatch.setenv("WHISPER_API_KEY", "wrong")

    status = transcribe(*map(str, files), "--url", url)

    assert status == 2
    assert seen == ["Bearer wrong"], "the first refusal must end the run"
    assert "invalid API key; check --api-key" in capsys.readouterr().err


def test_a_missing_file_uploads_nothing(
    locked_server: tuple[str, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, seen = locked_server
    present = tmp_path / "present.wav"
    present.write_bytes(b"RIFF")

    status = transcribe(str(present), str(tmp_path / "missing.wav"), "--url", url)

    assert status == 2
    assert seen == []
    assert "missing.wav: no such file" in capsys.readouterr().err


def test_files_sharing_a_stem_are_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "talk.wav").write_bytes(b"RIFF")

    status = transcribe(str(tmp_path / "a" / "talk.wav"), str(tmp_path / "b" / "talk.wav"))

    assert status == 2
    assert "would both be written as talk.*" in capsys.readouterr().err


def test_an_unknown_format_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        transcribe("talk.wav", "--format", "srt,docx")
    assert exit_info.value.code == 2
    assert "unknown format 'srt,docx'" in capsys.readouterr().err

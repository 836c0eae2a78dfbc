"""ENGINE=auto, the default, on real servers: with the CTranslate2 copy of its model in
MODEL_DIR (as `make install` leaves it) the server decodes with faster-whisper; with only
openai-whisper's checkpoint, with openai-whisper. Both say which in /api/v1/decoder_status
and /metrics, and both transcribe."""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder.engines.base import EngineOptions
from decoder.engines.openai_whisper_engine import OpenAIWhisperEngine
from tests.support.server import RunningServer, start_server, wait_for_task
from tests.support.speech import PARAGRAPHS, word_error_rate
from tests.system.test_durability import upload

pytestmark = pytest.mark.slow


def check_engine(server: RunningServer, engine: str, speech: Path) -> None:
    with server.client() as client:
        assert client.get("/api/v1/decoder_status").json()["engine"] == engine
        metrics = client.get("/metrics").text
        assert f'whisper_api_decoder_engine{{decoder="0",engine="{engine}"}} 1.0' in metrics, metrics
        result = wait_for_task(client, upload(client, speech))
    assert result["status"] == "finished" and word_error_rate(PARAGRAPHS[0], result["transcript"]) <= 0.10


def test_auto_runs_faster_whisper_where_the_model_has_a_ctranslate2_copy(
    server: RunningServer, speech_dir: Path
) -> None:
    check_engine(server, "faster-whisper", speech_dir / "paragraph0.wav")


def test_auto_runs_openai_whisper_where_the_model_has_only_its_checkpoint(
    tmp_path: Path, model_dir: Path, speech_dir: Path
) -> None:
    checkpoint = OpenAIWhisperEngine(model_dir, EngineOptions()).checkpoint("tiny.en")
    only_checkpoint = tmp_path / "models" / checkpoint.relative_to(model_dir)
    only_checkpoint.parent.mkdir(parents=True)
    only_checkpoint.symlink_to(checkpoint)
    server = start_server(tmp_path / "server", tmp_path / "models")
    try:
        check_engine(server, "openai-whisper", speech_dir / "paragraph0.wav")
    finally:
        server.stop()

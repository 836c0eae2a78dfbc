"""What a client hears of a decoder failure."""

from __future__ import annotations

from decoder.audio.ffmpeg import AudioError
from decoder.engines import ModelLoadError
from decoder.process.service import MODEL_FAILED, UNEXPECTED_FAILURE, _client_reason


def test_failure_reasons_hold_no_server_paths_or_library_text() -> None:
    assert _client_reason(AudioError("the audio could not be decoded")) == "the audio could not be decoded"
    assert _client_reason(ModelLoadError("model x could not be loaded from /srv/models/x.pt")) == MODEL_FAILED
    leaked = _client_reason(RuntimeError("Failed to load audio: ffmpeg version 5.1 ... /data/uploads/a.wav"))
    assert leaked == UNEXPECTED_FAILURE and "/" not in leaked

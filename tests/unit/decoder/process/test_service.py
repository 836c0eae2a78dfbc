"""What a client hears of a decoder failure."""

from __future__ import annotations

from decoder.errors import AudioError, BadReference, ModelDoesNotFit, ModelLoadError, SpeakerEncoderError
from decoder.process.service import MODEL_FAILED, UNEXPECTED_FAILURE, _client_reason


def test_failure_reasons_hold_no_server_paths_or_library_text() -> None:
    assert _client_reason(AudioError("the audio could not be decoded")) == "the audio could not be decoded"
    assert _client_reason(ModelLoadError("model x could not be loaded from /srv/models/x.pt")) == MODEL_FAILED
    leaked = _client_reason(RuntimeError("Failed to load audio: ffmpeg version 5.1 ... /data/uploads/a.wav"))
    assert leaked == UNEXPECTED_FAILURE and "/" not in leaked
    # A known speaker's clip is the client's own; an encoder file and the GPU are the operator's.
    assert _client_reason(BadReference("the reference clip of 'Ann' holds no sound")).startswith(
        "the reference"
    )
    assert (
        _client_reason(SpeakerEncoderError("/srv/models/speakers/x.onnx has no output")) == UNEXPECTED_FAILURE
    )
    assert _client_reason(ModelDoesNotFit("CUDA out of memory")) == UNEXPECTED_FAILURE

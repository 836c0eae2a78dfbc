"""The decoder's errors: one tree, each class raised where its module says, and what a client
hears of each."""

from __future__ import annotations

import ast
from pathlib import Path

import decoder
from decoder import errors

SOURCE = Path(decoder.__file__).parent
# Control flow inside the service, never a failure anyone hears of.
CONTROL_FLOW = {"Cancelled", "QueueClosed"}


def test_every_exception_the_decoder_defines_is_in_the_tree() -> None:
    defined = {
        node.name: path.relative_to(SOURCE).as_posix()
        for path in SOURCE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and any(isinstance(base, ast.Name) and base.id == "Exception" for base in node.bases)
    }
    assert {name: where for name, where in defined.items() if name not in CONTROL_FLOW} == {
        "DecoderError": "errors.py"
    }


def test_what_a_client_may_read_is_a_task_error() -> None:
    readable = {
        errors.TaskError,
        errors.AudioError,
        errors.UploadRefusal,
        errors.EncoderMissing,
        errors.BadReference,
    }
    for kind in vars(errors).values():
        if isinstance(kind, type) and issubclass(kind, errors.DecoderError):
            assert issubclass(kind, errors.TaskError) == (kind in readable), kind


def test_failure_reasons_hold_no_server_paths_or_library_text() -> None:
    reason = errors.client_reason
    assert reason(errors.AudioError("the audio could not be decoded")) == "the audio could not be decoded"
    assert reason(errors.ModelLoadError("model x could not be loaded from /x.pt")) == errors.MODEL_FAILED
    leaked = reason(RuntimeError("Failed to load audio: ffmpeg version 5.1 ... /data/uploads/a.wav"))
    assert leaked == errors.UNEXPECTED_FAILURE and "/" not in leaked
    # A known speaker's clip is the client's own; an encoder file and the GPU are the operator's.
    assert reason(errors.BadReference("the clip of 'Ann' holds no sound")).startswith("the clip")
    assert reason(errors.SpeakerEncoderError("/srv/x.onnx has no output")) == errors.UNEXPECTED_FAILURE
    assert reason(errors.ModelDoesNotFit("CUDA out of memory")) == errors.UNEXPECTED_FAILURE

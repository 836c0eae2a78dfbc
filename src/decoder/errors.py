"""Every failure the decoder names, under one base, and which of them a client may read.

    DecoderError
    ├── TaskError              the task cannot be done as asked: the message is for its client
    │   ├── AudioError         the upload cannot be decoded (short, no server path)
    │   ├── UploadRefusal      the upload check refuses the file; `detail` (no path) is for the log
    │   ├── EncoderMissing     MODEL_DIR has no speaker encoder; says how to import one
    │   └── BadReference       a known speaker's reference clip cannot be heard; says which
    ├── ModelLoadError         no model could be loaded; the operator's message says why
    ├── ModelDoesNotFit        the model does not fit the GPU's free memory (a smaller one is tried)
    ├── SpeakerEncoderError    an ONNX file is no speaker encoder this server can run
    └── ModelImportError       `whisper-api import-model` cannot convert a source; one line why

The module that meets a foreign error (ffmpeg's exit status, a library's RuntimeError, an
OSError) raises one of these from it. At the pipe, decoder.process.service translates every
failure once, by `client_reason`: a TaskError's message goes to the client, a ModelLoadError
becomes a fixed sentence, and anything else an unexpected failure, its traceback in the log.
"""

# What a client hears of a failure; the full text, which can hold server paths, goes to the log.
MODEL_FAILED = "no model could be loaded; the server's log says why"
UNEXPECTED_FAILURE = "an unexpected error in the decoder; the server's log has the details"


class DecoderError(Exception):
    """A failure the decoder names."""


class TaskError(DecoderError):
    """The task cannot be done as asked; the message is for the client who asked."""


class AudioError(TaskError):
    """The upload could not be decoded; the message is short and names no server path."""


class UploadRefusal(TaskError):
    """The upload check (decoder.checking) refuses the file: the message says why, for the client;
    `detail`, the media libraries' own words without the server path, is for the log."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class EncoderMissing(TaskError):
    """MODEL_DIR has no speaker encoder; the message says how to import one."""


class BadReference(TaskError):
    """A known speaker's reference clip cannot be heard; the message says which."""


class ModelLoadError(DecoderError):
    """No model could be loaded; the message says why."""


class ModelDoesNotFit(DecoderError):
    """The model does not fit into the GPU's free memory."""


class SpeakerEncoderError(DecoderError):
    """An ONNX file that is no speaker encoder this server can run; the message says why."""


class ModelImportError(DecoderError):
    """A source model directory cannot be converted; the message says why in one line."""


def client_reason(exc: Exception) -> str:
    """What a client may read of a failure: no server paths, no library's raw text."""
    if isinstance(exc, TaskError):
        return str(exc)
    if isinstance(exc, ModelLoadError):
        return MODEL_FAILED
    return UNEXPECTED_FAILURE

"""Errors of the job domain. Their messages are for the client, who can act on them; the HTTP
layer turns each kind into a status in one place (whisper_api.api.errors).

    JobError                    base: `code` names the kind for programs, the message is for people
    ├── Refused                 the request breaks a rule: an option, a language, a model
    │   ├── CallbackRejected    the callback URL may not be called (whisper_api.jobs.news.webhooks)
    │   └── NotAudio            the upload is no audio or video this server accepts (jobs.media)
    ├── NoRoom                  the queue, or the uploads in progress, are at their limit now
    │   └── TooManySessions     LIVE_MAX_SESSIONS live sessions are open
    ├── NotServing              this work cannot be done now; try again shortly
    │   ├── DecoderUnavailable  the decoder did not start, is gone, or did not answer
    │   ├── CheckerUnavailable  the upload checker died during the check, or failed
    │   ├── DetectionFailed     language detection did not give an answer
    │   └── TurnNotDecoded      a live turn's decoder failed it, or stopped
    └── StoreError              the job store cannot be used (start-up: a corrupt or newer file)
        ├── LeaseLost           another host took over a job this host decoded (PostgreSQL)
        └── StoreUnavailable    a write failed now (disk full, read-only, the file gone, the
                                database unreachable); try again

A foreign error (OSError, sqlite3.Error, psycopg's, httpx's) is translated where it is caught, with
`raise ... from exc`, and its full text goes to the log, never to the client.
"""

from __future__ import annotations

import errno


class JobError(Exception):
    code = "job_error"
    # Seconds after which trying again may work, for the Retry-After header; None: no hint.
    retry_after_s: int | None = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The request field at fault, where there is one.
        self.param = param


class Refused(JobError):
    code = "bad_request"


class CallbackRejected(Refused):
    code = "callback_rejected"


class NotAudio(Refused):
    pass


class NoRoom(JobError):
    code = "queue_full"
    retry_after_s = 30


class TooManySessions(NoRoom):
    code = "too_many_sessions"


class NotServing(JobError):
    code = "service_unavailable"
    retry_after_s = 10


class DecoderUnavailable(NotServing):
    pass


class CheckerUnavailable(NotServing):
    pass


class DetectionFailed(NotServing):
    pass


class TurnNotDecoded(NotServing):
    code = "transcription_failed"


class StoreError(JobError):
    """The job store cannot be used; the message is one line for the operator."""

    code = "storage_unavailable"


class LeaseLost(StoreError):
    """Another host took over the claim on a job this host decoded: its result is not stored."""


class StoreUnavailable(StoreError):
    """The store (or DATA_DIR) cannot take a write now. `full`: more disk space would help."""

    def __init__(self, message: str, *, full: bool) -> None:
        super().__init__(message)
        self.full = full


def storage_failure(exc: OSError) -> StoreUnavailable:
    """A write under DATA_DIR that failed, as the store's error."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return StoreUnavailable(f"writing under DATA_DIR failed: {exc.strerror or exc}", full=full)

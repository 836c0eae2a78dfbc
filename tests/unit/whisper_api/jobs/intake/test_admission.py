"""Places in the queue for uploads in progress."""

from __future__ import annotations

import pytest

from whisper_api.jobs.errors import NoRoom, NotServing
from whisper_api.jobs.intake.admission import Admission


def test_uploads_in_progress_count_against_the_queue() -> None:
    waiting = [1]
    admission = Admission(max_queued=3, max_uploading=10, waiting=lambda: waiting[0])
    with admission.place(), admission.place():
        assert admission.uploading == 2
        with pytest.raises(NoRoom, match="3 tasks are already waiting or uploading"), admission.place():
            pass
    assert admission.uploading == 0


def test_a_place_is_given_back_when_the_upload_fails() -> None:
    admission = Admission(max_queued=1, max_uploading=1, waiting=lambda: 0)
    with pytest.raises(ValueError), admission.place():
        raise ValueError("a bad file")
    with admission.place():
        assert admission.uploading == 1


def test_concurrent_uploads_are_capped_and_draining_refuses() -> None:
    admission = Admission(max_queued=100, max_uploading=1, waiting=lambda: 0)
    with admission.place(), pytest.raises(NoRoom, match="MAX_CONCURRENT_UPLOADS"), admission.place():
        pass
    admission.draining = True
    with pytest.raises(NotServing), admission.place():
        pass

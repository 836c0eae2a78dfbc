"""A job as a row of the stores' `jobs` table and back: the same columns in SQLite and
PostgreSQL, named after the Job's fields; results and options as JSON by their field names."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from decoder.wire.options import DecodeOptions
from decoder.wire.transcript import Transcript
from whisper_api.jobs.job import Job, JobStatus
from whisper_api.jobs.store.codec import from_plain, to_plain

COLUMNS = tuple(f.name for f in fields(Job))
UNFINISHED = (JobStatus.PENDING.value, JobStatus.PROCESSING.value)


def row_values(job: Job) -> tuple[Any, ...]:
    """The job's values in COLUMNS order."""
    values: dict[str, Any] = {name: getattr(job, name) for name in COLUMNS}
    values["audio_path"] = str(job.audio_path)
    values["status"] = job.status.value
    values["result"] = result_value(job)
    values["options"] = json.dumps(to_plain(job.options))
    return tuple(values[name] for name in COLUMNS)


def result_value(job: Job) -> str | None:
    """The job's result as its column holds it."""
    return None if job.result is None else json.dumps(to_plain(job.result))


def job_from_row(row: Mapping[str, Any]) -> Job:
    values = {name: row[name] for name in COLUMNS}
    values["audio_path"] = Path(row["audio_path"])
    values["status"] = JobStatus(row["status"])
    values["result"] = None if row["result"] is None else from_plain(Transcript, json.loads(row["result"]))
    values["cancel_requested"] = bool(row["cancel_requested"])
    values["options"] = from_plain(DecodeOptions, json.loads(row["options"]))
    return Job(**values)

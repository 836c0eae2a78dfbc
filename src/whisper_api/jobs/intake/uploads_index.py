"""One upload decoded once: which job already holds the same bytes asked for the same way.

A job's `content_key` is a hash of its upload's bytes, of how they are read (a media file, or
headerless PCM), and of everything it asks for (task, language, options, callback). A later
upload of the same owner with the same key, while that job waits, decodes or is kept finished,
is answered with that job instead of a second decoding (DEDUPLICATE_UPLOADS). Keys are per
owner, so an upload never tells anyone what another uploaded. Uploads of one key that arrive
together are taken in turn on this host: the first is checked and stored while the others wait
for it, then find its job.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from decoder.wire.protocol import TaskType
from whisper_api.jobs.job import Job, JobStore
from whisper_api.jobs.store.codec import to_plain


def content_key(file_sha256: str, reading: str, task_type: TaskType, asked: Any) -> str:
    """The key of an upload with these bytes, read as `reading` says, for this task, asked for
    as the record `asked` (language, options, callback) says."""
    request = json.dumps([reading, task_type, to_plain(asked)], sort_keys=True)
    return hashlib.sha256(f"{file_sha256}\n{request}".encode()).hexdigest()


class UploadIndex:
    """The store's jobs by content key, and the uploads of each key still being checked here."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._checking: dict[tuple[str, str], asyncio.Future[Job | None]] = {}

    async def earlier(self, owner: str, key: str) -> Job | None:
        """The job that holds this upload already, if any. None: the caller holds the key now,
        and must call done() once its own job is stored or refused, whatever happens."""
        while (checking := self._checking.get((owner, key))) is not None:
            job = await asyncio.shield(checking)
            if job is not None:
                return job
        # Nothing awaited since the look-up above: no other upload can take the key in between.
        mine: asyncio.Future[Job | None] = asyncio.get_running_loop().create_future()
        self._checking[(owner, key)] = mine
        try:
            found = await self._store.same_upload(owner, key)
        except BaseException:
            self.done(owner, key, None)
            raise
        if found is not None:
            self.done(owner, key, found)
        return found

    def done(self, owner: str, key: str, job: Job | None) -> None:
        """The upload that held the key is stored as `job`, or was refused (None)."""
        checking = self._checking.pop((owner, key), None)
        if checking is not None and not checking.done():
            checking.set_result(job)

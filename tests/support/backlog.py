"""A backlog of waiting jobs written straight into a PostgreSQL job store, thousands in one
statement: what the tests of a long shared queue start from. Held jobs are claimed by a host that
does not exist, under leases that last the test, so that no real host decodes them; they still
wait ahead of everything uploaded after them."""

from __future__ import annotations

import psycopg

from whisper_api.jobs.job import JobStatus

PHANTOM_HOST = "phantom-host"


def add_backlog(database_url: str, count: int, *, held: bool, uploaded_at: float = 0.0) -> None:
    """`count` pending jobs, uploaded at `uploaded_at`, held by the phantom host where `held`."""
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute(
            """
            INSERT INTO jobs (task_id, task_type, audio_path, original_file_name, uploaded_at, owner,
                              status, attempts, cancel_requested, claimed_by, lease_until)
            SELECT md5(random()::text || n), 'transcribe', '/nonexistent/backlog.wav', 'backlog.wav', %s,
                   'backlog', %s, 0, false, %s, CASE WHEN %s THEN extract(epoch FROM now()) + 86400 END
            FROM generate_series(1, %s) AS n
            """,
            (uploaded_at, JobStatus.PENDING.value, PHANTOM_HOST if held else None, held, count),
        )
        # What autovacuum does soon after so many rows: the tests measure the queue's steady
        # state, not the dead row versions of its queue_blocks counts that the bulk insert left.
        db.execute("VACUUM ANALYZE jobs, queue_blocks")

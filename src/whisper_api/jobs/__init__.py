"""The job domain: no Starlette.

job, errors, progress   a job's record and status, the domain's errors, a decoding's progress
intake/     what an upload must pass to become a job: its options, its media, its place
store/      where jobs are kept: the JobStore in SQLite, PostgreSQL or memory, and the SQL
dispatch/   the host's decoders: their processes, pipes, supervision and queue
tracker/    the TaskTracker, which moves jobs through their life, and its steps
news/       what is told of jobs: events, callbacks, metrics, readiness
"""

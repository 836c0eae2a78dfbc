"""The PostgreSQL job store (DATABASE_URL): the database and its connection, the store and the
shared queue over it, the rows of the hosts that decode, and the uploads kept in it."""

from whisper_api.jobs.store.postgres.connection import EXPIRY_LOCK, SCHEMA_VERSION, task_channel
from whisper_api.jobs.store.postgres.store import PostgresJobStore

__all__ = ["EXPIRY_LOCK", "SCHEMA_VERSION", "PostgresJobStore", "task_channel"]

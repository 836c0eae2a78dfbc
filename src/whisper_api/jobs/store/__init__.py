"""Where jobs are kept: the JobStore (whisper_api.jobs.job) in SQLite (embedded), PostgreSQL (several
hosts) or memory (the tracker's double in unit tests), a job as a row, and the SQL with its
numbered migrations in sql/."""

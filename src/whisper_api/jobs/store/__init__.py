"""Where jobs are kept: the JobStore (whisper_api.jobs.job) in SQLite (embedded), PostgreSQL (several
hosts) or memory (the tracker's double in unit tests). The two databases share the protocol's
SQL (relational); a job as a row (rows, codec), and the SQL with its numbered migrations in
sql/."""

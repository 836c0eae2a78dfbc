-- The job table of the shared store, as the SQLite one holds it (../schema.sql), plus the
-- claim on a pending job that a host takes to decode it (claimed_by, lease_until).
CREATE TABLE jobs (
    seq BIGSERIAL PRIMARY KEY,
    task_id TEXT NOT NULL UNIQUE,
    task_type TEXT NOT NULL,
    language TEXT,
    audio_path TEXT NOT NULL,
    original_file_name TEXT NOT NULL,
    uploaded_at DOUBLE PRECISION NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    target_model_size TEXT,
    used_model_size TEXT,
    used_device TEXT,
    -- The transcript of a finished job, as JSON: its fields are the protocol records' names.
    result TEXT,
    error TEXT,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    attempts INTEGER NOT NULL,
    expires_at DOUBLE PRECISION,
    cancel_requested BOOLEAN NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    duration_s DOUBLE PRECISION,
    callback_url TEXT,
    audio_format TEXT,
    -- The host that decodes the job, and until when (the database's clock, in epoch seconds)
    -- its claim holds unless it renews it.
    claimed_by TEXT,
    lease_until DOUBLE PRECISION
);
CREATE INDEX jobs_by_status ON jobs (status, seq);
CREATE INDEX jobs_by_expiry ON jobs (expires_at);
CREATE INDEX jobs_by_owner ON jobs (owner, seq);

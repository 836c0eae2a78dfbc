-- The job table as this release writes it (its version is the highest migration's number).
-- An older file is brought here by migrations/, in order; a new one is created from this.
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL UNIQUE,
    task_type TEXT NOT NULL,
    language TEXT,
    audio_path TEXT NOT NULL,
    original_file_name TEXT NOT NULL,
    uploaded_at REAL NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    target_model_size TEXT,
    used_model_size TEXT,
    used_device TEXT,
    -- The transcript of a finished job, as JSON: its fields are the protocol records' names.
    result TEXT,
    error TEXT,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL,
    expires_at REAL,
    cancel_requested INTEGER NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    duration_s REAL,
    callback_url TEXT,
    audio_format TEXT,
    -- The upload's bytes and request, hashed: a second identical upload gets this job.
    content_key TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status);
CREATE INDEX IF NOT EXISTS jobs_by_expiry ON jobs (expires_at);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, seq);
CREATE INDEX IF NOT EXISTS jobs_by_content ON jobs (owner, content_key);

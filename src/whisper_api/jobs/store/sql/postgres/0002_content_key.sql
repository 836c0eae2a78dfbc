-- As the SQLite store's migration 0005: a second identical upload of an owner gets the first's job.
ALTER TABLE jobs ADD COLUMN content_key TEXT;
CREATE INDEX jobs_by_content ON jobs (owner, content_key);

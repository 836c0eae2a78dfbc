-- How far the decode of a processing job is, as its host last wrote it (every few seconds at
-- most): the seconds decoded, of how many, in which stage, and since when that stage runs (the
-- database's clock, epoch seconds), as JSON. Read only by a host that a client asks about the
-- job; a claim clears it, so that a job taken over never shows its former host's progress.
ALTER TABLE jobs ADD COLUMN progress TEXT;

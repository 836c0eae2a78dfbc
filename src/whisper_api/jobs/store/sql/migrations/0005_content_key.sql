-- Uploads are indexed by a hash of their bytes and request, so that a second identical upload
-- of the same owner is answered with the first one's job instead of a second decoding.
ALTER TABLE jobs ADD COLUMN content_key TEXT;
CREATE INDEX jobs_by_content ON jobs (owner, content_key);

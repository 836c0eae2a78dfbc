-- The container format the upload check found, which the decoder pins.
ALTER TABLE jobs ADD COLUMN audio_format TEXT;
-- Proxy identities became two name spaces: an address came from X-Email, a name from X-User.
UPDATE jobs SET owner = CASE WHEN owner LIKE '%@%' THEN 'email:' || owner ELSE 'user:' || owner END
WHERE owner != '' AND owner NOT LIKE 'key:%';

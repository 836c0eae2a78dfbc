-- Decoding options, the decoder's audio length, words and segment statistics, and callbacks.
ALTER TABLE jobs ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN duration_s REAL;
ALTER TABLE jobs ADD COLUMN words TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN stats TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN callback_url TEXT;

-- A finished job's transcript moves from five columns (transcript, source_language, and the
-- JSON arrays segments, words and stats, read by position) into one JSON object, `result`,
-- whose keys are the names of the protocol records (decoder.protocol.Transcript).
ALTER TABLE jobs ADD COLUMN result TEXT;
UPDATE jobs SET result = json_object(
    'text', coalesce(transcript, ''),
    'language', coalesce(source_language, ''),
    'duration_s', coalesce(duration_s, 0.0),
    'segments', json((
        SELECT json_group_array(json(segment)) FROM (
            SELECT json_object(
                'start', part.value ->> 0,
                'end', part.value ->> 1,
                'text', part.value ->> 2,
                'words', json((
                    SELECT json_group_array(json(word)) FROM (
                        SELECT json_object(
                            'start', spoken.value ->> 0,
                            'end', spoken.value ->> 1,
                            'word', spoken.value ->> 2,
                            'probability', spoken.value ->> 3
                        ) AS word
                        FROM json_each(coalesce(jobs.words -> part.key, '[]')) AS spoken
                        ORDER BY spoken.key
                    )
                )),
                'stats', CASE WHEN jobs.stats -> part.key IS NULL THEN NULL ELSE json_object(
                    'seek', jobs.stats -> part.key ->> 0,
                    'tokens', json(jobs.stats -> part.key -> 1),
                    'temperature', jobs.stats -> part.key ->> 2,
                    'avg_logprob', jobs.stats -> part.key ->> 3,
                    'compression_ratio', jobs.stats -> part.key ->> 4,
                    'no_speech_prob', jobs.stats -> part.key ->> 5
                ) END
            ) AS segment
            FROM json_each(jobs.segments) AS part
            ORDER BY part.key
        )
    ))
)
WHERE status = 'finished';
ALTER TABLE jobs DROP COLUMN transcript;
ALTER TABLE jobs DROP COLUMN source_language;
ALTER TABLE jobs DROP COLUMN segments;
ALTER TABLE jobs DROP COLUMN words;
ALTER TABLE jobs DROP COLUMN stats;

-- A job database as the schema-3 store (commit 5e6d96d) wrote it: a finished job with
-- words and stats, a finished one without, a failed one and a pending one.
PRAGMA user_version=3;
BEGIN TRANSACTION;
CREATE TABLE jobs (
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
    transcript TEXT,
    source_language TEXT,
    segments TEXT NOT NULL,
    error TEXT,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL,
    expires_at REAL,
    cancel_requested INTEGER NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    duration_s REAL,
    words TEXT NOT NULL DEFAULT '[]',
    stats TEXT NOT NULL DEFAULT '[]',
    callback_url TEXT,
    audio_format TEXT
);
INSERT INTO "jobs" VALUES(1,'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','transcribe',NULL,'/data/uploads/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','talk.mp3',1699999000.0,'key:team','finished','tiny.en','tiny.en','cpu','Hello there. General Kenobi!','en','[[0.0, 1.5, "Hello there."], [1.5, 3.5, "General Kenobi!"]]',NULL,1699999100.0,1699999101.5,1,2700000000.0,0,'{"initial_prompt": null, "temperature": 0.0, "beam_size": 3, "word_timestamps": true, "model": null}',3.5,'[[[0.0, 0.6, " Hello", 0.91], [0.7, 1.5, " there.", 0.875]], [[1.5, 2.4, " General", 0.5], [2.5, 3.5, " Kenobi!", 0.25]]]','[[0, [50364, 2425, 13], 0.0, -0.25, 1.2, 0.01], [150, [3632, 591], 0.2, -0.5, 1.5, 0.02]]',NULL,'mp3');
INSERT INTO "jobs" VALUES(2,'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb','translate','de','/data/uploads/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb','old.wav',1699999200.0,'email:ada@example.org','finished',NULL,'base','cuda','Guten Tag','de','[[0.0, 1.0, "Guten Tag"]]',NULL,NULL,NULL,0,2700000000.0,0,'{"initial_prompt": null, "temperature": null, "beam_size": null, "word_timestamps": false, "model": null}',NULL,'[]','[]',NULL,NULL);
INSERT INTO "jobs" VALUES(3,'cccccccccccccccccccccccccccccccc','transcribe',NULL,'/data/uploads/cccccccccccccccccccccccccccccccc','broken.ogg',1699999300.0,'','failed',NULL,NULL,NULL,NULL,NULL,'[]','the decoder crashed twice on this file',NULL,1699999400.0,0,2700000000.0,0,'{"initial_prompt": null, "temperature": null, "beam_size": null, "word_timestamps": false, "model": null}',NULL,'[]','[]',NULL,NULL);
INSERT INTO "jobs" VALUES(4,'dddddddddddddddddddddddddddddddd','transcribe','en','/data/uploads/dddddddddddddddddddddddddddddddd','next.flac',1699999500.0,'','pending',NULL,NULL,NULL,NULL,NULL,'[]',NULL,NULL,NULL,0,NULL,0,'{"initial_prompt": null, "temperature": null, "beam_size": null, "word_timestamps": false, "model": null}',12.0,'[]','[]','https://example.org/hook','flac');
CREATE INDEX jobs_by_status ON jobs (status);
CREATE INDEX jobs_by_expiry ON jobs (expires_at);
CREATE INDEX jobs_by_owner ON jobs (owner, seq);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('jobs',4);
COMMIT;

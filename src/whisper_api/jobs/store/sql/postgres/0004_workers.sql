-- The hosts that decode (ROLE=all or worker), each as it last said it was: what its decoders
-- announced of their model (DecoderReady as JSON, so that API hosts check uploads against it),
-- how many decoders take work and how many of them hold a task, and when it said so (the
-- database's clock, epoch seconds). A host says it every third of a lease; one silent for a
-- lease is not alive. A host that stops says so with seen_at 0, and keeps its row for what it
-- announced; rows silent for a day are removed.
CREATE TABLE workers (
    host TEXT PRIMARY KEY,
    decoders INTEGER NOT NULL,
    busy INTEGER NOT NULL,
    ready TEXT,
    seen_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX workers_by_seen ON workers (seen_at);

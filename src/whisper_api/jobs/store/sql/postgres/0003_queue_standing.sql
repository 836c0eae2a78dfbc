-- Where the shared queue stands, kept by the database as jobs come and go, so that a job's
-- place in line, the queue's length, its head and the next job to claim cost the same with ten
-- jobs waiting or a hundred thousand: no host reads the whole queue.
--
-- queue_blocks counts the pending jobs per block of sequence numbers, at two sizes: 64 (level
-- 6) and 4096 (level 12). A job's place is the sum over the coarse blocks from the head of the
-- queue to its own, the fine blocks before its own within that, and the pending jobs before it
-- in its fine block: a few dozen rows read whatever the backlog. A block's row stays when its
-- count falls to 0, so that a count changes by an update in place (no new index entry): the
-- blocks before the head of the queue are never read.
CREATE TABLE queue_blocks (
    level SMALLINT NOT NULL,
    block BIGINT NOT NULL,
    waiting INTEGER NOT NULL,
    PRIMARY KEY (level, block)
);

-- One pending job more (delta 1) or fewer (-1) at sequence number s, in both its blocks, fine
-- first (every writer takes the two rows in one order: no deadlock between them).
CREATE FUNCTION queue_blocks_move(s BIGINT, delta INTEGER) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    lvl SMALLINT;
BEGIN
    FOREACH lvl IN ARRAY ARRAY[6, 12]::SMALLINT[] LOOP
        INSERT INTO queue_blocks AS b (level, block, waiting) VALUES (lvl, s >> lvl, delta)
        ON CONFLICT (level, block) DO UPDATE SET waiting = b.waiting + delta;
    END LOOP;
END $$;

CREATE FUNCTION jobs_count_waiting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.status = 'pending' THEN
        PERFORM queue_blocks_move(OLD.seq, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status = 'pending' THEN
        PERFORM queue_blocks_move(NEW.seq, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_waiting AFTER INSERT OR DELETE OR UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_count_waiting();

INSERT INTO queue_blocks (level, block, waiting)
    SELECT 6, seq >> 6, count(*) FROM jobs WHERE status = 'pending' GROUP BY seq >> 6;
INSERT INTO queue_blocks (level, block, waiting)
    SELECT 12, seq >> 12, count(*) FROM jobs WHERE status = 'pending' GROUP BY seq >> 12;

-- The sequence number of the first pending job (0 while none is).
CREATE FUNCTION queue_head() RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT seq FROM jobs WHERE status = 'pending' ORDER BY seq LIMIT 1), 0)
$$;

-- How many pending jobs are ahead of sequence number s.
CREATE FUNCTION queue_position(s BIGINT) RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT
        (SELECT coalesce(sum(waiting), 0) FROM queue_blocks
         WHERE level = 12 AND block >= queue_head() >> 12 AND block < s >> 12)
        + (SELECT coalesce(sum(waiting), 0) FROM queue_blocks
           WHERE level = 6 AND block >= (s >> 12) << 6 AND block < s >> 6)
        + (SELECT count(*) FROM jobs WHERE status = 'pending' AND seq >= (s >> 6) << 6 AND seq < s)
$$;

-- How many jobs are pending.
CREATE FUNCTION queue_depth() RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(waiting), 0) FROM queue_blocks WHERE level = 12 AND block >= queue_head() >> 12
$$;

-- The head of the queue, the next job to claim, the claims whose leases may run out, and the
-- claims of one host (which it gives back when it stops).
CREATE INDEX jobs_waiting ON jobs (seq) WHERE status = 'pending';
CREATE INDEX jobs_unclaimed ON jobs (seq)
    WHERE claimed_by IS NULL AND status IN ('pending', 'processing');
CREATE INDEX jobs_leases ON jobs (lease_until)
    WHERE claimed_by IS NOT NULL AND status IN ('pending', 'processing');
CREATE INDEX jobs_claims ON jobs (claimed_by)
    WHERE claimed_by IS NOT NULL AND status IN ('pending', 'processing');

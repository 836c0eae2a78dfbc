-- MEDIA_STORE=database: a job's upload as a large object of its own (media_oid), so that hosts
-- need share nothing but the database. The large object is written in the transaction that
-- inserts the job, so an upload cut off or refused leaves none; it goes with the job, whether
-- the job is deleted (cancelled, expired) or lets go of it (it ended).
ALTER TABLE jobs ADD COLUMN media_oid OID;
CREATE INDEX jobs_by_media ON jobs (media_oid) WHERE media_oid IS NOT NULL;

CREATE FUNCTION jobs_media_unlink() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.media_oid IS NOT NULL
       AND (TG_OP = 'DELETE' OR NEW.media_oid IS DISTINCT FROM OLD.media_oid)
       AND EXISTS (SELECT 1 FROM pg_largeobject_metadata WHERE oid = OLD.media_oid) THEN
        PERFORM lo_unlink(OLD.media_oid);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_media AFTER DELETE OR UPDATE OF media_oid ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_media_unlink();

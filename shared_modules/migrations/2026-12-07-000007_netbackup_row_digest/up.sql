-- A digest of the export record each NetBackup row was last written from: a daily
-- re-export repeats most of the day before, and comparing the key and this digest first
-- lets the unchanged records skip the upsert (no parse, no cast, no row lock, no write).
-- NULL for rows written before: their next export writes it (values unchanged).
ALTER TABLE netbackup_jobs ADD COLUMN row_digest bytea;
ALTER TABLE netbackup_job_tries ADD COLUMN row_digest bytea;
ALTER TABLE netbackup_images ADD COLUMN row_digest bytea;
ALTER TABLE netbackup_image_fragments ADD COLUMN row_digest bytea;
ALTER TABLE netbackup_storage_units ADD COLUMN row_digest bytea;
ALTER TABLE netbackup_disk_pools ADD COLUMN row_digest bytea;
ALTER TABLE netbackup_disk_volumes ADD COLUMN row_digest bytea;
ALTER TABLE netbackup_storage_servers ADD COLUMN row_digest bytea;
ALTER TABLE netbackup_backstat ADD COLUMN row_digest bytea;

-- A binary of the same RELEASE.MAJOR that predates the digests updates values without
-- touching row_digest: an update that leaves the digest as it was clears it, so the next
-- export writes that row again instead of taking it for unchanged.
CREATE FUNCTION netbackup_digest_follows_values() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.row_digest IS NOT DISTINCT FROM OLD.row_digest THEN
        NEW.row_digest := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER netbackup_jobs_digest BEFORE UPDATE ON netbackup_jobs
    FOR EACH ROW EXECUTE FUNCTION netbackup_digest_follows_values();
CREATE TRIGGER netbackup_job_tries_digest BEFORE UPDATE ON netbackup_job_tries
    FOR EACH ROW EXECUTE FUNCTION netbackup_digest_follows_values();
CREATE TRIGGER netbackup_images_digest BEFORE UPDATE ON netbackup_images
    FOR EACH ROW EXECUTE FUNCTION netbackup_digest_follows_values();
CREATE TRIGGER netbackup_image_fragments_digest BEFORE UPDATE ON netbackup_image_fragments
    FOR EACH ROW EXECUTE FUNCTION netbackup_digest_follows_values();
CREATE TRIGGER netbackup_storage_units_digest BEFORE UPDATE ON netbackup_storage_units
    FOR EACH ROW EXECUTE FUNCTION netbackup_digest_follows_values();
CREATE TRIGGER netbackup_disk_pools_digest BEFORE UPDATE ON netbackup_disk_pools
    FOR EACH ROW EXECUTE FUNCTION netbackup_digest_follows_values();
CREATE TRIGGER netbackup_disk_volumes_digest BEFORE UPDATE ON netbackup_disk_volumes
    FOR EACH ROW EXECUTE FUNCTION netbackup_digest_follows_values();
CREATE TRIGGER netbackup_storage_servers_digest BEFORE UPDATE ON netbackup_storage_servers
    FOR EACH ROW EXECUTE FUNCTION netbackup_digest_follows_values();
CREATE TRIGGER netbackup_backstat_digest BEFORE UPDATE ON netbackup_backstat
    FOR EACH ROW EXECUTE FUNCTION netbackup_digest_follows_values();

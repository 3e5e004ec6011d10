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

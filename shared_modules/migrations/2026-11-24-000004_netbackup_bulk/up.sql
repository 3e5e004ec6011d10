-- NetBackup rows arrive by the million: a foreign key on job_id_of_upload made Postgres
-- check every row against jobs, about 40 % of an upload's insert time. The column stays
-- as the trace of the upload that wrote the row last (jobs are never deleted).
ALTER TABLE netbackup_jobs DROP CONSTRAINT netbackup_jobs_job_id_of_upload_fkey;
ALTER TABLE netbackup_job_tries DROP CONSTRAINT netbackup_job_tries_job_id_of_upload_fkey;
ALTER TABLE netbackup_images DROP CONSTRAINT netbackup_images_job_id_of_upload_fkey;
ALTER TABLE netbackup_image_fragments DROP CONSTRAINT netbackup_image_fragments_job_id_of_upload_fkey;
ALTER TABLE netbackup_storage_units DROP CONSTRAINT netbackup_storage_units_job_id_of_upload_fkey;
ALTER TABLE netbackup_disk_pools DROP CONSTRAINT netbackup_disk_pools_job_id_of_upload_fkey;
ALTER TABLE netbackup_disk_volumes DROP CONSTRAINT netbackup_disk_volumes_job_id_of_upload_fkey;
ALTER TABLE netbackup_storage_servers DROP CONSTRAINT netbackup_storage_servers_job_id_of_upload_fkey;
ALTER TABLE netbackup_backstat DROP CONSTRAINT netbackup_backstat_job_id_of_upload_fkey;

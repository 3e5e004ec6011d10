DROP VIEW hydrastor_grid_backups;
DROP TABLE netbackup_backstat, netbackup_storage_servers, netbackup_disk_volumes, netbackup_disk_pools,
           netbackup_storage_units, netbackup_image_fragments, netbackup_images, netbackup_job_tries, netbackup_jobs;

-- Output of modules/hydrastor/veritas2hview: NetBackup exports uploaded by customers.
-- Every row carries the grid named in the upload's trigger and the DataProcessor job that
-- wrote it last (job_id_of_upload). Natural keys make re-uploads idempotent.

CREATE TABLE netbackup_jobs (
    customer         TEXT NOT NULL,
    master_server    TEXT NOT NULL,
    job_id           BIGINT NOT NULL,
    grid_name        TEXT NOT NULL,
    job_type         INTEGER,
    state            INTEGER,
    status           INTEGER,
    policy           TEXT,
    schedule         TEXT,
    client           TEXT,
    media_server     TEXT,
    storage_unit     TEXT,
    started_at       TIMESTAMPTZ,
    elapsed_seconds  BIGINT,
    ended_at         TIMESTAMPTZ,
    kbytes           BIGINT,
    files            BIGINT,
    percent          INTEGER,
    parent_job_id    BIGINT,
    kbpersec         BIGINT,
    backup_id        TEXT,
    dedup_ratio      DOUBLE PRECISION,
    try_count        INTEGER,
    file_list        TEXT[] NOT NULL DEFAULT '{}',
    -- Tail fields without a column, and every field past the known names by position.
    extra            JSONB NOT NULL DEFAULT '{}'::jsonb,
    job_id_of_upload BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    PRIMARY KEY (customer, master_server, job_id)
);
CREATE INDEX netbackup_jobs_grid ON netbackup_jobs (customer, grid_name, started_at DESC);

CREATE TABLE netbackup_job_tries (
    customer           TEXT NOT NULL,
    master_server      TEXT NOT NULL,
    job_id             BIGINT NOT NULL,
    try_number         INTEGER NOT NULL,
    grid_name          TEXT NOT NULL,
    pid                BIGINT,
    storage_unit       TEXT,
    server             TEXT,
    started_at         TIMESTAMPTZ,
    elapsed_seconds    BIGINT,
    ended_at           TIMESTAMPTZ,
    status             INTEGER,
    status_description TEXT,
    status_lines       TEXT[] NOT NULL DEFAULT '{}',
    kbytes_written     BIGINT,
    files_written      BIGINT,
    job_id_of_upload   BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    PRIMARY KEY (customer, master_server, job_id, try_number)
);

CREATE TABLE netbackup_images (
    customer         TEXT NOT NULL,
    backup_id        TEXT NOT NULL,
    grid_name        TEXT NOT NULL,
    client           TEXT,
    policy           TEXT,
    schedule_label   TEXT,
    schedule_type    INTEGER,
    backup_time      TIMESTAMPTZ,
    expiration       TIMESTAMPTZ,
    kbytes           BIGINT,
    num_files        BIGINT,
    copies           INTEGER,
    num_fragments    INTEGER,
    job_id_of_upload BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    PRIMARY KEY (customer, backup_id)
);

CREATE TABLE netbackup_image_fragments (
    customer         TEXT NOT NULL,
    backup_id        TEXT NOT NULL,
    copy_number      INTEGER NOT NULL,
    fragment_number  INTEGER NOT NULL,
    grid_name        TEXT NOT NULL,
    kbytes           BIGINT,
    media_type       INTEGER,
    id_path          TEXT,
    host             TEXT,
    media_descriptor TEXT,
    job_id_of_upload BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    PRIMARY KEY (customer, backup_id, copy_number, fragment_number)
);

CREATE TABLE netbackup_storage_units (
    customer            TEXT NOT NULL,
    label               TEXT NOT NULL,
    grid_name           TEXT NOT NULL,
    unit_type           TEXT,
    host                TEXT,
    disk_pool           TEXT,
    disk_type           TEXT,
    max_concurrent_jobs INTEGER,
    job_id_of_upload    BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    PRIMARY KEY (customer, label)
);

CREATE TABLE netbackup_disk_pools (
    customer         TEXT NOT NULL,
    disk_pool        TEXT NOT NULL,
    grid_name        TEXT NOT NULL,
    disk_type        TEXT,
    status           TEXT,
    raw_bytes        BIGINT,
    usable_bytes     BIGINT,
    num_volumes      INTEGER,
    high_watermark   INTEGER,
    low_watermark    INTEGER,
    job_id_of_upload BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    PRIMARY KEY (customer, disk_pool)
);

CREATE TABLE netbackup_disk_volumes (
    customer         TEXT NOT NULL,
    disk_pool        TEXT NOT NULL,
    volume_name      TEXT NOT NULL,
    grid_name        TEXT NOT NULL,
    disk_type        TEXT,
    total_bytes      BIGINT,
    free_bytes       BIGINT,
    used_percent     DOUBLE PRECISION,
    status           TEXT,
    job_id_of_upload BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    PRIMARY KEY (customer, disk_pool, volume_name)
);

CREATE TABLE netbackup_storage_servers (
    customer         TEXT NOT NULL,
    storage_server   TEXT NOT NULL,
    grid_name        TEXT NOT NULL,
    server_type      TEXT,
    storage_type     TEXT,
    state            TEXT,
    flags            TEXT[] NOT NULL DEFAULT '{}',
    job_id_of_upload BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    PRIMARY KEY (customer, storage_server)
);

CREATE TABLE netbackup_backstat (
    customer         TEXT NOT NULL,
    client           TEXT NOT NULL,
    policy           TEXT NOT NULL,
    schedule         TEXT NOT NULL,
    server           TEXT NOT NULL,
    completed_at     TIMESTAMPTZ NOT NULL,
    grid_name        TEXT NOT NULL,
    status           INTEGER NOT NULL,
    status_text      TEXT,
    job_id_of_upload BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    PRIMARY KEY (customer, client, policy, schedule, server, completed_at)
);

-- Per grid, the NetBackup jobs that wrote to it: job → storage unit → disk pool → disk
-- volumes (the HYDRAstor LSUs). The grid is the one named in the upload's trigger.
CREATE VIEW hydrastor_grid_backups AS
SELECT j.customer,
       j.grid_name,
       j.master_server,
       j.job_id,
       j.client,
       j.policy,
       j.schedule,
       j.storage_unit,
       su.disk_pool,
       (SELECT array_agg(v.volume_name ORDER BY v.volume_name)
          FROM netbackup_disk_volumes v
         WHERE v.customer = j.customer AND v.disk_pool = su.disk_pool) AS disk_volumes,
       j.kbytes * 1024 AS bytes,
       j.elapsed_seconds,
       j.status,
       j.dedup_ratio,
       j.started_at,
       j.ended_at
  FROM netbackup_jobs j
  LEFT JOIN netbackup_storage_units su ON su.customer = j.customer AND su.label = j.storage_unit;

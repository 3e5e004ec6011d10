//! The NetBackup tables: each one's name, natural key and data columns. A leaf: the reader
//! (which rows go where), the batch encoding and the store all read it.

/// A table's natural key and data columns (name, SQL type). Every table also has
/// `customer`, `grid_name` and `job_id_of_upload`.
pub struct TableSpec {
    pub table: &'static str,
    pub key: &'static [(&'static str, &'static str)],
    pub columns: &'static [(&'static str, &'static str)],
}

pub const JOBS: TableSpec = TableSpec {
    table: "netbackup_jobs",
    key: &[("master_server", "text"), ("job_id", "bigint")],
    columns: &[
        ("job_type", "integer"),
        ("state", "integer"),
        ("status", "integer"),
        ("policy", "text"),
        ("schedule", "text"),
        ("client", "text"),
        ("media_server", "text"),
        ("storage_unit", "text"),
        ("started_at", "timestamptz"),
        ("elapsed_seconds", "bigint"),
        ("ended_at", "timestamptz"),
        ("kbytes", "bigint"),
        ("files", "bigint"),
        ("percent", "integer"),
        ("parent_job_id", "bigint"),
        ("kbpersec", "bigint"),
        ("backup_id", "text"),
        ("dedup_ratio", "double precision"),
        ("try_count", "integer"),
        ("file_list", "text[]"),
        ("extra", "jsonb"),
    ],
};

pub const TRIES: TableSpec = TableSpec {
    table: "netbackup_job_tries",
    key: &[
        ("master_server", "text"),
        ("job_id", "bigint"),
        ("try_number", "integer"),
    ],
    columns: &[
        ("pid", "bigint"),
        ("storage_unit", "text"),
        ("server", "text"),
        ("started_at", "timestamptz"),
        ("elapsed_seconds", "bigint"),
        ("ended_at", "timestamptz"),
        ("status", "integer"),
        ("status_description", "text"),
        ("status_lines", "text[]"),
        ("kbytes_written", "bigint"),
        ("files_written", "bigint"),
    ],
};

pub const IMAGES: TableSpec = TableSpec {
    table: "netbackup_images",
    key: &[("backup_id", "text")],
    columns: &[
        ("client", "text"),
        ("policy", "text"),
        ("schedule_label", "text"),
        ("schedule_type", "integer"),
        ("backup_time", "timestamptz"),
        ("expiration", "timestamptz"),
        ("kbytes", "bigint"),
        ("num_files", "bigint"),
        ("copies", "integer"),
        ("num_fragments", "integer"),
    ],
};

pub const FRAGMENTS: TableSpec = TableSpec {
    table: "netbackup_image_fragments",
    key: &[
        ("backup_id", "text"),
        ("copy_number", "integer"),
        ("fragment_number", "integer"),
    ],
    columns: &[
        ("kbytes", "bigint"),
        ("media_type", "integer"),
        ("id_path", "text"),
        ("host", "text"),
        ("media_descriptor", "text"),
    ],
};

pub const STORAGE_UNITS: TableSpec = TableSpec {
    table: "netbackup_storage_units",
    key: &[("label", "text")],
    columns: &[
        ("unit_type", "text"),
        ("host", "text"),
        ("disk_pool", "text"),
        ("disk_type", "text"),
        ("max_concurrent_jobs", "integer"),
    ],
};

pub const DISK_POOLS: TableSpec = TableSpec {
    table: "netbackup_disk_pools",
    key: &[("disk_pool", "text")],
    columns: &[
        ("disk_type", "text"),
        ("status", "text"),
        ("raw_bytes", "bigint"),
        ("usable_bytes", "bigint"),
        ("num_volumes", "integer"),
        ("high_watermark", "integer"),
        ("low_watermark", "integer"),
    ],
};

pub const DISK_VOLUMES: TableSpec = TableSpec {
    table: "netbackup_disk_volumes",
    key: &[("disk_pool", "text"), ("volume_name", "text")],
    columns: &[
        ("disk_type", "text"),
        ("total_bytes", "bigint"),
        ("free_bytes", "bigint"),
        ("used_percent", "double precision"),
        ("status", "text"),
    ],
};

pub const STORAGE_SERVERS: TableSpec = TableSpec {
    table: "netbackup_storage_servers",
    key: &[("storage_server", "text")],
    columns: &[
        ("server_type", "text"),
        ("storage_type", "text"),
        ("state", "text"),
        ("flags", "text[]"),
    ],
};

pub const BACKSTAT: TableSpec = TableSpec {
    table: "netbackup_backstat",
    key: &[
        ("client", "text"),
        ("policy", "text"),
        ("schedule", "text"),
        ("server", "text"),
        ("completed_at", "timestamptz"),
    ],
    columns: &[("status", "integer"), ("status_text", "text")],
};

/// Every NetBackup table (one left out here is only always upserted: `NewRows`).
pub const ALL: [&TableSpec; 9] = [
    &JOBS,
    &TRIES,
    &IMAGES,
    &FRAGMENTS,
    &STORAGE_UNITS,
    &DISK_POOLS,
    &DISK_VOLUMES,
    &STORAGE_SERVERS,
    &BACKSTAT,
];

impl TableSpec {
    /// The key columns, then the data columns: the order of a batch's columns.
    pub fn all_columns(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.key.iter().chain(self.columns).copied()
    }
}

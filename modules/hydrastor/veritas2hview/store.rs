//! Batched upserts: each batch of rows (one text array per column) is one `INSERT … SELECT
//! FROM unnest(…) ON CONFLICT (natural key) DO UPDATE … WHERE something differs`, so a
//! re-upload of the same export changes nothing, and a newer one updates what changed.

use super::columns::Batch;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

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

impl TableSpec {
    /// The key columns, then the data columns: the order of a batch's columns.
    pub fn all_columns(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.key.iter().chain(self.columns).copied()
    }

    /// Parameters: $1 customer, $2 grid, $3 job id, then one joined text per column (see
    /// `columns`), split and cast here. Rows arrive without duplicate keys (`Columns` keeps
    /// the last).
    fn sql(&self) -> String {
        let key: Vec<&str> = self.key.iter().map(|(n, _)| *n).collect();
        let data: Vec<&str> = self
            .columns
            .iter()
            .map(|(n, _)| *n)
            .chain(["grid_name"])
            .collect();
        let names = self
            .all_columns()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
            .join(", ");
        let arrays = (0..self.all_columns().count())
            .map(|i| format!("(string_to_array(${}, E'\\x1f', E'\\x1e'))[2:]", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let casts = self
            .all_columns()
            .map(|(n, t)| format!("{n}::{t}"))
            .collect::<Vec<_>>()
            .join(", ");
        let table = self.table;
        let set = data
            .iter()
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let ours = data
            .iter()
            .map(|c| format!("{table}.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let theirs = data
            .iter()
            .map(|c| format!("EXCLUDED.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let key_list = key.join(", ");
        format!(
            "INSERT INTO {table} (customer, grid_name, job_id_of_upload, {names})
             SELECT $1, $2, $3, {casts} FROM unnest({arrays}) AS r({names})
             ON CONFLICT (customer, {key_list}) DO UPDATE SET {set}, job_id_of_upload = EXCLUDED.job_id_of_upload
             WHERE ({ours}) IS DISTINCT FROM ({theirs})"
        )
    }
}

/// Who the rows belong to.
pub struct Owner<'a> {
    pub customer: &'a str,
    pub grid: &'a str,
    pub job_id: i64,
}

/// Upserts a batch; returns how many rows were inserted or changed.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    owner: &Owner<'_>,
    batch: Batch,
) -> diesel::QueryResult<usize> {
    if batch.len == 0 {
        return Ok(0);
    }
    let query = diesel::sql_query(batch.spec.sql())
        .into_boxed::<Pg>()
        .bind::<Text, _>(owner.customer)
        .bind::<Text, _>(owner.grid)
        .bind::<BigInt, _>(owner.job_id);
    batch
        .columns
        .into_iter()
        .fold(query, |query, column| query.bind::<Text, _>(column))
        .execute(conn)
        .await
}

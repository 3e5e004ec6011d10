//! Batched upserts: each batch of rows (one text array per column) is one `INSERT … SELECT
//! FROM unnest(…) ON CONFLICT (natural key) DO UPDATE … WHERE something differs`, so a
//! re-upload of the same export changes nothing, and a newer one updates what changed.

use super::columns::Batch;
use super::spec::TableSpec;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

impl TableSpec {
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

//! Batched upserts: each batch of rows (one text array per column) is one `INSERT … SELECT
//! FROM unnest(…) ON CONFLICT (natural key) DO UPDATE … WHERE something differs`, so a
//! re-upload of the same export changes nothing, and a newer one updates what changed.

use super::columns::Batch;
use super::spec::TableSpec;
use crate::upsert::Upsert;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Parameters: $1 customer, $2 grid, $3 job id, then one joined text per column (see
/// `columns`), split and cast here. Rows arrive without duplicate keys (`Columns` keeps the
/// last).
fn upsert_sql(spec: &TableSpec) -> String {
    let names: Vec<&str> = spec.all_columns().map(|(n, _)| n).collect();
    let key: Vec<&str> = ["customer"]
        .into_iter()
        .chain(spec.key.iter().map(|(n, _)| *n))
        .collect();
    let data: Vec<&str> = spec
        .columns
        .iter()
        .map(|(n, _)| *n)
        .chain(["grid_name"])
        .collect();
    let columns: Vec<&str> = ["customer", "grid_name", "job_id_of_upload"]
        .into_iter()
        .chain(names.iter().copied())
        .collect();
    let arrays = (0..names.len())
        .map(|i| format!("(string_to_array(${}, E'\\x1f', E'\\x1e'))[2:]", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let casts = spec
        .all_columns()
        .map(|(n, t)| format!("{n}::{t}"))
        .collect::<Vec<_>>()
        .join(", ");
    let names = names.join(", ");
    Upsert::into(spec.table, &columns)
        .key(&key)
        .compared(&data)
        .carried(&["job_id_of_upload"])
        .with_rows_from(&format!(
            "SELECT $1, $2, $3, {casts} FROM unnest({arrays}) AS r({names})"
        ))
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
    let query = diesel::sql_query(upsert_sql(batch.spec))
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

//! Batched upserts that skip what has not changed. A daily export repeats most of the day
//! before, so each batch is first checked (unless the reader already knows every row is
//! new or changed, `Batch::changed_only`): one statement sends only the keys and each row's
//! digest and gets back the rows whose key is new or whose stored digest differs. Only those
//! go to the upsert, one `INSERT … SELECT FROM unnest(…) ON CONFLICT (natural key) DO UPDATE
//! … WHERE something differs`. An unchanged record is neither parsed into its columns, nor
//! cast, nor locked, nor written. Everything runs in the job's transaction, so the rows and
//! `done` commit together; the same export again changes nothing; a newer one updates what
//! changed. A customer's first export (`NewRows`) skips all of it: plain inserts.

use super::columns::Batch;
use super::new_rows::NewRows;
use super::spec::TableSpec;
use crate::upsert::Upsert;
use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// One parameter per column: its values joined (see `Batch::joined`), split here.
fn split(parameter: usize) -> String {
    format!("(string_to_array(${parameter}, E'\\x1f', E'\\x1e'))[2:]")
}

/// Parameters: $1 customer, $2 grid, then the joined key columns and the joined digests.
/// Gives the (1-based) numbers of the rows that must be written: a key not stored for the
/// customer, or stored with another grid or digest (or none, as rows written before the
/// digests were).
fn changed_sql(spec: &TableSpec) -> String {
    let keys: Vec<&str> = spec.key.iter().map(|(n, _)| *n).collect();
    let arrays = (0..=keys.len())
        .map(|i| split(i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let matched = spec
        .key
        .iter()
        .map(|(n, t)| format!(" AND t.{n} = r.{n}::{t}"))
        .collect::<String>();
    let table = spec.table;
    let names = keys.join(", ");
    // A correlated scalar subquery is one primary-key probe per row; `NOT EXISTS` let the
    // planner (which takes `unnest` for 100 rows) hash the whole table for every batch.
    format!(
        "SELECT coalesce(array_agg(r.n ORDER BY r.n), '{{}}') AS rows
         FROM unnest({arrays}) WITH ORDINALITY AS r({names}, row_digest, n)
         WHERE NOT coalesce((SELECT t.grid_name = $2 AND t.row_digest = decode(r.row_digest, 'hex')
                             FROM {table} t WHERE t.customer = $1{matched}), false)"
    )
}

/// The columns written, and the rows to write as a `SELECT` of them. Parameters: $1
/// customer, $2 grid, $3 job id, then one joined text per column and the joined digests,
/// split and cast here.
fn rows(spec: &TableSpec) -> (Vec<&'static str>, String) {
    let names: Vec<&str> = spec.all_columns().map(|(n, _)| n).collect();
    let columns: Vec<&str> = ["customer", "grid_name", "job_id_of_upload"]
        .into_iter()
        .chain(names.iter().copied())
        .chain(["row_digest"])
        .collect();
    let arrays = (0..=names.len())
        .map(|i| split(i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let casts = spec
        .all_columns()
        .map(|(n, t)| format!("{n}::{t}"))
        .collect::<Vec<_>>()
        .join(", ");
    let names = names.join(", ");
    let source = format!(
        "SELECT $1, $2, $3, {casts}, decode(row_digest, 'hex') FROM unnest({arrays}) AS r({names}, row_digest)"
    );
    (columns, source)
}

/// The upsert of `rows`. Rows arrive without duplicate keys (`Columns` keeps the last).
fn upsert_sql(spec: &TableSpec) -> String {
    let key: Vec<&str> = ["customer"]
        .into_iter()
        .chain(spec.key.iter().map(|(n, _)| *n))
        .collect();
    let data: Vec<&str> = spec
        .columns
        .iter()
        .map(|(n, _)| *n)
        .chain(["grid_name", "row_digest"])
        .collect();
    let (columns, source) = rows(spec);
    Upsert::into(spec.table, &columns)
        .key(&key)
        .compared(&data)
        .carried(&["job_id_of_upload"])
        .with_rows_from(&source)
}

/// A plain insert of `rows`, for rows known to be new (`NewRows`).
fn insert_sql(spec: &TableSpec) -> String {
    let (columns, source) = rows(spec);
    format!(
        "INSERT INTO {} ({}) {source}",
        spec.table,
        columns.join(", ")
    )
}

/// Who the rows belong to.
pub struct Owner<'a> {
    pub customer: &'a str,
    pub grid: &'a str,
    pub job_id: i64,
}

/// What storing a batch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Rows inserted or changed.
    pub written: usize,
    /// Rows whose record was already stored as it is: not written.
    pub unchanged: usize,
}

#[derive(QueryableByName)]
struct Changed {
    #[diesel(sql_type = Array<BigInt>)]
    rows: Vec<i64>,
}

/// Stores a batch as the upload job does: a plain insert when `new_rows` says all its rows
/// are new (a unique violation then means another job stored some meanwhile), else `upsert`.
pub async fn write_batch(
    conn: &mut AsyncPgConnection,
    owner: &Owner<'_>,
    batch: Batch,
    new_rows: &mut NewRows,
) -> diesel::QueryResult<Stored> {
    if !new_rows.all_new(&batch) {
        return upsert(conn, owner, batch).await;
    }
    let all: Vec<usize> = (0..batch.len).collect();
    let written = if all.is_empty() {
        0
    } else {
        send(conn, &insert_sql(batch.spec), owner, &batch, &all).await?
    };
    Ok(Stored {
        written,
        unchanged: 0,
    })
}

/// Stores a batch: the rows that are new or changed, and only those.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    owner: &Owner<'_>,
    batch: Batch,
) -> diesel::QueryResult<Stored> {
    if batch.len == 0 {
        return Ok(Stored::default());
    }
    let spec = batch.spec;
    let all: Vec<usize> = (0..batch.len).collect();
    if batch.changed_only {
        let written = write(conn, owner, &batch, &all).await?;
        return Ok(Stored {
            written,
            unchanged: 0,
        });
    }
    let check = diesel::sql_query(changed_sql(spec))
        .into_boxed::<Pg>()
        .bind::<Text, _>(owner.customer)
        .bind::<Text, _>(owner.grid);
    let check = (0..spec.key.len())
        .fold(check, |query, column| {
            query.bind::<Text, _>(batch.joined(column, &all))
        })
        .bind::<Text, _>(batch.joined_digests(&all));
    let changed: Vec<usize> = check
        .get_result::<Changed>(conn)
        .await?
        .rows
        .into_iter()
        .filter_map(|n| usize::try_from(n - 1).ok())
        .collect();
    let unchanged = batch.len - changed.len();
    if changed.is_empty() {
        return Ok(Stored {
            written: 0,
            unchanged,
        });
    }
    let written = write(conn, owner, &batch, &changed).await?;
    Ok(Stored { written, unchanged })
}

/// Upserts `rows` of the batch; how many were written.
async fn write(
    conn: &mut AsyncPgConnection,
    owner: &Owner<'_>,
    batch: &Batch,
    rows: &[usize],
) -> diesel::QueryResult<usize> {
    send(conn, &upsert_sql(batch.spec), owner, batch, rows).await
}

/// Runs `sql` (`upsert_sql` or `insert_sql`) on `rows` of the batch; how many were written.
async fn send(
    conn: &mut AsyncPgConnection,
    sql: &str,
    owner: &Owner<'_>,
    batch: &Batch,
    rows: &[usize],
) -> diesel::QueryResult<usize> {
    let spec = batch.spec;
    let query = diesel::sql_query(sql)
        .into_boxed::<Pg>()
        .bind::<Text, _>(owner.customer)
        .bind::<Text, _>(owner.grid)
        .bind::<BigInt, _>(owner.job_id);
    (0..spec.all_columns().count())
        .fold(query, |query, column| {
            query.bind::<Text, _>(batch.joined(column, rows))
        })
        .bind::<Text, _>(batch.joined_digests(rows))
        .execute(conn)
        .await
}

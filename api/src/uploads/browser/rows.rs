//! The `browser_uploads` table: one row per upload started through the upload API, so any
//! node can resume or complete it.

use super::plan::Plan;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(Debug, Clone, QueryableByName)]
pub struct UploadRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub customer: String,
    #[diesel(sql_type = Text)]
    pub grid: String,
    #[diesel(sql_type = Text)]
    pub object_key: String,
    #[diesel(sql_type = Text)]
    pub file_name: String,
    #[diesel(sql_type = BigInt)]
    pub size: i64,
    #[diesel(sql_type = BigInt)]
    pub part_size: i64,
    #[diesel(sql_type = Text)]
    pub store_upload_id: String,
    #[diesel(sql_type = Text)]
    pub created_by: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub completed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub job_id: Option<i64>,
}

const COLUMNS: &str = "id, customer, grid, object_key, file_name, size, part_size, store_upload_id, created_by, created_at, completed_at, job_id";

pub async fn insert(
    conn: &mut AsyncPgConnection,
    id: &str,
    plan: &Plan,
    store_upload_id: &str,
    created_by: &str,
) -> diesel::QueryResult<UploadRow> {
    diesel::sql_query(format!(
        "INSERT INTO browser_uploads (id, customer, grid, object_key, file_name, size, part_size, store_upload_id, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    ))
    .bind::<Text, _>(id)
    .bind::<Text, _>(&plan.customer)
    .bind::<Text, _>(&plan.grid)
    .bind::<Text, _>(&plan.key)
    .bind::<Text, _>(&plan.file_name)
    .bind::<BigInt, _>(plan.size as i64)
    .bind::<BigInt, _>(plan.part_size as i64)
    .bind::<Text, _>(store_upload_id)
    .bind::<Text, _>(created_by)
    .get_result(conn)
    .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    id: &str,
) -> diesel::QueryResult<Option<UploadRow>> {
    match diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM browser_uploads WHERE id = $1"
    ))
    .bind::<Text, _>(id)
    .get_result(conn)
    .await
    {
        Ok(row) => Ok(Some(row)),
        Err(diesel::result::Error::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Uploads of `customer` started and not completed within the last day (a cap on how many
/// one customer may hold open).
pub async fn open_count(conn: &mut AsyncPgConnection, customer: &str) -> diesel::QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let row: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM browser_uploads
         WHERE customer = $1 AND completed_at IS NULL AND created_at > now() - interval '1 day'",
    )
    .bind::<Text, _>(customer)
    .get_result(conn)
    .await?;
    Ok(row.n)
}

pub async fn mark_completed(
    conn: &mut AsyncPgConnection,
    id: &str,
    job_id: i64,
) -> diesel::QueryResult<()> {
    diesel::sql_query(
        "UPDATE browser_uploads SET completed_at = COALESCE(completed_at, now()), job_id = $2 WHERE id = $1",
    )
    .bind::<Text, _>(id)
    .bind::<BigInt, _>(job_id)
    .execute(conn)
    .await
    .map(|_| ())
}

//! Upserts of a system report. `hydrastor_system_reports` keeps every report by its time;
//! `hydrastor_grids`, `_nodes` and `_filesystems` hold the latest state and are only
//! updated by a report at least as new as what they hold (and only when a value differs,
//! so processing the same report again changes nothing).

use super::parse::{FileSystem, Node, SystemReport};
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Double, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

/// What the report looks like once its grid name and time are settled.
pub struct Complete<'a> {
    pub customer: &'a str,
    pub grid_name: &'a str,
    pub report_time: DateTime<Utc>,
    pub report: &'a SystemReport,
    pub job_id: i64,
}

const FIGURES: &str = "serial_number, model, software_version, status, physical_capacity_bytes, physical_used_bytes, \
                       physical_free_bytes, logical_used_bytes, dedup_ratio";

/// The columns of `FIGURES`.
fn figures() -> Vec<&'static str> {
    FIGURES.split(',').map(str::trim).collect()
}

/// `a = EXCLUDED.a, b = EXCLUDED.b, …`
fn set_from_new(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the new row differs from the stored one in any of `columns`.
fn changed(table: &str, columns: &[&str]) -> String {
    let ours = columns
        .iter()
        .map(|c| format!("{table}.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let theirs = columns
        .iter()
        .map(|c| format!("EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("({ours}) IS DISTINCT FROM ({theirs})")
}

/// The rule of the latest-state tables: take the new row only when its report is newer, or
/// as new and different; an older report never turns the state back, and the same report
/// again changes nothing.
fn newer_or_changed(table: &str, columns: &[&str]) -> String {
    format!(
        "{table}.last_report_at < EXCLUDED.last_report_at
            OR ({table}.last_report_at = EXCLUDED.last_report_at AND {})",
        changed(table, columns)
    )
}

macro_rules! bind_figures {
    ($query:expr, $r:expr) => {
        $query
            .bind::<Nullable<Text>, _>(&$r.serial_number)
            .bind::<Nullable<Text>, _>(&$r.model)
            .bind::<Nullable<Text>, _>(&$r.software_version)
            .bind::<Nullable<Text>, _>(&$r.status)
            .bind::<Nullable<BigInt>, _>($r.physical_capacity_bytes)
            .bind::<Nullable<BigInt>, _>($r.physical_used_bytes)
            .bind::<Nullable<BigInt>, _>($r.physical_free_bytes)
            .bind::<Nullable<BigInt>, _>($r.logical_used_bytes)
            .bind::<Nullable<Double>, _>($r.dedup_ratio)
    };
}

/// Writes everything; returns the rows written per table.
pub async fn store(conn: &mut AsyncPgConnection, c: &Complete<'_>) -> diesel::QueryResult<Value> {
    let r = c.report;
    let report_sql = format!(
        "INSERT INTO hydrastor_system_reports (customer, grid_name, report_time, {FIGURES}, extra, job_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (customer, grid_name, report_time) DO UPDATE SET {}, extra = EXCLUDED.extra, job_id = EXCLUDED.job_id
         WHERE {} OR hydrastor_system_reports.extra IS DISTINCT FROM EXCLUDED.extra",
        set_from_new(&figures()),
        changed("hydrastor_system_reports", &figures())
    );
    let query = diesel::sql_query(report_sql)
        .bind::<Text, _>(c.customer)
        .bind::<Text, _>(c.grid_name)
        .bind::<Timestamptz, _>(c.report_time);
    let reports = bind_figures!(query, r)
        .bind::<Jsonb, _>(Value::Object(r.extra.clone()))
        .bind::<BigInt, _>(c.job_id)
        .execute(conn)
        .await?;

    let grid_sql = format!(
        "INSERT INTO hydrastor_grids (customer, grid_name, last_report_at, {FIGURES})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (customer, grid_name) DO UPDATE SET {}, last_report_at = EXCLUDED.last_report_at, updated_at = now()
         WHERE {}",
        set_from_new(&figures()),
        newer_or_changed("hydrastor_grids", &figures())
    );
    let query = diesel::sql_query(grid_sql)
        .bind::<Text, _>(c.customer)
        .bind::<Text, _>(c.grid_name)
        .bind::<Timestamptz, _>(c.report_time);
    let grids = bind_figures!(query, r).execute(conn).await?;

    let mut nodes = 0;
    for node in &r.nodes {
        nodes += store_node(conn, c, node).await?;
    }
    let mut filesystems = 0;
    for fs in &r.filesystems {
        filesystems += store_filesystem(conn, c, fs).await?;
    }
    Ok(json!({
        "hydrastor_system_reports": reports,
        "hydrastor_grids": grids,
        "hydrastor_nodes": nodes,
        "hydrastor_filesystems": filesystems,
    }))
}

async fn store_node(
    conn: &mut AsyncPgConnection,
    c: &Complete<'_>,
    n: &Node,
) -> diesel::QueryResult<usize> {
    const COLUMNS: [&str; 4] = [
        "role",
        "status",
        "physical_capacity_bytes",
        "physical_used_bytes",
    ];
    diesel::sql_query(format!(
        "INSERT INTO hydrastor_nodes (customer, grid_name, node_name, role, status, physical_capacity_bytes, physical_used_bytes, last_report_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (customer, grid_name, node_name) DO UPDATE SET {}, last_report_at = EXCLUDED.last_report_at
         WHERE {}",
        set_from_new(&COLUMNS),
        newer_or_changed("hydrastor_nodes", &COLUMNS)
    ))
    .bind::<Text, _>(c.customer)
    .bind::<Text, _>(c.grid_name)
    .bind::<Text, _>(&n.name)
    .bind::<Nullable<Text>, _>(&n.role)
    .bind::<Nullable<Text>, _>(&n.status)
    .bind::<Nullable<BigInt>, _>(n.physical_capacity_bytes)
    .bind::<Nullable<BigInt>, _>(n.physical_used_bytes)
    .bind::<Timestamptz, _>(c.report_time)
    .execute(conn)
    .await
}

async fn store_filesystem(
    conn: &mut AsyncPgConnection,
    c: &Complete<'_>,
    f: &FileSystem,
) -> diesel::QueryResult<usize> {
    const COLUMNS: [&str; 4] = ["fs_type", "status", "logical_used_bytes", "dedup_ratio"];
    diesel::sql_query(format!(
        "INSERT INTO hydrastor_filesystems (customer, grid_name, fs_name, fs_type, status, logical_used_bytes, dedup_ratio, last_report_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (customer, grid_name, fs_name) DO UPDATE SET {}, last_report_at = EXCLUDED.last_report_at
         WHERE {}",
        set_from_new(&COLUMNS),
        newer_or_changed("hydrastor_filesystems", &COLUMNS)
    ))
    .bind::<Text, _>(c.customer)
    .bind::<Text, _>(c.grid_name)
    .bind::<Text, _>(&f.name)
    .bind::<Nullable<Text>, _>(&f.fs_type)
    .bind::<Nullable<Text>, _>(&f.status)
    .bind::<Nullable<BigInt>, _>(f.logical_used_bytes)
    .bind::<Nullable<Double>, _>(f.dedup_ratio)
    .bind::<Timestamptz, _>(c.report_time)
    .execute(conn)
    .await
}

//! Upserts of a system report. `hydrastor_system_reports` keeps every report by its time;
//! `hydrastor_grids`, `_nodes` and `_filesystems` hold the latest state and are only
//! updated by a report at least as new as what they hold (and only when a value differs,
//! so processing the same report again changes nothing).

use super::parse::{FileSystem, Node, SystemReport};
use crate::upsert::Upsert;
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

/// The figures a report gives about its grid, in the order they are bound.
const FIGURES: [&str; 9] = [
    "serial_number",
    "model",
    "software_version",
    "status",
    "physical_capacity_bytes",
    "physical_used_bytes",
    "physical_free_bytes",
    "logical_used_bytes",
    "dedup_ratio",
];

/// `first`, then the figures, then `last`: a statement's columns.
fn around_figures<'a>(first: &[&'a str], last: &[&'a str]) -> Vec<&'a str> {
    first.iter().chain(&FIGURES).chain(last).copied().collect()
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
    let report_sql = Upsert::into(
        "hydrastor_system_reports",
        &around_figures(
            &["customer", "grid_name", "report_time"],
            &["extra", "job_id"],
        ),
    )
    .key(&["customer", "grid_name", "report_time"])
    .compared(&around_figures(&[], &["extra"]))
    .carried(&["job_id"])
    .values();
    let query = diesel::sql_query(report_sql)
        .bind::<Text, _>(c.customer)
        .bind::<Text, _>(c.grid_name)
        .bind::<Timestamptz, _>(c.report_time);
    let reports = bind_figures!(query, r)
        .bind::<Jsonb, _>(Value::Object(r.extra.clone()))
        .bind::<BigInt, _>(c.job_id)
        .execute(conn)
        .await?;

    let grid_sql = Upsert::into(
        "hydrastor_grids",
        &around_figures(&["customer", "grid_name", "last_report_at"], &[]),
    )
    .key(&["customer", "grid_name"])
    .compared(&FIGURES)
    .carried(&["last_report_at"])
    .also_set("updated_at = now()")
    .newer_by("last_report_at")
    .values();
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
    let key = ["customer", "grid_name", "node_name"];
    let columns: Vec<&str> = key
        .iter()
        .chain(&COLUMNS)
        .chain(&["last_report_at"])
        .copied()
        .collect();
    let sql = Upsert::into("hydrastor_nodes", &columns)
        .key(&key)
        .compared(&COLUMNS)
        .carried(&["last_report_at"])
        .newer_by("last_report_at")
        .values();
    diesel::sql_query(sql)
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
    let key = ["customer", "grid_name", "fs_name"];
    let columns: Vec<&str> = key
        .iter()
        .chain(&COLUMNS)
        .chain(&["last_report_at"])
        .copied()
        .collect();
    let sql = Upsert::into("hydrastor_filesystems", &columns)
        .key(&key)
        .compared(&COLUMNS)
        .carried(&["last_report_at"])
        .newer_by("last_report_at")
        .values();
    diesel::sql_query(sql)
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

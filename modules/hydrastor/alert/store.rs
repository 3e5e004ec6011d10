//! Upserts of alerts by (customer, grid, node, event id, occurred at). The same alert again
//! changes nothing unless one of its values differs.

use super::parse::Alert;
use crate::upsert::Upsert;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use shared_modules::db::prepared;

pub async fn store(
    conn: &mut AsyncPgConnection,
    customer: &str,
    alerts: &[Alert],
    job_id: i64,
    received_at: DateTime<Utc>,
) -> diesel::QueryResult<usize> {
    const KEY: [&str; 5] = [
        "customer",
        "grid_name",
        "node_name",
        "event_id",
        "occurred_at",
    ];
    const COMPARED: [&str; 4] = ["severity", "component", "message", "extra"];
    const CARRIED: [&str; 2] = ["job_id", "received_at"];
    let columns: Vec<&str> = KEY
        .iter()
        .chain(&COMPARED)
        .chain(&CARRIED)
        .copied()
        .collect();
    let sql = Upsert::into("hydrastor_alerts", &columns)
        .key(&KEY)
        .compared(&COMPARED)
        .carried(&CARRIED)
        .values();
    let mut written = 0;
    for a in alerts {
        written += prepared(
            diesel::sql_query(&sql)
                .bind::<Text, _>(customer)
                .bind::<Text, _>(&a.grid_name)
                .bind::<Text, _>(&a.node_name)
                .bind::<Text, _>(&a.event_id)
                .bind::<Timestamptz, _>(a.occurred_at)
                .bind::<Text, _>(&a.severity)
                .bind::<Nullable<Text>, _>(&a.component)
                .bind::<Nullable<Text>, _>(&a.message)
                .bind::<Jsonb, _>(Value::Object(a.extra.clone()))
                .bind::<BigInt, _>(job_id)
                .bind::<Timestamptz, _>(received_at),
        )
        .execute(conn)
        .await?;
    }
    Ok(written)
}

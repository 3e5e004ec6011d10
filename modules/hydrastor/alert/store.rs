//! Upserts of alerts by (customer, grid, node, event id, occurred at). The same alert again
//! changes nothing unless one of its values differs.

use super::parse::Alert;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

pub async fn store(
    conn: &mut AsyncPgConnection,
    customer: &str,
    alerts: &[Alert],
    job_id: i64,
    received_at: DateTime<Utc>,
) -> diesel::QueryResult<usize> {
    let mut written = 0;
    for a in alerts {
        written += diesel::sql_query(
            "INSERT INTO hydrastor_alerts (customer, grid_name, node_name, event_id, occurred_at, severity, component, message, extra, job_id, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (customer, grid_name, node_name, event_id, occurred_at) DO UPDATE SET
                 severity = EXCLUDED.severity, component = EXCLUDED.component, message = EXCLUDED.message,
                 extra = EXCLUDED.extra, job_id = EXCLUDED.job_id, received_at = EXCLUDED.received_at
             WHERE (hydrastor_alerts.severity, hydrastor_alerts.component, hydrastor_alerts.message, hydrastor_alerts.extra)
                   IS DISTINCT FROM (EXCLUDED.severity, EXCLUDED.component, EXCLUDED.message, EXCLUDED.extra)",
        )
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
        .bind::<Timestamptz, _>(received_at)
        .execute(conn)
        .await?;
    }
    Ok(written)
}

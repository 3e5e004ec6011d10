//! The `nodes` table: each node's heartbeat, and the cluster as `dpctl nodes`, the console
//! and `/metrics` show it.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

pub(super) async fn beat(
    conn: &mut AsyncPgConnection,
    node: &str,
    api_listen: &str,
    started: DateTime<Utc>,
    lease: std::time::Duration,
) -> diesel::QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO nodes (name, version, api_listen, started_at, heartbeat_at, alive_until)
         VALUES ($1, $2, $3, $4, now(), now() + make_interval(secs => $5))
         ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, api_listen = EXCLUDED.api_listen,
             started_at = EXCLUDED.started_at, heartbeat_at = now(),
             alive_until = EXCLUDED.alive_until, stopped_at = NULL",
    )
    .bind::<Text, _>(node)
    .bind::<Text, _>(crate::db::schema_release::BINARY_VERSION)
    .bind::<Text, _>(api_listen)
    .bind::<Timestamptz, _>(started)
    .bind::<diesel::sql_types::Double, _>(lease.as_secs_f64())
    .execute(conn)
    .await
    .map(|_| ())
}

/// One node as the operator sees it.
#[derive(Debug, Clone, Serialize, QueryableByName)]
pub struct NodeRow {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub version: String,
    #[diesel(sql_type = Text)]
    pub api_listen: String,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub heartbeat_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub stopped_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    pub alive: bool,
    #[diesel(sql_type = Bool)]
    pub leader: bool,
    /// Since when it leads, when it does.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub leader_since: Option<DateTime<Utc>>,
    /// Jobs its workers hold now.
    #[diesel(sql_type = BigInt)]
    pub running_jobs: i64,
}

/// Every node that ever beat, alive ones first (alive: its last beat promised another before
/// now, a beat being due every third of its lease).
pub async fn list_nodes(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<NodeRow>> {
    diesel::sql_query(
        "SELECT n.name, n.version, n.api_listen, n.started_at, n.heartbeat_at, n.stopped_at,
                (n.stopped_at IS NULL AND n.alive_until > now()) AS alive,
                (l.node IS NOT NULL) AS leader,
                l.elected_at AS leader_since,
                (SELECT count(*) FROM jobs j WHERE j.state = 'running' AND split_part(j.locked_by, ':', 1) = n.name) AS running_jobs
         FROM nodes n
         LEFT JOIN cluster_leader l ON l.node = n.name AND l.expires_at > now()
         ORDER BY 7 DESC, n.name",
    )
    .load(conn)
    .await
}

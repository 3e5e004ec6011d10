//! The leader's lease in Postgres: one row, taken by whoever finds it free or expired and
//! renewed by its holder every third of the lease. A node believes itself leader only until
//! two thirds of the lease after its last renewal (its own clock), so it stops its duties
//! before any other node may take over, even when the database is away. A node that stops
//! gives the lease up at once.

use super::nodes::beat;
use crate::db::DbPool;
use diesel::QueryableByName;
use diesel::sql_types::{Double, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Whether this node leads now. Cheap to clone and to ask.
#[derive(Clone)]
pub struct Leadership {
    node: Arc<str>,
    started: Instant,
    /// Milliseconds after `started` until which this node leads (0: it does not).
    until_ms: Arc<AtomicU64>,
}

impl Leadership {
    fn new(node: &str) -> Self {
        Self {
            node: node.into(),
            started: Instant::now(),
            until_ms: Arc::default(),
        }
    }

    /// A node alone, always leading (tests, tools that run one duty by hand).
    pub fn alone(node: &str) -> Self {
        let leadership = Self::new(node);
        leadership.until_ms.store(u64::MAX, Ordering::Relaxed);
        leadership
    }

    pub fn is_leader(&self) -> bool {
        (self.started.elapsed().as_millis() as u64)
            < AtomicU64::load(&self.until_ms, Ordering::Relaxed)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    fn lead_until(&self, until: Instant) {
        let ms = until.saturating_duration_since(self.started).as_millis() as u64;
        self.until_ms.store(ms, Ordering::Relaxed);
    }
}

#[derive(QueryableByName)]
struct Lease {
    #[diesel(sql_type = Timestamptz)]
    elected_at: chrono::DateTime<chrono::Utc>,
}

/// Takes the lease when it is free, expired or ours; the holder after the attempt.
async fn try_lead(
    conn: &mut diesel_async::AsyncPgConnection,
    node: &str,
    instance: &str,
    lease: Duration,
) -> diesel::QueryResult<Option<Lease>> {
    let taken: Vec<Lease> = diesel::sql_query(
        "INSERT INTO cluster_leader (id, node, instance, elected_at, expires_at)
         VALUES (1, $1, $3, now(), now() + make_interval(secs => $2))
         ON CONFLICT (id) DO UPDATE SET
             node = EXCLUDED.node,
             instance = EXCLUDED.instance,
             elected_at = CASE WHEN cluster_leader.instance = EXCLUDED.instance
                               THEN cluster_leader.elected_at ELSE now() END,
             expires_at = EXCLUDED.expires_at
         WHERE cluster_leader.instance = EXCLUDED.instance OR cluster_leader.expires_at < now()
         RETURNING elected_at",
    )
    .bind::<Text, _>(node)
    .bind::<Double, _>(lease.as_secs_f64())
    .bind::<Text, _>(instance)
    .load(conn)
    .await?;
    Ok(taken.into_iter().next())
}

/// Beats for this node and runs for the lease, every third of `lease`, until `stop`; then
/// marks the node stopped and gives the lease up.
pub fn spawn_membership(
    pool: DbPool,
    node: &str,
    api_listen: &str,
    lease: Duration,
    stop: CancellationToken,
) -> (Leadership, tokio::task::JoinHandle<()>) {
    let leadership = Leadership::new(node);
    let mine = leadership.clone();
    let (node, api_listen) = (node.to_string(), api_listen.to_string());
    let started = chrono::Utc::now();
    let instance = format!(
        "{}-{}",
        std::process::id(),
        started.timestamp_nanos_opt().unwrap_or(0)
    );
    let task = tokio::spawn(async move {
        let every = lease / 3;
        let mut led = false;
        loop {
            let attempt = Instant::now();
            let outcome = async {
                let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                beat(&mut conn, &node, &api_listen, started, lease)
                    .await
                    .map_err(|e| e.to_string())?;
                try_lead(&mut conn, &node, &instance, lease)
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            match outcome {
                Ok(Some(held)) => {
                    mine.lead_until(attempt + lease * 2 / 3);
                    if !led {
                        tracing::info!(node = %node, elected_at = %held.elected_at, "this node is now the cluster's leader (reaper, reconciliation, retention, sweepers run here)");
                    }
                    led = true;
                }
                Ok(None) => {
                    mine.lead_until(attempt);
                    if led {
                        tracing::warn!(node = %node, "this node is no longer the leader");
                    }
                    led = false;
                }
                Err(e) => {
                    // Leading on only while the last renewal's lease lasts (lead_until).
                    tracing::warn!(node = %node, error = %e, "cannot reach the database to beat and renew the lease");
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
        mine.lead_until(Instant::now());
        if let Ok(mut conn) = pool.get().await {
            let _ = diesel::sql_query("DELETE FROM cluster_leader WHERE instance = $1")
                .bind::<Text, _>(&instance)
                .execute(&mut conn)
                .await;
            let _ = diesel::sql_query("UPDATE nodes SET stopped_at = now() WHERE name = $1")
                .bind::<Text, _>(&node)
                .execute(&mut conn)
                .await;
        }
        if led {
            tracing::info!(node = %node, "stopping: the lease is given up for another node to take");
        }
    });
    (leadership, task)
}

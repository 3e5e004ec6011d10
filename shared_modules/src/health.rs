//! What "healthy" means, for `GET /api/1.0/health` and the container's `dpctl health`: the
//! database answers a query, and the data root takes a file (written and removed under
//! `tmp/`). Each caller adds its own timeout and reports the text.

use diesel_async::{AsyncPgConnection, RunQueryDsl};

pub async fn check_database(conn: &mut AsyncPgConnection) -> Result<(), String> {
    diesel::sql_query("SELECT 1")
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Blocking file I/O: call it off the async threads.
pub fn check_storage(root: &std::path::Path) -> Result<(), String> {
    // One name per check: concurrent checks must not remove each other's probe.
    static CHECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = root
        .join("tmp")
        .join(format!(".health-{}-{n}", std::process::id()));
    std::fs::write(&probe, b"ok")
        .map_err(|e| format!("{} is not writable: {e}", probe.display()))?;
    std::fs::remove_file(&probe).map_err(|e| format!("cannot remove {}: {e}", probe.display()))
}

#[cfg(test)]
mod tests {
    use super::check_storage;

    #[test]
    fn concurrent_storage_checks_do_not_trip_over_each_other() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("tmp")).unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..200 {
                        check_storage(root.path()).unwrap();
                    }
                });
            }
        });
    }
}

use super::AppState;
use actix_web::{HttpResponse, web};
use diesel_async::RunQueryDsl;
use serde_json::json;
use std::time::Duration;

/// `GET /api/1.0/health`: 200 when the database answers and the data root is writable,
/// 503 naming what failed otherwise.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let database = check_database(&state).await;
    let storage = check_storage(&state.config.paths.root);
    let ok = database.is_ok() && storage.is_ok();
    let show = |r: &Result<(), String>| match r {
        Ok(()) => json!({ "ok": true }),
        Err(e) => json!({ "ok": false, "error": e }),
    };
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "version": build_info::VERSION,
        "commit": build_info::COMMIT,
        "checks": { "database": show(&database), "storage": show(&storage) },
    });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn check_database(state: &AppState) -> Result<(), String> {
    let check = async {
        let mut conn = state
            .pool
            .get()
            .await
            .map_err(|e| shared_modules::db::pool_error_text(&e))?;
        diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    };
    tokio::time::timeout(Duration::from_secs(3), check)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{}: timeout after 3 s",
                shared_modules::db::database_target(&state.config.database.url)
            ))
        })
}

fn check_storage(root: &std::path::Path) -> Result<(), String> {
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

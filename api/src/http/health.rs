use super::AppState;
use actix_web::{HttpResponse, web};
use serde_json::json;
use shared_modules::health::{check_database, check_storage};
use std::time::Duration;

/// How long each check may take before health answers that it timed out.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET /api/1.0/health`: 200 when the database answers and the data root is writable,
/// 503 naming what failed otherwise.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let root = state.config.paths.root.clone();
    let (database, storage) = tokio::join!(
        database_check(&state),
        off_the_event_loop(CHECK_TIMEOUT, move || check_storage(&root))
    );
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

async fn database_check(state: &AppState) -> Result<(), String> {
    let check = async {
        let mut conn = state
            .pool
            .get()
            .await
            .map_err(|e| shared_modules::db::pool_error_text(&e))?;
        check_database(&mut conn).await
    };
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{}: timeout after 3 s",
                shared_modules::db::database_target(&state.config.database.url)
            ))
        })
}

/// Runs a check that does file I/O on the blocking pool: a slow or hung disk must not stall
/// the other requests this worker thread serves. After `timeout` the check is reported as
/// timed out (it finishes, or not, on its own thread).
async fn off_the_event_loop(
    timeout: Duration,
    check: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, tokio::task::spawn_blocking(check)).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(format!("the storage check failed: {e}")),
        Err(_) => Err(format!(
            "the storage check did not finish within {} s",
            timeout.as_secs_f64()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::off_the_event_loop;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    /// One worker thread, as each of actix's: while the storage check blocks for 300 ms,
    /// a task on the same thread must keep running (it ticks every 10 ms). Calling the
    /// check directly on the event loop leaves it at 0 or 1 ticks.
    #[test]
    fn a_slow_disk_does_not_stall_the_worker_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let ticks = Arc::new(AtomicU32::new(0));
        let counted = ticks.clone();
        let result = runtime.block_on(async move {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            });
            off_the_event_loop(Duration::from_secs(5), || {
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .await
        });
        assert_eq!(result, Ok(()));
        let ticks = ticks.load(Ordering::Relaxed);
        assert!(
            ticks >= 10,
            "the event loop stalled: {ticks} ticks in 300 ms"
        );
    }

    #[test]
    fn a_hung_disk_is_reported_as_a_timeout_not_waited_for() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let result = runtime.block_on(off_the_event_loop(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(2));
            Ok(())
        }));
        runtime.shutdown_background();
        let error = result.unwrap_err();
        assert!(error.contains("did not finish within 0.1 s"), "{error}");
    }
}

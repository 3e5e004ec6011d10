//! The job routes in-process against the real Postgres: listing with filters and cursor,
//! one job with its events, retry and cancel, and the error envelope for each failure.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use actix_web::{App, test};
use api::http::{AppState, configure};
use serde_json::{Value, json};
use shared_modules::jobs::enqueue;
use shared_modules::testing::{TestDb, sleep_job, test_config};
use std::sync::Arc;

const KEY: (&str, &str) = ("X-Api-Key", "test-key-0123456789abcdef");

async fn call(state: AppState, method: &str, uri: &str, with_key: bool) -> (u16, Value) {
    let app = test::init_service(App::new().configure(configure(state))).await;
    let mut req = test::TestRequest::default()
        .method(actix_web::http::Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri);
    if with_key {
        req = req.insert_header(KEY);
    }
    // An error from middleware (the key check) comes back as Err, as the server would render it.
    let resp = match test::try_call_service(&app, req.to_request()).await {
        Ok(resp) => resp.map_into_boxed_body().into_parts().1,
        Err(err) => err.error_response(),
    };
    let status = resp.status().as_u16();
    let body = actix_web::body::to_bytes(resp.into_body()).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn state_with_jobs(n: usize) -> (TestDb, AppState, Vec<i64>, tempfile::TempDir) {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let pool = db.pool();
    let mut conn = pool.get().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let mut job = sleep_job(json!({}));
        job.customer = if i % 2 == 0 {
            "even".into()
        } else {
            "odd".into()
        };
        ids.push(enqueue(&mut conn, &job).await.unwrap().job.id);
    }
    let state = AppState::new(
        Arc::new(test_config(&db.url, dir.path())),
        pool,
        shared_modules::customers::ServerKey::random(),
    );
    (db, state, ids, dir)
}

#[actix_web::test]
async fn jobs_are_listed_newest_first_filtered_and_paged() {
    let (_db, state, ids, _dir) = state_with_jobs(5).await;
    let (status, page) = call(state.clone(), "GET", "/api/1.0/jobs?limit=2", true).await;
    assert_eq!(status, 200);
    let got: Vec<i64> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![ids[4], ids[3]]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page2) = call(
        state.clone(),
        "GET",
        &format!("/api/1.0/jobs?limit=2&cursor={cursor}"),
        true,
    )
    .await;
    let got2: Vec<i64> = page2["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got2, vec![ids[2], ids[1]]);
    let (_, odd) = call(
        state.clone(),
        "GET",
        "/api/1.0/jobs?customer=odd&status=queued&type=sleep",
        true,
    )
    .await;
    assert_eq!(odd["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(odd["next_cursor"], Value::Null);
    assert_eq!(odd["jobs"][0]["type"], "sleep");
}

/// Equal as JSON, where two strings that are the same instant in different RFC 3339 forms
/// (`Z` or `+00:00`) count as equal.
fn same_value(a: &Value, b: &Value) -> bool {
    let instant = |v: &Value| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    match (instant(a), instant(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[actix_web::test]
async fn a_listed_job_has_every_field_and_value_of_the_job_shown_alone() {
    let (db, state, ids, _dir) = state_with_jobs(3).await;
    // Fill the nullable and JSON columns, with text that needs escaping in JSON.
    let sql = format!(
        "UPDATE jobs SET state = 'error', error = 'bad \"quote\" and \\ back\nslash', \
         result = '{{\"rows\": 3, \"nested\": [1, null]}}', started_at = now(), \
         finished_at = now(), locked_by = 'w1', metadata = '{{\"subject\": \"ü ✓\"}}' \
         WHERE id = {}",
        ids[1]
    );
    let mut conn = db.pool().get().await.unwrap();
    diesel_async::RunQueryDsl::execute(diesel::sql_query(sql), &mut conn)
        .await
        .unwrap();
    let (status, page) = call(state.clone(), "GET", "/api/1.0/jobs", true).await;
    assert_eq!(status, 200);
    let listed = page["jobs"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    for entry in listed {
        let id = entry["id"].as_i64().unwrap();
        let (_, mut shown) = call(state.clone(), "GET", &format!("/api/1.0/jobs/{id}"), true).await;
        shown.as_object_mut().unwrap().remove("events");
        let (entry, shown) = (entry.as_object().unwrap(), shown.as_object().unwrap());
        let mut keys: Vec<&String> = entry.keys().collect();
        let mut shown_keys: Vec<&String> = shown.keys().collect();
        keys.sort();
        shown_keys.sort();
        assert_eq!(keys, shown_keys, "job {id}");
        for (key, value) in shown {
            assert!(
                same_value(&entry[key], value),
                "job {id} {key}: {} vs {value}",
                entry[key]
            );
        }
    }
    assert_eq!(listed[1]["result"]["nested"], json!([1, null]));
}

#[actix_web::test]
async fn one_job_shows_its_events_and_can_be_cancelled_then_retried() {
    let (_db, state, ids, _dir) = state_with_jobs(1).await;
    let (status, job) = call(
        state.clone(),
        "GET",
        &format!("/api/1.0/jobs/{}", ids[0]),
        true,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(job["state"], "queued");
    assert_eq!(job["events"][0]["step"], "enqueue");

    let (status, body) = call(
        state.clone(),
        "POST",
        &format!("/api/1.0/jobs/{}/retry", ids[0]),
        true,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, body) = call(
        state.clone(),
        "POST",
        &format!("/api/1.0/jobs/{}/cancel", ids[0]),
        true,
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")));
    let (status, _) = call(
        state.clone(),
        "POST",
        &format!("/api/1.0/jobs/{}/cancel", ids[0]),
        true,
    )
    .await;
    assert_eq!(status, 409);
    let (status, body) = call(
        state.clone(),
        "POST",
        &format!("/api/1.0/jobs/{}/retry", ids[0]),
        true,
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (202, Some("queued")));
}

/// The state of job `id` in a `GET /jobs` answer.
async fn listed_state(state: &AppState, id: i64) -> String {
    let (_, page) = call(state.clone(), "GET", "/api/1.0/jobs?limit=10", true).await;
    page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id)
        .map(|j| j["state"].as_str().unwrap().to_string())
        .unwrap()
}

#[actix_web::test]
async fn the_listing_is_shared_for_its_period_and_cleared_by_the_apis_own_changes() {
    let (db, _, ids, dir) = state_with_jobs(2).await;
    let pool = db.pool();
    let with_cache = |ms: u64| {
        let mut config = test_config(&db.url, dir.path());
        config.api.listing_cache_ms = ms;
        AppState::new(
            Arc::new(config),
            pool.clone(),
            shared_modules::customers::ServerKey::random(),
        )
    };
    let change_behind_the_api = |id: i64, to: &'static str| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.get().await.unwrap();
            let sql = format!("UPDATE jobs SET state = '{to}' WHERE id = {id}");
            diesel_async::RunQueryDsl::execute(diesel::sql_query(sql), &mut conn)
                .await
                .unwrap();
        }
    };

    // A long period, so that the test does not depend on timing.
    let cached = with_cache(3_600_000);
    assert_eq!(listed_state(&cached, ids[0]).await, "queued");
    change_behind_the_api(ids[0], "error").await;
    assert_eq!(
        listed_state(&cached, ids[0]).await,
        "queued",
        "within the period, the shared answer"
    );
    let (_, job) = call(
        cached.clone(),
        "GET",
        &format!("/api/1.0/jobs/{}", ids[0]),
        true,
    )
    .await;
    assert_eq!(
        job["state"], "error",
        "one job is always read from the database"
    );
    let (status, _) = call(
        cached.clone(),
        "POST",
        &format!("/api/1.0/jobs/{}/cancel", ids[1]),
        true,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        listed_state(&cached, ids[1]).await,
        "cancelled",
        "cleared by the cancel"
    );
    assert_eq!(listed_state(&cached, ids[0]).await, "error");

    let uncached = with_cache(0);
    change_behind_the_api(ids[0], "done").await;
    assert_eq!(
        listed_state(&uncached, ids[0]).await,
        "done",
        "0 turns it off"
    );
}

#[actix_web::test]
async fn every_error_is_the_json_envelope() {
    let (_db, state, _ids, _dir) = state_with_jobs(0).await;
    let cases = [
        ("GET", "/api/1.0/jobs", false, 401, "unauthorized"),
        ("GET", "/api/1.0/jobs/999999", true, 404, "not_found"),
        ("GET", "/api/1.0/jobs/abc", true, 400, "bad_request"),
        (
            "GET",
            "/api/1.0/jobs?status=sleeping",
            true,
            400,
            "bad_request",
        ),
        ("GET", "/api/1.0/jobs?limit=0", true, 400, "bad_request"),
        ("GET", "/api/1.0/jobs?cursor=xyz", true, 400, "bad_request"),
        (
            "GET",
            "/api/1.0/jobs?since=yesterday",
            true,
            400,
            "bad_request",
        ),
        ("GET", "/api/1.0/nothing-here", true, 404, "not_found"),
        ("GET", "/elsewhere", false, 404, "not_found"),
    ];
    for (method, uri, key, want_status, want_code) in cases {
        let (status, body) = call(state.clone(), method, uri, key).await;
        assert_eq!(status, want_status, "{method} {uri}: {body}");
        assert_eq!(body["error"]["code"], want_code, "{method} {uri}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[actix_web::test]
async fn a_database_that_is_down_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    // Nothing listens on port 1.
    let url = "postgres://postgres@127.0.0.1:1/none";
    let mut config = test_config(url, dir.path());
    config.database.connect_timeout_seconds = 1;
    let pool = shared_modules::db::connect_pool(url, 2, std::time::Duration::from_secs(1)).unwrap();
    let state = AppState::new(
        Arc::new(config),
        pool,
        shared_modules::customers::ServerKey::random(),
    );
    let (status, body) = call(state.clone(), "GET", "/api/1.0/jobs", true).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    let (status, body) = call(state, "GET", "/api/1.0/health", true).await;
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["database"]["ok"], false);
    assert_eq!(body["checks"]["storage"]["ok"], true);
}

/// What an adversarial probe of the API found: each answer is a documented 4xx with the
/// error envelope, never a 500 with the database's words.
#[actix_web::test]
async fn hostile_queries_get_clear_client_errors() {
    let (_db, state, ids, _dir) = state_with_jobs(2).await;
    for uri in [
        "/api/1.0/jobs?customer=%00",
        "/api/1.0/jobs?type=%00abc",
        "/api/1.0/jobs?category=A%20B",
        "/api/1.0/jobs?status=%00",
        "/api/1.0/jobs?cursor=-5",
        "/api/1.0/jobs/99999999999999999999",
    ] {
        let (status, body) = call(state.clone(), "GET", uri, true).await;
        assert_eq!(status, 400, "{uri}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{uri}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains('\0') && !message.contains("postgres"),
            "{uri}: {message}"
        );
    }
    let (status, body) = call(
        state.clone(),
        "POST",
        "/api/1.0/jobs/99999999999999999999/retry",
        true,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );

    // An empty cursor is the first page, as the schema allows.
    let (status, page) = call(state.clone(), "GET", "/api/1.0/jobs?cursor=", true).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["jobs"][0]["id"], ids[1]);

    // A method the path does not take is 405 naming the allowed ones, not 404.
    let (status, body) = call(state.clone(), "TRACE", "/api/1.0/jobs", true).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["error"]["code"], "method_not_allowed");
    assert!(body["error"]["message"].as_str().unwrap().contains("GET"));
    let (status, _) = call(
        state.clone(),
        "DELETE",
        &format!("/api/1.0/jobs/{}", ids[0]),
        true,
    )
    .await;
    assert_eq!(status, 405);
    let (status, _) = call(state, "GET", "/nothing/here", true).await;
    assert_eq!(status, 404);
}

/// 40 scrapers once made every authenticated call 503: each scrape ran two full scans of
/// `jobs` on the shared pool. The database gauges are now read at most once per period,
/// whatever the number of scrapers: a job added between two scrapes shows only later.
#[actix_web::test]
async fn metrics_read_the_database_at_most_once_per_period() {
    let (db, state, _ids, _dir) = state_with_jobs(2).await;
    let app = test::init_service(App::new().configure(configure(state))).await;
    let scrape = async || {
        let req = test::TestRequest::get()
            .uri("/metrics")
            .insert_header(KEY)
            .to_request();
        let body = test::call_and_read_body(&app, req).await;
        let text = String::from_utf8_lossy(&body).to_string();
        text.lines()
            .find(|l| l.starts_with("dataprocessor_jobs{"))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no jobs gauge in {text}"))
    };
    assert_eq!(scrape().await, "2");
    let mut conn = db.pool().get().await.unwrap();
    enqueue(&mut conn, &sleep_job(json!({}))).await.unwrap();
    for _ in 0..20 {
        assert_eq!(scrape().await, "2", "read again within the period");
    }
}

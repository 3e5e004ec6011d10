//! The OpenAPI document describes exactly the routes that exist, and it is served.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use actix_web::App;
use actix_web::test as web_test;
use api::http::{AppState, OPENAPI, configure, routes};
use serde_json::Value;
use shared_modules::testing::{TestDb, test_config};
use std::collections::BTreeSet;
use std::sync::Arc;

fn documented() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

#[test]
fn every_route_is_documented_and_every_documented_operation_exists() {
    let mut registered: BTreeSet<(String, String)> = routes()
        .into_iter()
        .map(|(m, p, _)| (m.to_string(), format!("/api/1.0{p}")))
        .collect();
    registered.insert(("GET".into(), "/metrics".into()));
    assert_eq!(documented(), registered);
}

#[actix_web::test]
async fn every_documented_operation_answers_and_the_document_is_served() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    let state = AppState::new(
        Arc::new(test_config(&db.url, dir.path())),
        db.pool(),
        shared_modules::customers::ServerKey::random(),
    );
    let app = web_test::init_service(App::new().configure(configure(state))).await;
    for (method, path) in documented() {
        let uri = path.replace("{id}", "1");
        let req = match method.as_str() {
            "POST" => web_test::TestRequest::post(),
            _ => web_test::TestRequest::get(),
        }
        .uri(&uri)
        .insert_header(("X-Api-Key", "test-key-0123456789abcdef"))
        .to_request();
        let resp = web_test::call_service(&app, req).await;
        let body: Value =
            serde_json::from_slice(&web_test::read_body(resp).await).unwrap_or(Value::Null);
        let no_route = body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("no route"));
        assert!(!no_route, "{method} {uri} is documented but not routed");
    }
    // Documentation: served without a key.
    let req = web_test::TestRequest::get()
        .uri("/api/1.0/openapi.json")
        .to_request();
    let served: Value = web_test::call_and_read_body_json(&app, req).await;
    assert_eq!(served["openapi"], "3.0.3");
    let refused = web_test::call_service(
        &app,
        web_test::TestRequest::get().uri("/metrics").to_request(),
    )
    .await;
    assert_eq!(refused.status().as_u16(), 401, "/metrics needs a key");
    let metrics = web_test::call_and_read_body(
        &app,
        web_test::TestRequest::get()
            .uri("/metrics")
            .insert_header(("Authorization", "Bearer test-key-0123456789abcdef"))
            .to_request(),
    )
    .await;
    let text = String::from_utf8_lossy(&metrics);
    assert!(
        text.contains("dataprocessor_database_up 1") && text.contains("dataprocessor_queue_depth"),
        "{text}"
    );
}

//! The repository's config.json: it loads, every key is documented, and mistakes are named.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use serde_json::Value;
use shared_modules::config::{ConfigError, load_from_str};
use std::path::Path;

fn repo_config() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.json"))
        .expect("config.json")
}

#[test]
fn the_repository_config_loads_and_names_the_example_customer() {
    let config = load_from_str(&repo_config(), Path::new("config.json"), &[]).expect("valid");
    let customer = config
        .customer_for_recipient("Bobs_Burgers@ingest.hview.example")
        .expect("customer");
    assert_eq!(customer.name, "bobs_burgers");
    assert_eq!(config.api.listen, "0.0.0.0:25025");
}

/// Every key in the file has a `#key` sibling explaining it (arrays of objects: each object).
#[test]
fn every_key_in_the_repository_config_is_documented() {
    fn walk(value: &Value, path: &str, missing: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter().filter(|(k, _)| !k.starts_with('#')) {
                    if !map.contains_key(&format!("#{key}")) && !map.contains_key("#") {
                        missing.push(format!("{path}.{key}"));
                    }
                    walk(child, &format!("{path}.{key}"), missing);
                }
            }
            Value::Array(items) => items
                .iter()
                .for_each(|v| walk(v, &format!("{path}[]"), missing)),
            _ => {}
        }
    }
    let value: Value = serde_json::from_str(&repo_config()).unwrap();
    let mut missing = Vec::new();
    if let Value::Object(top) = &value {
        for (key, child) in top.iter().filter(|(k, _)| !k.starts_with('#')) {
            walk(child, key, &mut missing);
        }
    }
    assert!(missing.is_empty(), "undocumented keys: {missing:?}");
}

#[test]
fn the_environment_overrides_the_file() {
    let env = vec![
        (
            "DATABASE_URL".to_string(),
            "postgres://u@db:5432/x".to_string(),
        ),
        ("DP__WORKERS__CONCURRENCY".to_string(), "9".to_string()),
        ("DP__PATHS__ROOT".to_string(), "/srv/mailbox".to_string()),
    ];
    let config = load_from_str(&repo_config(), Path::new("config.json"), &env).unwrap();
    assert_eq!(config.database.url, "postgres://u@db:5432/x");
    assert_eq!(config.workers.concurrency, 9);
    assert_eq!(config.paths.root, Path::new("/srv/mailbox"));
}

#[test]
fn a_bad_value_is_refused_naming_its_key() {
    let cases = [
        (r#"{"workers": {"concurrency": 0}}"#, "workers.concurrency"),
        (
            r#"{"workers": {"concurrency": "many"}}"#,
            "workers.concurrency",
        ),
        (r#"{"api": {"listen": "nowhere"}}"#, "api.listen"),
        (
            r#"{"api": {"database_connections": 0}}"#,
            "api.database_connections",
        ),
        (
            r#"{"api": {"database_connections": 17}, "database": {"pool_size": 16}}"#,
            "api.database_connections",
        ),
        (r#"{"api": {"keys": ["short"]}}"#, "api.keys[0]"),
        (r#"{"paths": {"root": "relative/dir"}}"#, "paths.root"),
        (r#"{"jobs": {"lease_secs": 3}}"#, "jobs"),
        (
            r#"{"customers": [{"name": "Bad Name!"}]}"#,
            "customers[0].name",
        ),
        (
            r#"{"routing": [{"subject": "no group", "category": "a", "type": "b"}]}"#,
            "routing[0]",
        ),
    ];
    for (text, key) in cases {
        match load_from_str(text, Path::new("c.json"), &[]) {
            Err(ConfigError::Invalid { key: got, message }) => {
                assert!(
                    got.starts_with(key),
                    "{text}: named `{got}` ({message}), expected `{key}`"
                )
            }
            other => panic!("{text}: expected an invalid-key error, got {other:?}"),
        }
    }
    assert!(matches!(
        load_from_str("{", Path::new("c.json"), &[]),
        Err(ConfigError::Syntax { .. })
    ));
}

/// A secret given the wrong shape must not come back in the error: the mailhandler prints
/// its error line to Postfix, which keeps it as the defer reason.
#[test]
fn an_error_about_a_secret_never_echoes_it() {
    let env = |name: &str, value: &str| vec![(name.to_string(), value.to_string())];
    for (name, value) in [
        ("DP__API__KEYS", "hunter2-this-is-secret"),
        ("DP__S3__SECRET_ACCESS_KEY", "[\"hunter2-this-is-secret\"]"),
        ("DATABASE_URL", "{\"hunter2-this-is-secret\": 1}"),
    ] {
        let error = load_from_str("{}", Path::new("c.json"), &env(name, value))
            .expect_err("a wrong shape is refused")
            .to_string();
        assert!(!error.contains("hunter2"), "{name}: {error}");
    }
}

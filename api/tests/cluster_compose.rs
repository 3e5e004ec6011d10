//! `docker-compose.cluster.yml` (issue 25, item 8) read as compose reads it (`podman-compose
//! config`): two nodes of the one image with their own names, Postfix ports and logs, one
//! Postgres, one shared volume at the data root, one Zenko both nodes use with the same
//! key; every environment override a real config key, every image pinned.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::{compose_as_read, repo};
use serde_yaml::Value;
use std::path::Path;

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_nodes_share_the_database_the_volume_and_the_store() {
    let compose = compose_as_read("docker-compose.cluster.yml");
    let services = compose["services"].as_mapping().unwrap();
    for (name, service) in services {
        assert_eq!(
            service["restart"],
            Value::from("unless-stopped"),
            "{name:?}"
        );
        let image = service["image"].as_str().unwrap();
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest",
            "{name:?}: {image} is pinned"
        );
        if service["build"].is_null() {
            assert!(
                image.matches('/').count() >= 2,
                "{image} is fully qualified"
            );
        }
    }
    let template = std::fs::read_to_string(repo().join("config.json")).unwrap();
    let mut names = Vec::new();
    let mut roots = Vec::new();
    let mut urls = Vec::new();
    let mut logs = Vec::new();
    let mut smtp = Vec::new();
    for service in ["dataprocessor-1", "dataprocessor-2"] {
        let node = &compose["services"][service];
        let env: Vec<(String, String)> = node["environment"]
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().unwrap().to_string(),
                    v.as_str().unwrap().to_string(),
                )
            })
            .collect();
        let config =
            shared_modules::config::load_from_str(&template, Path::new("config.json"), &env)
                .unwrap_or_else(|e| panic!("{service}'s environment is refused: {e}"));
        assert_eq!(config.s3.mode, shared_modules::config::S3Mode::External);
        assert_eq!(config.s3.endpoint, "http://zenko:8000");
        assert_eq!(
            config.s3.secret_access_key,
            compose["services"]["zenko"]["environment"]["SCALITY_SECRET_ACCESS_KEY"]
                .as_str()
                .unwrap(),
            "the nodes sign with the key Zenko knows"
        );
        names.push(config.node_name());
        urls.push(config.database.url.clone());
        let mounts = strings(&node["volumes"]);
        let root = format!(":{}", config.paths.root.display());
        let shared = mounts.iter().find(|m| m.ends_with(&root)).unwrap().clone();
        roots.push(shared);
        let log_dir = format!(":{}", config.logging.directory.as_ref().unwrap().display());
        logs.push(
            mounts
                .iter()
                .find(|m| m.ends_with(&log_dir))
                .unwrap()
                .clone(),
        );
        smtp.push(
            strings(&node["ports"])
                .into_iter()
                .find(|p| p.ends_with(":25"))
                .unwrap(),
        );
    }
    assert_ne!(names[0], names[1], "each node its own name");
    assert_eq!(urls[0], urls[1], "one database");
    assert_eq!(roots[0], roots[1], "one shared volume at the data root");
    assert_ne!(logs[0], logs[1], "each node its own logs");
    assert_ne!(smtp[0], smtp[1], "each node its own Postfix port");
    assert!(compose["services"]["postgres"].is_mapping());
}

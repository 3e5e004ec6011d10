//! No Docker engine runs here, so the Dockerfile, docker-compose.yml and the entrypoint are
//! held to the code by this test: binaries, ports, paths, environment names, the Postfix
//! setup and the Rust version must match what the tests run.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use serde_yaml::Value;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn config() -> shared_modules::config::Config {
    shared_modules::config::load_from_str(&read("config.json"), Path::new("config.json"), &[])
        .unwrap()
}

#[test]
fn the_image_ships_the_workspace_binaries_at_the_paths_the_entrypoint_uses() {
    let dockerfile = read("Dockerfile");
    for bin in ["dataprocessor", "mailhandler", "dpctl"] {
        assert!(
            dockerfile.contains(&format!("/src/target/release/{bin}")),
            "Dockerfile copies {bin}"
        );
    }
    let manifests = [
        "api/Cargo.toml",
        "mailhandler/Cargo.toml",
        "tools/Cargo.toml",
    ]
    .map(read)
    .join("\n");
    for bin in [
        "name = \"dataprocessor\"",
        "name = \"mailhandler\"",
        "name = \"dpctl\"",
    ] {
        assert!(manifests.contains(bin), "{bin} is a workspace binary");
    }
    let entrypoint = read("docker/entrypoint.sh");
    assert!(dockerfile.contains("COPY docker/entrypoint.sh /usr/local/bin/entrypoint.sh"));
    assert!(dockerfile.contains("COPY mailhandler/postfix /etc/hview/postfix"));
    assert!(entrypoint.contains(
        "/etc/hview/postfix/install.sh /usr/local/bin/mailhandler \"$DATAPROCESSOR_CONFIG\""
    ));
    assert!(repo().join("mailhandler/postfix/install.sh").exists());
    assert!(entrypoint.contains("dataprocessor serve"));
    assert!(dockerfile.contains("COPY config.json /etc/hview/config.json"));
    assert!(dockerfile.contains("ENV DATAPROCESSOR_CONFIG=/etc/hview/config.json"));
    assert!(
        dockerfile.contains(r#"HEALTHCHECK"#) && dockerfile.contains(r#"CMD ["dpctl", "health"]"#)
    );
    assert!(
        read("tools/src/main.rs").contains("Health =>")
            || read("tools/src/main.rs").contains("Command::Health")
    );
    // The pipe runs as the unprivileged user the image creates.
    assert!(read("mailhandler/postfix/master.cf").contains("user=hview"));
    assert!(dockerfile.contains("useradd --system") && dockerfile.contains(" hview"));
    // The build image's Rust is the workspace's.
    let version = read("Cargo.toml")
        .lines()
        .find(|l| l.starts_with("rust-version"))
        .unwrap()
        .split('"')
        .nth(1)
        .unwrap()
        .to_string();
    assert!(
        dockerfile.contains(&format!("FROM rust:{version}-")),
        "Dockerfile builds with Rust {version}"
    );
}

#[test]
fn ports_and_volumes_match_the_configuration() {
    let dockerfile = read("Dockerfile");
    let config = config();
    let api_port = config.api.listen.rsplit(':').next().unwrap().to_string();
    assert!(dockerfile.contains(&format!("EXPOSE 25 {api_port}")));
    let volumes = format!(
        "VOLUME [\"{}\", \"{}\"]",
        config.paths.root.display(),
        config.logging.directory.as_ref().unwrap().display()
    );
    assert!(
        dockerfile.contains(&volumes),
        "Dockerfile declares {volumes}"
    );

    let compose: Value = serde_yaml::from_str(&read("docker-compose.yml")).unwrap();
    let service = &compose["services"]["dataprocessor"];
    assert_eq!(service["container_name"], Value::from("hview.data"));
    let ports: Vec<String> = service["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert!(
        ports.contains(&"25:25".to_string()) && ports.contains(&format!("{api_port}:{api_port}")),
        "{ports:?}"
    );
    let mounts: Vec<String> = service["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(
        mounts
            .iter()
            .any(|m| m.ends_with(&format!(":{}", config.paths.root.display())))
    );
    assert!(mounts.iter().any(|m| m.ends_with(&format!(
        ":{}",
        config.logging.directory.as_ref().unwrap().display()
    ))));
    for needed in ["postgres", "s3"] {
        assert!(
            compose["services"][needed].is_mapping(),
            "compose runs {needed}"
        );
    }
    assert!(
        compose["services"]["s3"]["image"]
            .as_str()
            .unwrap()
            .contains("zenko/cloudserver")
    );
}

#[test]
fn every_environment_override_in_compose_is_a_real_config_key() {
    let compose: Value = serde_yaml::from_str(&read("docker-compose.yml")).unwrap();
    let env: Vec<(String, String)> = compose["services"]["dataprocessor"]["environment"]
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
    assert!(env.iter().any(|(k, _)| k == "DATABASE_URL"));
    for (name, _) in &env {
        assert!(
            name == "DATABASE_URL" || name.starts_with("DP__"),
            "{name} is not read by the DataProcessor"
        );
    }
    let config =
        shared_modules::config::load_from_str(&read("config.json"), Path::new("config.json"), &env)
            .unwrap_or_else(|e| panic!("compose's environment is refused: {e}"));
    let value = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(config.database.url, value("DATABASE_URL"));
    assert_eq!(config.s3.endpoint, value("DP__S3__ENDPOINT"));
    assert_eq!(config.paths.root, Path::new(&value("DP__PATHS__ROOT")));
    // The database the compose file creates is the one the URL names.
    let db = compose["services"]["postgres"]["environment"]["POSTGRES_DB"]
        .as_str()
        .unwrap();
    assert!(config.database.url.ends_with(&format!("/{db}")));
}

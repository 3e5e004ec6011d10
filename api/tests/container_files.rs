//! The Dockerfile, docker-compose.yml and the entrypoint held to the code: binaries, ports,
//! paths, environment names, the Postfix setup and the Rust version must match what the
//! tests run (the image itself is built and run by `container.rs`; compose needs a Docker
//! host, so `podman-compose config` checks it as compose reads it).

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::{compose_as_read, repo};
use serde_yaml::Value;
use std::path::Path;

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
    let image_script = read("scripts/image.sh");
    assert!(dockerfile.contains("COPY --from=build /out/ /usr/local/bin/"));
    for bin in ["dataprocessor", "mailhandler", "dpctl"] {
        assert!(
            dockerfile.contains(&format!("target/release/{bin}")),
            "the build stage puts {bin} in /out"
        );
        assert!(
            image_script.contains(&format!(" {bin}")),
            "scripts/image.sh gives {bin} as the build stage's output"
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
    assert!(
        compose["services"]["postgres"].is_mapping(),
        "compose runs postgres"
    );
    // Customers upload to serve itself (S3 on 25025): no object store is run or published
    // beside it, and nothing but the DataProcessor publishes a port.
    for (name, service) in compose["services"].as_mapping().unwrap() {
        if name.as_str() != Some("dataprocessor") {
            assert!(service["ports"].is_null(), "{name:?} publishes a port");
        }
    }
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
    let entrypoint = read("docker/entrypoint.sh");
    for (name, _) in &env {
        assert!(
            name == "DATABASE_URL"
                || name.starts_with("DP__")
                || entrypoint.contains(&format!("${{{name}")),
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
    // Compose makes serve the S3 endpoint customers upload to, on 25025.
    assert_eq!(config.s3.mode, shared_modules::config::S3Mode::Embedded);
    assert_eq!(config.paths.root, Path::new(&value("DP__PATHS__ROOT")));
    // The database the compose file creates is the one the URL names.
    let db = compose["services"]["postgres"]["environment"]["POSTGRES_DB"]
        .as_str()
        .unwrap();
    assert!(config.database.url.ends_with(&format!("/{db}")));
}

/// `docker compose` on a real host reads the file as `podman-compose config` does here:
/// interpolated, valid, with what a first `up` needs.
#[test]
fn compose_as_compose_reads_it_starts_what_the_image_needs() {
    let compose = compose_as_read("docker-compose.yml");
    let services = compose["services"].as_mapping().unwrap();
    for (name, service) in services {
        let name = name.as_str().unwrap();
        assert_eq!(
            service["restart"],
            Value::from("unless-stopped"),
            "{name} restarts"
        );
        let image = service["image"].as_str().unwrap();
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest",
            "{name}: {image} is pinned"
        );
    }
    let dp = &compose["services"]["dataprocessor"];
    let mounts: Vec<&str> = dp["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        mounts.contains(&"./config.json:/etc/hview/config.json:ro"),
        "{mounts:?}"
    );
    // The key compose gives the API is the one from the environment, which the README's
    // production examples send.
    let keys = dp["environment"]["DP__API__KEYS"].as_str().unwrap();
    let readme = read("README.md");
    let key: Vec<String> = serde_json::from_str(keys).unwrap();
    assert_eq!(key, ["a-generated-api-key-0123456789"]);
    assert!(readme.contains("X-Api-Key: $HVIEW_API_KEY"));
    // Every variable the image or compose reads is documented in the README.
    let dockerfile = read("Dockerfile");
    let mut names: Vec<String> = dp["environment"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    for raw in [
        read("docker-compose.yml"),
        read("docker/entrypoint.sh"),
        dockerfile,
    ] {
        for part in raw.split("${").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
    }
    names.push("DATAPROCESSOR_CONFIG".into());
    names.sort();
    names.dedup();
    let production = readme
        .split("## Run it in production")
        .nth(1)
        .expect("a production section");
    for name in names {
        let documented = production.contains(&name)
            || (name.starts_with("DP__") && production.contains("DP__<SECTION>__<KEY>"));
        assert!(
            documented,
            "{name} is not documented in the README's production section"
        );
    }
}

/// podman-compose resolves no short names (`postgres:15.10-bookworm` failed): every image
/// compose pulls names its registry; only the image built here (`build`) may be short, as
/// docker and podman both find it locally.
#[test]
fn compose_pulls_only_fully_qualified_images() {
    let compose: Value = serde_yaml::from_str(&read("docker-compose.yml")).unwrap();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        let image = service["image"].as_str().unwrap();
        if !service["build"].is_null() {
            continue;
        }
        let registry = image.split('/').next().unwrap();
        assert!(
            image.matches('/').count() >= 2 && registry.contains('.'),
            "{name:?}: {image} is not fully qualified (registry/namespace/name:tag)"
        );
    }
    assert!(
        compose["services"]["postgres"]["image"]
            .as_str()
            .unwrap()
            .starts_with("docker.io/library/postgres:")
    );
}

/// The README's production commands run the workspace's version by default, as compose does
/// (scripts/release.sh moves both).
#[test]
fn the_readmes_production_commands_name_the_workspace_version() {
    let manifest = read("Cargo.toml");
    let version = manifest
        .split("[workspace.package]")
        .nth(1)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    let readme = read("README.md");
    let production = readme
        .split("\n## Run it in production\n")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let mut named = 0;
    for marker in ["HVIEW_VERSION:-", "hview/dataprocessor:"] {
        for rest in production.split(marker).skip(1) {
            let tag: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect();
            if tag.is_empty() || tag == "latest" {
                continue; // `hview/dataprocessor:${HVIEW_VERSION:-…}`, `:<version>`
            }
            assert_eq!(
                tag, version,
                "README's production section names {marker}{tag}"
            );
            named += 1;
        }
    }
    assert!(named >= 5, "{named}");
}

/// swaks's `--data <file>` is deprecated (it prints a warning): every swaks line in the
/// README gives the file as `--data @file`.
#[test]
fn the_readmes_swaks_lines_give_the_mail_as_at_file() {
    let readme = read("README.md");
    let lines: Vec<&str> = readme.lines().filter(|l| l.contains("swaks ")).collect();
    assert!(!lines.is_empty());
    for line in lines {
        if let Some(rest) = line.split("--data ").nth(1) {
            assert!(rest.starts_with('@'), "{line}");
        }
    }
}

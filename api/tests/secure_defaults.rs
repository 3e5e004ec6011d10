//! Secure by default (issue 29): `dataprocessor serve` on an address beyond loopback refuses
//! a published key (the README's) in one line and never listens; with generated secrets it
//! starts, warning once when it speaks plain HTTP there. The compose file's settings, as
//! compose reads them (`podman-compose config`), go through serve's start-up checks: no
//! secret has a default, the former defaults are refused, the secrets the README's
//! production block makes are accepted.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::{BIN, free_port};
use shared_modules::config::{Config, S3Mode, load_from_str};
use shared_modules::testing::{TestDb, test_config};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const SECRETS: [&str; 3] = ["HVIEW_API_KEY", "HVIEW_S3_SECRET", "HVIEW_DB_PASSWORD"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The API key the README's local examples send (`X-Api-Key: …`).
fn readme_key() -> String {
    let readme = read("README.md");
    let at = readme.find("X-Api-Key: ").expect("the README shows a key") + "X-Api-Key: ".len();
    readme[at..]
        .chars()
        .take_while(|c| !matches!(c, '\'' | '"' | ' ' | '\n'))
        .collect()
}

/// `openssl rand -hex 32`, as the README makes a secret.
fn generated() -> String {
    let out = Command::new("openssl")
        .args(["rand", "-hex", "32"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs `serve` with `config` and `env`; waits at most a minute for it to exit, killing it
/// (and failing) if it is still running: a refusal is immediate.
fn serve_exits(dir: &Path, config_text: &str, env: &[(String, String)]) -> Output {
    let path = dir.join("serve-config.json");
    std::fs::write(&path, config_text).unwrap();
    let mut child = Command::new(BIN)
        .args(["--config", path.to_str().unwrap(), "serve"])
        .env_remove("DATABASE_URL")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "serve did not refuse to start; it ran:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// The one line serve printed, checked to name `key` and how to make a good value, and not
/// to repeat `secret`.
fn one_refusal_line(out: &Output, key: &str, secret: &str) {
    assert!(!out.status.success(), "serve exited 0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, not:\n{stderr}");
    assert!(lines[0].contains(&format!("`{key}`")), "{stderr}");
    assert!(lines[0].contains("openssl rand -hex 32"), "{stderr}");
    assert!(lines[0].contains("beyond loopback"), "{stderr}");
    assert!(
        !lines[0].contains(secret),
        "the line repeats the secret: {stderr}"
    );
}

#[tokio::test]
async fn serve_beyond_loopback_with_the_readmes_key_refuses_in_one_line_and_never_listens() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let key = readme_key();
    assert_eq!(key, "local-dev-key-change-me-0123");
    let port = free_port();
    let mut config = test_config(&db.url, &dir.path().join("mailbox"));
    config.api.listen = format!("0.0.0.0:{port}");
    config.api.keys = vec![key.clone()];
    config.s3.secret_access_key = generated();
    let out = serve_exits(dir.path(), &serde_json::to_string(&config).unwrap(), &[]);
    one_refusal_line(&out, "api.keys[0]", &key);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on {port}"
    );

    // The same key on loopback (the local run) starts as before.
    config.api.listen = format!("127.0.0.1:{port}");
    let local = common::start_serve(dir.path(), &config).await;
    drop(local);
}

fn plain_http_warnings(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("plain HTTP beyond loopback"))
        .count()
}

#[tokio::test]
async fn generated_secrets_start_beyond_loopback_and_plain_http_there_is_warned_once() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&db.url, &dir.path().join("mailbox"));
    config.api.listen = format!("0.0.0.0:{}", free_port());
    config.api.keys = vec![generated()];
    config.s3.secret_access_key = generated();
    let (serve, log) = common::start_serve_logged_as(dir.path(), "plain", &config).await;
    // A request or two: still the one warning, given at start.
    let port = config.api.listen.rsplit(':').next().unwrap();
    for _ in 0..2 {
        let _ = Command::new("curl")
            .args(["-s", &format!("http://127.0.0.1:{port}/api/1.0/health")])
            .output();
    }
    drop(serve);
    assert_eq!(
        plain_http_warnings(&log),
        1,
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );

    // With a certificate, no warning; on loopback, none either.
    let tls = dir.path().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let (cert, key) = common::self_signed_certificate(&tls);
    let mut with_tls = config.clone();
    with_tls.api.listen = format!("0.0.0.0:{}", free_port());
    with_tls.api.tls_certificate = Some(cert);
    with_tls.api.tls_private_key = Some(key);
    let (serve, log) = common::start_serve_logged_as(dir.path(), "tls", &with_tls).await;
    drop(serve);
    assert_eq!(plain_http_warnings(&log), 0);
    let mut local = config.clone();
    local.api.listen = format!("127.0.0.1:{}", free_port());
    let (serve, log) = common::start_serve_logged_as(dir.path(), "local", &local).await;
    drop(serve);
    assert_eq!(plain_http_warnings(&log), 0);
}

/// The compose file and config.json copied to `dir`, read by `podman-compose config` there
/// with `env` (and `dir/.env`, as compose reads it): its output or its error.
fn compose_config(dir: &Path, env: &[(&str, &str)]) -> Result<serde_yaml::Value, String> {
    for file in ["docker-compose.yml", "config.json"] {
        std::fs::copy(repo().join(file), dir.join(file)).unwrap();
    }
    let mut command = Command::new("podman-compose");
    command
        .args(["-f", "docker-compose.yml", "config"])
        .current_dir(dir);
    for name in SECRETS {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let out = command
        .output()
        .expect("podman-compose is required for this test: run scripts/services.sh podman");
    if out.status.success() {
        Ok(serde_yaml::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// The environment compose gives `dataprocessor serve`.
fn serve_env(compose: &serde_yaml::Value) -> Vec<(String, String)> {
    compose["services"]["dataprocessor"]["environment"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let value = match v {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other).unwrap().trim().to_string(),
            };
            (k.as_str().unwrap().to_string(), value)
        })
        .collect()
}

/// Serve's start-up checks on compose's settings: config.json with that environment, loaded
/// and validated, then the published-secrets check.
fn serve_checks(dir: &Path, env: &[(String, String)]) -> Result<Config, String> {
    let config = load_from_str(&read("config.json"), &dir.join("config.json"), env)
        .map_err(|e| e.to_string())?;
    config
        .refuse_published_secrets()
        .map_err(|e| e.to_string())?;
    Ok(config)
}

#[test]
fn compose_settings_go_through_serves_start_up_checks() {
    let dir = tempfile::tempdir().unwrap();

    // No secret has a default: without each one, compose stops and names it.
    let filler = generated();
    for missing in SECRETS {
        let env: Vec<(&str, &str)> = SECRETS
            .iter()
            .filter(|n| **n != missing)
            .map(|n| (*n, filler.as_str()))
            .collect();
        let error = compose_config(dir.path(), &env).unwrap_err();
        assert!(
            error.contains(missing) && error.contains("openssl rand"),
            "{missing}: {error}"
        );
    }

    // The former defaults (the README's key, config.json's and Zenko's secret, the old
    // Postgres password): serve refuses each, naming its setting.
    let former = [
        (
            "HVIEW_API_KEY",
            "local-dev-key-change-me-0123",
            "api.keys[0]",
        ),
        ("HVIEW_S3_SECRET", "verySecretKey1", "s3.secret_access_key"),
        ("HVIEW_DB_PASSWORD", "hview", "database.url"),
    ];
    for (name, value, key) in former {
        let env: Vec<(&str, &str)> = SECRETS
            .iter()
            .map(|n| (*n, if *n == name { value } else { filler.as_str() }))
            .collect();
        let compose = compose_config(dir.path(), &env).unwrap();
        let refused = serve_checks(dir.path(), &serve_env(&compose)).unwrap_err();
        assert!(refused.contains(&format!("`{key}`")), "{name}: {refused}");
        assert!(refused.contains("openssl rand -hex 32"), "{refused}");
    }
    // All three at once, given to the real binary: it stops at start, in one line.
    let env: Vec<(&str, &str)> = former.iter().map(|(n, v, _)| (*n, *v)).collect();
    let compose = compose_config(dir.path(), &env).unwrap();
    let mut env = serve_env(&compose);
    // Only the logs move: to standard error, not the host's /var/log.
    env.retain(|(k, _)| k != "DP__LOGGING__DIRECTORY");
    env.push(("DP__LOGGING__DIRECTORY".into(), "null".into()));
    let out = serve_exits(dir.path(), &read("config.json"), &env);
    one_refusal_line(&out, "api.keys[0]", "local-dev-key-change-me-0123");

    // The README's first production block makes .env (and a certificate): compose reads
    // it, and serve accepts what it made, with TLS set, listening beyond loopback.
    let blocks = common::production_blocks();
    let made = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &blocks[0]])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "README block failed:\n{}\n{}",
        blocks[0],
        String::from_utf8_lossy(&made.stderr)
    );
    let dotenv = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    for name in SECRETS {
        assert!(dotenv.contains(&format!("{name}=")), "{dotenv}");
    }
    assert!(dir.path().join("tls/cert.pem").exists() && dir.path().join("tls/key.pem").exists());
    let compose = compose_config(dir.path(), &[]).unwrap();
    let config = serve_checks(dir.path(), &serve_env(&compose)).unwrap();
    assert!(!config.listens_on_loopback_only(), "{}", config.api.listen);
    assert!(config.api.tls_certificate.is_some() && config.api.tls_private_key.is_some());
    assert_eq!(config.s3.mode, S3Mode::Embedded);
    // The certificate compose mounts is the one the block made.
    let mounts: Vec<&str> = compose["services"]["dataprocessor"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(mounts.contains(&"./tls:/etc/hview/tls:ro"), "{mounts:?}");
    let certificate = config.api.tls_certificate.unwrap();
    assert!(
        certificate.starts_with("/etc/hview/tls"),
        "{}",
        certificate.display()
    );

    // Only the DataProcessor publishes ports (SMTP and 25025): no object store, no database.
    for (name, service) in compose["services"].as_mapping().unwrap() {
        if name.as_str() != Some("dataprocessor") {
            assert!(
                service["ports"].is_null(),
                "{name:?} publishes {:?}",
                service["ports"]
            );
        }
    }
}

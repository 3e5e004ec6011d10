//! Every key, secret and password the repository prints as an example (config.json, the
//! compose file, `.env.example`, every README and doc, the scripts an operator runs) is on
//! `config::PUBLISHED`, the one list serve refuses beyond loopback: a new example key that
//! is not on it fails here, before it can open a box.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use regex::Regex;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files an operator reads or copies from.
fn example_files() -> Vec<PathBuf> {
    let root = repo();
    let mut files = vec![];
    for name in [
        "config.json",
        "docker-compose.yml",
        ".env.example",
        "Dockerfile",
    ] {
        files.push(root.join(name));
    }
    for dir in ["docs", "scripts", "docker"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            files.push(entry.path());
        }
    }
    // Every README.md in the workspace (the top one, the modules', the mailhandler's…).
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() {
                if !name.starts_with('.')
                    && !["target", "fuzz", "node_modules"].contains(&name.as_str())
                {
                    dirs.push(path);
                }
            } else if name.ends_with(".md") {
                files.push(path);
            }
        }
    }
    // Prose, configuration and shell an operator copies; not the fuzzers' Python or images.
    files.retain(|f| {
        f.is_file()
            && !f
                .extension()
                .is_some_and(|e| ["png", "py"].contains(&e.to_str().unwrap_or("")))
    });
    files.sort();
    files.dedup();
    files
}

/// Values the text gives to something named like a secret: `X-Api-Key: v`, `HVIEW_API_KEY=v`,
/// `SECRET_ACCESS_KEY: v`, `"secret_access_key": "v"`, `"keys": ["v"]`, `key=v`,
/// `${HVIEW_S3_SECRET:-v}`, `POSTGRES_PASSWORD: v`, `postgres://user:v@host`.
fn key_like_values(text: &str) -> Vec<String> {
    let assigned = Regex::new(
        r#"(?i)\b[a-z0-9_.-]*(?:secret|password|passwd|token|api[_-]?key|api__keys|keys?|\bK)\b["']?\s*[:=]\s*[\['"\s]*([^\s"'\[\],;&(){}`]+)"#,
    )
    .unwrap();
    let defaulted =
        Regex::new(r"(?i)\$\{[a-z0-9_]*(?:secret|password|key|token)[a-z0-9_]*:?-([^}]+)\}")
            .unwrap();
    let url = Regex::new(r"://[^:/\s@]+:([^@\s/]+)@").unwrap();
    let mut found: Vec<String> = vec![];
    for re in [&assigned, &defaulted, &url] {
        for captures in re.captures_iter(text) {
            found.push(captures[1].to_string());
        }
    }
    found
        .into_iter()
        .map(|v| v.trim_matches(|c| c == '"' || c == '\'').to_string())
        .filter(|v| {
            // Placeholders, variables, printf formats, shell escapes (`[\"$KEY\"]`),
            // configuration words and numbers are not secrets.
            !(v.is_empty()
                || v.starts_with(['$', '<', '…', '*', '-', '/', '.', '?', '%', '\\'])
                || v.contains("***")
                || v.contains(':')
                || v.parse::<f64>().is_ok()
                || ["null", "true", "false", "sha256"].contains(&v.as_str()))
        })
        .collect()
}

/// The documentation in config.json (`#` keys) is prose; its settings are read as the
/// DataProcessor reads them.
fn config_json_secrets() -> Vec<String> {
    let path = repo().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = shared_modules::config::load_from_str(&text, &path, &[]).unwrap();
    let mut found = config.api.keys.clone();
    found.push(config.s3.access_key_id.clone());
    found.push(config.s3.secret_access_key.clone());
    for key in &config.s3.keys {
        found.push(key.secret_access_key.clone());
    }
    if let Some(password) = Regex::new(r"://[^:/\s@]+:([^@\s/]+)@")
        .unwrap()
        .captures(&config.database.url)
    {
        found.push(password[1].to_string());
    }
    found.retain(|v| !v.is_empty());
    found
}

/// Words the patterns above take that are not a secret anyone could use: `id` is a query
/// plan's `Sort Key: id DESC` (docs/benchmarks.json).
const NOT_SECRETS: &[&str] = &["id"];

#[test]
fn every_key_like_value_in_the_examples_is_on_the_published_list() {
    let mut missing = vec![];
    let mut seen = 0;
    for file in example_files() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let values = if file.ends_with("config.json") {
            config_json_secrets()
        } else {
            key_like_values(&text)
        };
        for value in values {
            seen += 1;
            if shared_modules::config::published(&value).is_none()
                && !NOT_SECRETS.contains(&value.as_str())
            {
                missing.push(format!(
                    "{}: `{value}`",
                    file.strip_prefix(repo()).unwrap_or(&file).display()
                ));
            }
        }
    }
    assert!(
        seen > 0,
        "the patterns found nothing: are the examples gone?"
    );
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "example values not on shared_modules::config::PUBLISHED (add them there, so a box \
         listening beyond loopback refuses them):\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_patterns_find_the_shapes_examples_take() {
    let text = r#"
curl -H 'X-Api-Key: one-key-0123456789' http://h/
echo 'HVIEW_API_KEY=two-key-0123456789' > .env
AWS_SECRET_ACCESS_KEY=three-secret AWS_ACCESS_KEY_ID=not-a-secret-id
  SCALITY_SECRET_ACCESS_KEY: ${HVIEW_S3_SECRET:-four-secret}
  POSTGRES_PASSWORD: five-password
  DATABASE_URL: postgres://postgres:six-password@postgres:5432/db
  "keys": ["seven-key-0123456789"], "secret_access_key": "eight-secret"
(K=nine-key-0123456789 locally) key=ten-key-0123456789
DP__API__KEYS: '["${HVIEW_API_KEY:?set it}"]'  -H "X-Api-Key: $K"  sha256:<hex>
"#;
    let found = key_like_values(text);
    for expected in [
        "one-key-0123456789",
        "two-key-0123456789",
        "three-secret",
        "four-secret",
        "five-password",
        "six-password",
        "seven-key-0123456789",
        "eight-secret",
        "nine-key-0123456789",
        "ten-key-0123456789",
    ] {
        assert!(
            found.contains(&expected.to_string()),
            "{expected} in {found:?}"
        );
    }
    assert!(
        !found.iter().any(|v| v.contains("not-a-secret")),
        "{found:?}"
    );
    assert_eq!(found.len(), 10, "{found:?}");
}

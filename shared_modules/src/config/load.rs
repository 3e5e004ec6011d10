//! Finding, reading and overriding the configuration.

use super::Config;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_PATH: &str = "config.json";
/// Environment variables `DP__SECTION__KEY=value` override `section.key`; the value is read
/// as JSON when it parses as JSON, else as a string.
const ENV_PREFIX: &str = "DP__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config: {path} is not valid JSON: {source}")]
    Syntax {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("config: key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// Loads the configuration: `explicit` (from `--config`), else `DATAPROCESSOR_CONFIG`, else
/// `./config.json`. A missing file is an error only when it was named explicitly.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let from_env = std::env::var_os("DATAPROCESSOR_CONFIG").map(PathBuf::from);
    let (path, required) = match (explicit, from_env) {
        (Some(p), _) => (p.to_path_buf(), true),
        (None, Some(p)) => (p, true),
        (None, None) => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => "{}".to_string(),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    load_from_str(&text, &path, &env)
}

/// Builds the configuration from the file's text and the given environment.
pub fn load_from_str(
    text: &str,
    path: &Path,
    env: &[(String, String)],
) -> Result<Config, ConfigError> {
    let mut value: Value = serde_json::from_str(text).map_err(|source| ConfigError::Syntax {
        path: path.to_path_buf(),
        source,
    })?;
    strip_comments(&mut value);
    apply_env(&mut value, env)?;
    let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde quotes the offending value: never echo a secret (the mailhandler's error
        // line becomes Postfix's defer reason, the log keeps it for good).
        let message = if is_secret(&key) {
            without_quoted(&message)
        } else {
            message
        };
        ConfigError::invalid(&key, message)
    })?;
    config.validate()?;
    Ok(config)
}

/// Keys whose values are secrets, by their path as errors name it.
fn is_secret(key: &str) -> bool {
    key.starts_with("api.keys")
        || key == "s3.secret_access_key"
        || key.starts_with("s3.keys")
        || key == "database.url"
}

/// `invalid type: string "hunter2…", expected …` → `invalid type: string "***", expected …`.
fn without_quoted(message: &str) -> String {
    let mut out = String::new();
    for (i, part) in message.split('"').enumerate() {
        if i > 0 {
            out.push('"');
        }
        out.push_str(if i % 2 == 1 { "***" } else { part });
    }
    out
}

/// Drops every object key that starts with `#`: those document the key beside them.
fn strip_comments(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('#'));
            map.values_mut().for_each(strip_comments);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_comments),
        _ => {}
    }
}

fn apply_env(root: &mut Value, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let key_path: Vec<String> = if name == "DATABASE_URL" {
            vec!["database".into(), "url".into()]
        } else if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
            rest.split("__").map(|s| s.to_ascii_lowercase()).collect()
        } else {
            continue;
        };
        if key_path.iter().any(|s| s.is_empty()) {
            return Err(ConfigError::invalid(
                name,
                "empty key segment in environment variable",
            ));
        }
        let parsed =
            serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.clone()));
        set_path(root, &key_path, parsed, name)?;
    }
    Ok(())
}

fn set_path(
    root: &mut Value,
    key_path: &[String],
    value: Value,
    env_name: &str,
) -> Result<(), ConfigError> {
    let mut node = root;
    for (i, segment) in key_path.iter().enumerate() {
        let Value::Object(map) = node else {
            return Err(ConfigError::invalid(
                &key_path[..i].join("."),
                format!("{env_name} sets a key inside a value that is not an object"),
            ));
        };
        if i + 1 == key_path.len() {
            map.insert(segment.clone(), value);
            return Ok(());
        }
        node = map
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

//! Secrets anyone can read: the README's API key, config.json's and Zenko's S3 pairs, every
//! other key, secret or password this repository prints as an example. A box whose API port
//! listens beyond loopback refuses to start with one of them (`serve`, `dpctl config check`);
//! a loopback-only local run keeps them.

use super::{Config, ConfigError};
use sha2::{Digest, Sha256};

/// A value the world has read, and where.
pub struct Published {
    pub value: &'static str,
    pub source: &'static str,
}

/// Every key, secret and password found in the repository's examples (config.json,
/// docker-compose.yml, .env.example, README.md, docs/, scripts/run-local.sh, as they are or
/// were) and the well-known defaults of the software run beside it. The one list:
/// `shared_modules/tests/published_secrets.rs` greps the examples and fails on a key-like
/// value missing here, so a new example cannot open a box.
pub const PUBLISHED: &[Published] = &[
    p("local-dev-key-change-me-0123", "the README's local API key"),
    p("choose-a-long-random-key-here", "the README's example key"),
    p("accessKey1", "config.json's and Zenko's default access key"),
    p("verySecretKey1", "config.json's and Zenko's default secret"),
    p("accessKey2", "Zenko's second default access key"),
    p("verySecretKey2", "Zenko's second default secret"),
    p("AKIAIOSFODNN7EXAMPLE", "AWS's documentation example key"),
    p(
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS's documentation example secret",
    ),
    p("minioadmin", "MinIO's default credentials"),
    p("hview", "docker-compose.yml's former Postgres password"),
    p("postgres", "a default Postgres password"),
    p("test-key-0123456789abcdef", "the test suite's API key"),
];

const fn p(value: &'static str, source: &'static str) -> Published {
    Published { value, source }
}

/// The shortest S3 secret accepted on a port beyond loopback (API keys: 16 already).
pub const MIN_SECRET_CHARS: usize = 16;

/// How the refusal tells the operator to make a good value.
const MAKE_ONE: &str = "make one with `openssl rand -hex 32`";

/// Where `value` was published, if it was (compared exactly: secrets are case-sensitive).
pub fn published(value: &str) -> Option<&'static str> {
    PUBLISHED
        .iter()
        .find(|p| p.value == value)
        .map(|p| p.source)
}

/// Where the key a configured API key (plain or `sha256:<hex>`) stands for was published.
fn published_api_key(configured: &str) -> Option<&'static str> {
    let digest = crate::api_keys::parse_configured_key(configured).ok()?;
    PUBLISHED
        .iter()
        .find(|p| Sha256::digest(p.value.as_bytes()).as_slice() == digest.as_slice())
        .map(|p| p.source)
}

/// The password in a `postgres://user:password@host/db` URL.
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let location = rest.split('?').next()?;
    let userinfo = location.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

impl Config {
    /// Whether the API port is reachable from this machine only (127.0.0.0/8, ::1).
    pub fn listens_on_loopback_only(&self) -> bool {
        self.api
            .listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().to_canonical().is_loopback())
    }

    /// Refuses, naming the setting and how to make a good value, a published key, secret or
    /// password, or an S3 secret shorter than [`MIN_SECRET_CHARS`], when the API port listens
    /// beyond loopback. The message never repeats the value.
    pub fn refuse_published_secrets(&self) -> Result<(), ConfigError> {
        if self.listens_on_loopback_only() {
            return Ok(());
        }
        let beyond = format!(
            "api.listen {} is beyond loopback (anyone who can reach it may try it)",
            self.api.listen
        );
        let refuse = |key: &str, what: String| {
            Err(ConfigError::invalid(
                key,
                format!("{what} while {beyond}; {MAKE_ONE}"),
            ))
        };
        for (i, key) in self.api.keys.iter().enumerate() {
            if let Some(source) = published_api_key(key) {
                return refuse(&format!("api.keys[{i}]"), format!("is {source}, published"));
            }
        }
        let mut secrets = vec![(
            "s3.secret_access_key".to_string(),
            &self.s3.secret_access_key,
        )];
        for (i, key) in self.s3.keys.iter().enumerate() {
            secrets.push((
                format!("s3.keys[{i}].secret_access_key"),
                &key.secret_access_key,
            ));
        }
        for (key, secret) in secrets {
            if secret.is_empty() {
                continue; // no secret: nothing signs with it, every request is refused
            }
            if let Some(source) = published(secret) {
                return refuse(&key, format!("is {source}, published"));
            }
            if secret.chars().count() < MIN_SECRET_CHARS {
                return refuse(
                    &key,
                    format!("is shorter than {MIN_SECRET_CHARS} characters"),
                );
            }
        }
        if let Some(source) = url_password(&self.database.url).and_then(published) {
            return refuse(
                "database.url",
                format!("has a password that is {source}, published"),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str) -> Config {
        let mut config = Config::default();
        config.api.listen = listen.into();
        config.api.keys = vec!["0123456789abcdef0123456789abcdef".into()];
        config.s3.access_key_id = "hview".into();
        config.s3.secret_access_key = "fedcba9876543210fedcba9876543210".into();
        config
    }

    fn refusal(config: &Config) -> String {
        config.refuse_published_secrets().unwrap_err().to_string()
    }

    #[test]
    fn loopback_is_127_slash_8_and_ipv6_one_only() {
        for address in ["127.0.0.1:25025", "127.1.2.3:1", "[::1]:25025"] {
            assert!(config(address).listens_on_loopback_only(), "{address}");
        }
        for address in ["0.0.0.0:25025", "[::]:25025", "10.0.0.1:25025", "[::2]:1"] {
            assert!(!config(address).listens_on_loopback_only(), "{address}");
        }
    }

    #[test]
    fn published_values_are_refused_beyond_loopback_only() {
        let mut open = config("0.0.0.0:25025");
        assert!(open.refuse_published_secrets().is_ok());
        open.api.keys.push("local-dev-key-change-me-0123".into());
        let said = refusal(&open);
        assert!(said.starts_with("config: key `api.keys[1]`: "), "{said}");
        assert!(said.contains("openssl rand -hex 32"), "{said}");
        assert!(!said.contains("local-dev-key-change-me-0123"), "{said}");
        assert!(!said.contains('\n'), "{said}");

        let mut local = open.clone();
        local.api.listen = "127.0.0.1:25025".into();
        assert!(local.refuse_published_secrets().is_ok());

        // The same key given as its digest is the same key.
        open.api.keys[1] = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(b"local-dev-key-change-me-0123"))
        );
        assert!(refusal(&open).contains("api.keys[1]"));
    }

    #[test]
    fn s3_secrets_and_the_database_password_are_checked_too() {
        let mut c = config("[::]:25025");
        c.s3.secret_access_key = "verySecretKey1".into();
        assert!(refusal(&c).contains("`s3.secret_access_key`"));
        c.s3.secret_access_key = "short-secret".into();
        assert!(refusal(&c).contains("shorter than 16"));
        c.s3.secret_access_key = String::new();
        assert!(c.refuse_published_secrets().is_ok());
        c.s3.keys.push(crate::config::S3Key {
            access_key_id: "bob".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            prefix: None,
        });
        assert!(refusal(&c).contains("`s3.keys[0].secret_access_key`"));
        c.s3.keys.clear();
        c.database.url = "postgres://postgres:hview@postgres:5432/dataprocessor".into();
        let said = refusal(&c);
        assert!(
            said.contains("`database.url`") && !said.contains(":hview@"),
            "{said}"
        );
        c.database.url = "postgres://postgres:0a1b2c3d4e5f@postgres:5432/dataprocessor".into();
        assert!(c.refuse_published_secrets().is_ok());
    }
}

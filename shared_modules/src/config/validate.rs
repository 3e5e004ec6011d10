//! Checks done once at start, each naming the key that is wrong.

use super::{Config, ConfigError};
use crate::paths::normalise_segment;

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.paths.root.is_absolute() {
            return Err(err("paths.root", "must be an absolute path"));
        }
        if !(self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return Err(err(
                "database.url",
                "must start with postgres:// or postgresql://",
            ));
        }
        if self.database.read_timeout_seconds == 0 {
            return Err(err("database.read_timeout_seconds", "must be at least 1"));
        }
        if self.database.pool_size < 2 {
            return Err(err("database.pool_size", "must be at least 2"));
        }
        if let Some(n) = self.api.database_connections
            && !(1..=self.database.pool_size).contains(&n)
        {
            return Err(err(
                "api.database_connections",
                "must be between 1 and database.pool_size (null: twice the CPU cores)",
            ));
        }
        if self.api.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(err(
                "api.listen",
                format!("`{}` is not an address like 0.0.0.0:25025", self.api.listen),
            ));
        }
        let node = &self.node.name;
        if node.len() > 64
            || !node
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(err(
                "node.name",
                format!(
                    "`{node}` is not a node name: up to 64 letters, digits, `.`, `_` or `-` (empty: the host name)"
                ),
            ));
        }
        if self.node.lease_seconds < 3 {
            return Err(err("node.lease_seconds", "must be at least 3"));
        }
        for (i, origin) in self.api.cors_origins.iter().enumerate() {
            if !is_origin(origin) {
                return Err(err(
                    &format!("api.cors_origins[{i}]"),
                    format!(
                        "`{origin}` is not an origin like https://hview.example.com or http://localhost:3000 (scheme and host, no path)"
                    ),
                ));
            }
        }
        for (i, key) in self.api.keys.iter().enumerate() {
            crate::api_keys::parse_configured_key(key)
                .map_err(|message| err(&format!("api.keys[{i}]"), message))?;
        }
        if self.workers.concurrency == 0 {
            return Err(err("workers.concurrency", "must be at least 1"));
        }
        positive(
            self.workers.poll_interval_seconds,
            "workers.poll_interval_seconds",
        )?;
        if self.workers.shutdown_grace_seconds < 0.0 {
            return Err(err(
                "workers.shutdown_grace_seconds",
                "must not be negative",
            ));
        }
        positive(self.jobs.lease_seconds, "jobs.lease_seconds")?;
        positive(self.jobs.backoff_base_seconds, "jobs.backoff_base_seconds")?;
        positive(self.jobs.backoff_max_seconds, "jobs.backoff_max_seconds")?;
        positive(
            self.jobs.reaper_interval_seconds,
            "jobs.reaper_interval_seconds",
        )?;
        if self.jobs.timeout_seconds == 0 {
            return Err(err("jobs.timeout_seconds", "must be at least 1"));
        }
        if self.jobs.max_attempts == 0 {
            return Err(err("jobs.max_attempts", "must be at least 1"));
        }
        self.validate_s3()?;
        if self.console.session_hours == 0 {
            return Err(err("console.session_hours", "must be at least 1"));
        }
        if self.console.report_overdue_hours == 0 {
            return Err(err("console.report_overdue_hours", "must be at least 1"));
        }
        if self.api.tls_certificate.is_some() != self.api.tls_private_key.is_some() {
            return Err(err(
                "api.tls_certificate",
                "set both api.tls_certificate and api.tls_private_key, or neither",
            ));
        }
        for (key, value) in [
            ("api.max_connections", self.api.max_connections as u64),
            (
                "api.header_timeout_seconds",
                self.api.header_timeout_seconds,
            ),
            ("api.idle_timeout_seconds", self.api.idle_timeout_seconds),
            ("api.body_timeout_seconds", self.api.body_timeout_seconds),
            (
                "api.body_min_bytes_per_second",
                self.api.body_min_bytes_per_second,
            ),
            (
                "console.sign_in_failures",
                u64::from(self.console.sign_in_failures),
            ),
            (
                "console.sign_in_window_seconds",
                self.console.sign_in_window_seconds,
            ),
        ] {
            if value == 0 {
                return Err(err(key, "must be at least 1"));
            }
        }
        if self.mailhandler.deadline_seconds == 0 {
            return Err(err("mailhandler.deadline_seconds", "must be at least 1"));
        }
        let limits = &self.archives;
        if limits.max_entries == 0 || limits.max_total_bytes == 0 || limits.max_path_depth == 0 {
            return Err(err(
                "archives",
                "max_entries, max_total_bytes and max_path_depth must be at least 1",
            ));
        }
        for (i, customer) in self.customers.iter().enumerate() {
            let key = format!("customers[{i}].name");
            let normal = normalise_segment("customer", &customer.name)
                .map_err(|e| err(&key, e.to_string()))?;
            if normal != customer.name {
                return Err(err(&key, format!("write it in its normal form `{normal}`")));
            }
            if self.customers[..i].iter().any(|c| c.name == customer.name) {
                return Err(err(&key, format!("`{}` is listed twice", customer.name)));
            }
            for (j, address) in customer.addresses.iter().enumerate() {
                if !address.contains('@') {
                    return Err(err(
                        &format!("customers[{i}].addresses[{j}]"),
                        "must be an e-mail address",
                    ));
                }
            }
        }
        for (i, rule) in self.routing.iter().enumerate() {
            rule.check()
                .map_err(|message| err(&format!("routing[{i}]"), message))?;
        }
        for key in self.types.keys() {
            if key.split('/').count() != 2 {
                return Err(err(
                    &format!("types.{key}"),
                    "keys are written `<category>/<type>`",
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    fn validate_s3(&self) -> Result<(), ConfigError> {
        let s3 = &self.s3;
        if s3.bucket.is_empty() {
            return Err(err("s3.bucket", "must not be empty"));
        }
        if s3.reconcile_interval_seconds == 0 {
            return Err(err("s3.reconcile_interval_seconds", "must be at least 1"));
        }
        for (i, key) in s3.keys.iter().enumerate() {
            if key.access_key_id.is_empty() || key.secret_access_key.is_empty() {
                return Err(err(
                    &format!("s3.keys[{i}]"),
                    "needs access_key_id and secret_access_key",
                ));
            }
            if let Some(prefix) = &key.prefix
                && (prefix.is_empty() || !prefix.ends_with('/') || prefix.starts_with('/'))
            {
                return Err(err(
                    &format!("s3.keys[{i}].prefix"),
                    format!(
                        "`{prefix}` must look like `<customer>/` (no leading `/`, ending in `/`)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::invalid(key, message)
}

fn positive(value: f64, key: &str) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, "must be a number above 0"))
    }
}

/// `http(s)://host[:port]`, as a browser sends it in `Origin`.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

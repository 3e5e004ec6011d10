//! The one typed configuration of every DataProcessor binary.
//!
//! Precedence: built-in defaults < `config.json` < environment. Keys in the file that start
//! with `#` are documentation and are ignored. See `load.rs` for where the file is found and
//! how the environment overrides it, and `validate.rs` for the checks done at start.

mod load;
mod published;
mod routing;
mod validate;

pub use load::{ConfigError, DEFAULT_CONFIG_PATH, load, load_from_str};
pub use published::{MIN_SECRET_CHARS, PUBLISHED, Published, published};
pub use routing::{Route, RouteError, RoutingRule};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// This node, among several on one database and one shared volume.
    pub node: NodeConfig,
    pub paths: PathsConfig,
    pub database: DatabaseConfig,
    pub api: ApiConfig,
    pub s3: S3Config,
    pub console: ConsoleConfig,
    pub workers: WorkersConfig,
    pub jobs: JobsConfig,
    pub mailhandler: MailhandlerConfig,
    /// Limits for uploaded archives (see `archive`).
    pub archives: crate::archive::Limits,
    /// How long finished jobs' files are kept.
    pub archive: RetentionConfig,
    pub customers: Vec<CustomerConfig>,
    pub routing: Vec<RoutingRule>,
    /// Per data type settings, keyed `<category>/<type>`.
    pub types: BTreeMap<String, TypeConfig>,
    pub logging: LoggingConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's name on claims, trail events, request log lines and `dpctl nodes`.
    /// Empty: the host name. Each node of a cluster needs its own.
    pub name: String,
    /// How long a leader's lease lasts: a dead leader is replaced within it.
    pub lease_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathsConfig {
    pub root: PathBuf,
    /// The user the service runs as (`hview` in the container): dpctl started as root
    /// becomes this user first, so nothing it creates is root's. None: no change.
    pub service_user: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    pub pool_size: usize,
    pub connect_timeout_seconds: u64,
    /// How long an API request waits for the database's answers before a 503.
    pub read_timeout_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    pub listen: String,
    /// Plain keys or `sha256:<hex of the key>`.
    pub keys: Vec<String>,
    pub max_body_bytes: usize,
    /// How long (ms) a `GET /jobs` answer may be given again to the same query; 0 = off.
    pub listing_cache_ms: u64,
    /// `/metrics` without a key (for a scraper on a trusted network).
    pub metrics_public: bool,
    /// PEM certificate chain and private key: the port then speaks TLS and plain HTTP (the
    /// first byte of a connection tells which), as the seed's https aws and http curl need.
    pub tls_certificate: Option<std::path::PathBuf>,
    pub tls_private_key: Option<std::path::PathBuf>,
    /// Connections open at once on the port; past it new ones are closed at once.
    pub max_connections: usize,
    /// A connection's first request (its TLS handshake, then its head) must arrive this fast.
    pub header_timeout_seconds: u64,
    /// A connection with no byte moving either way this long is closed (also keep-alive).
    pub idle_timeout_seconds: u64,
    /// A request body may pause this long; past it, it must average at least
    /// `body_min_bytes_per_second`, or the connection is closed.
    pub body_timeout_seconds: u64,
    pub body_min_bytes_per_second: u64,
    /// Database connections the API's requests hold at once (the rest wait their turn);
    /// None: twice the CPU cores, within what the job workers leave of the pool.
    pub database_connections: Option<usize>,
    /// Front ends (`https://host[:port]`) whose pages may call the API and PUT parts to the
    /// embedded store from the browser (CORS). Empty: none.
    pub cors_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// `embedded`: serve is the S3 endpoint on its API port; `external`: `endpoint` is.
    pub mode: S3Mode,
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub bucket: String,
    /// More keys the embedded endpoint accepts, each optionally limited to a prefix.
    pub keys: Vec<S3Key>,
    /// Embedded: a completed upload queues its job without waiting for the curl;
    /// both modes: reconciliation queues what stayed untriggered.
    pub auto_trigger: bool,
    /// An object with no job this long after its upload is queued or reported.
    pub untriggered_after_minutes: u64,
    /// How often serve lists the bucket to find untriggered uploads.
    pub reconcile_interval_seconds: u64,
    /// Embedded: a multipart upload no part reached this long is dropped with its parts.
    pub abandoned_upload_hours: u64,
    /// Embedded: multipart uploads one access key may have open at once (SlowDown past it).
    pub max_open_uploads_per_key: usize,
    /// Embedded: a blob no key names, untouched this long, is a killed upload's leftover.
    pub orphan_blob_minutes: u64,
    /// Embedded: how often serve sweeps abandoned uploads and leftover blobs.
    pub store_sweep_interval_seconds: u64,
    /// Embedded: only keys of the upload contract (`<customer>/<grid>/<file>`, a configured
    /// customer) are taken; others are refused at once instead of never becoming a job.
    pub contract_keys_only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A console session (sign-in with an API key) lasts this long.
    pub session_hours: u64,
    /// A grid whose last daily system report is older than this is flagged overdue.
    pub report_overdue_hours: u64,
    /// Wrong keys one client address may try at sign-in per `sign_in_window_seconds`;
    /// past it that address gets 429 until the window has passed.
    pub sign_in_failures: u32,
    pub sign_in_window_seconds: u64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            session_hours: 8,
            report_overdue_hours: 26,
            sign_in_failures: 10,
            sign_in_window_seconds: 60,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum S3Mode {
    Embedded,
    External,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Key {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `<customer>/`: the key may only read, write and list below it.
    #[serde(default)]
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersConfig {
    pub concurrency: usize,
    pub poll_interval_seconds: f64,
    pub shutdown_grace_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    pub lease_seconds: f64,
    pub timeout_seconds: u32,
    pub max_attempts: u32,
    pub backoff_base_seconds: f64,
    pub backoff_max_seconds: f64,
    pub reaper_interval_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailhandlerConfig {
    /// The mailhandler gives up (exit 75, Postfix retries) after this long; keep it below
    /// the pipe service's time limit in Postfix.
    pub deadline_seconds: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Archive copies, and the inbox directories of jobs done or cancelled, older than this
    /// many days are removed (0 keeps them forever). Jobs in error or quarantine keep theirs.
    pub retention_days: u32,
    /// How often serve runs the cleanup (also `dpctl cleanup`).
    pub cleanup_interval_minutes: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            retention_days: 180,
            cleanup_interval_minutes: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerConfig {
    pub name: String,
    /// Full recipient addresses that belong to this customer.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Sender addresses (`a@b.c`) or domains (`b.c`, which also allows its subdomains);
    /// empty means anyone may send.
    #[serde(default)]
    pub allowed_senders: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TypeConfig {
    pub archive: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// An `EnvFilter` directive, e.g. `info` or `info,shared_modules=debug`; `RUST_LOG` wins.
    pub level: String,
    /// Where `dataprocessor_<component>.log` files go (rotated daily); none: stderr only.
    pub directory: Option<PathBuf>,
    pub json: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            node: NodeConfig::default(),
            paths: PathsConfig::default(),
            database: DatabaseConfig::default(),
            api: ApiConfig::default(),
            s3: S3Config::default(),
            console: ConsoleConfig::default(),
            workers: WorkersConfig::default(),
            jobs: JobsConfig::default(),
            mailhandler: MailhandlerConfig::default(),
            archives: crate::archive::Limits::default(),
            archive: RetentionConfig::default(),
            customers: Vec::new(),
            routing: RoutingRule::defaults(),
            types: BTreeMap::new(),
            logging: LoggingConfig::default(),
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            lease_seconds: 15,
        }
    }
}

impl Default for PathsConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/home/mailbox"),
            service_user: None,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "postgres://postgres@127.0.0.1:5432/dataprocessor".into(),
            pool_size: 16,
            connect_timeout_seconds: 5,
            read_timeout_seconds: 10,
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:25025".into(),
            keys: Vec::new(),
            max_body_bytes: 64 * 1024,
            listing_cache_ms: 250,
            metrics_public: false,
            tls_certificate: None,
            tls_private_key: None,
            max_connections: 16_384,
            header_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            body_timeout_seconds: 30,
            body_min_bytes_per_second: 1024,
            cors_origins: Vec::new(),
            database_connections: None,
        }
    }
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            mode: S3Mode::Embedded,
            endpoint: "http://127.0.0.1:8000".into(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            bucket: "veritas2hview".into(),
            keys: Vec::new(),
            auto_trigger: true,
            untriggered_after_minutes: 60,
            reconcile_interval_seconds: 60,
            abandoned_upload_hours: 24,
            max_open_uploads_per_key: 100,
            orphan_blob_minutes: 60,
            store_sweep_interval_seconds: 600,
            contract_keys_only: true,
        }
    }
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            poll_interval_seconds: 5.0,
            shutdown_grace_seconds: 30.0,
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            lease_seconds: 30.0,
            timeout_seconds: 600,
            max_attempts: 5,
            backoff_base_seconds: 5.0,
            backoff_max_seconds: 600.0,
            reaper_interval_seconds: 5.0,
        }
    }
}

impl Default for MailhandlerConfig {
    fn default() -> Self {
        Self {
            deadline_seconds: 60,
        }
    }
}

impl Default for TypeConfig {
    fn default() -> Self {
        Self { archive: true }
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            directory: None,
            json: false,
        }
    }
}

impl Config {
    /// Settings for one data type; types not listed get the defaults (archive on).
    pub fn type_config(&self, category: &str, job_type: &str) -> TypeConfig {
        self.types
            .get(&format!("{category}/{job_type}"))
            .cloned()
            .unwrap_or_default()
    }

    /// The customer that receives mail at `recipient` (compared case-insensitively).
    pub fn customer_for_recipient(&self, recipient: &str) -> Option<&CustomerConfig> {
        let recipient = recipient.trim().to_ascii_lowercase();
        self.customers.iter().find(|c| {
            c.addresses
                .iter()
                .any(|a| a.to_ascii_lowercase() == recipient)
        })
    }

    pub fn customer(&self, name: &str) -> Option<&CustomerConfig> {
        self.customers.iter().find(|c| c.name == name)
    }

    /// The configuration as JSON with every secret replaced by `***`, for `dpctl config check`.
    pub fn redacted(&self) -> serde_json::Value {
        let mut copy = self.clone();
        copy.api.keys = copy.api.keys.iter().map(|_| "***".to_string()).collect();
        if !copy.s3.secret_access_key.is_empty() {
            copy.s3.secret_access_key = "***".into();
        }
        for key in &mut copy.s3.keys {
            key.secret_access_key = "***".into();
        }
        copy.database.url = redact_url_password(&copy.database.url);
        serde_json::to_value(copy).unwrap_or_default()
    }
}

impl CustomerConfig {
    /// Whether `sender` may send for this customer: an empty list allows everyone; entries
    /// are full addresses or domains.
    pub fn sender_allowed(&self, sender: &str) -> bool {
        if self.allowed_senders.is_empty() {
            return true;
        }
        let sender = sender.trim().to_ascii_lowercase();
        let domain = sender.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        self.allowed_senders.iter().any(|allowed| {
            let allowed = allowed.trim().to_ascii_lowercase();
            if allowed.contains('@') {
                allowed == sender
            } else {
                domain == allowed || domain.ends_with(&format!(".{allowed}"))
            }
        })
    }
}

/// `postgres://user:secret@host/db?password=x` → `postgres://user:***@host/db?password=***`.
/// The user info ends at the last `@` before the path, so an unencoded `@` in a password
/// does not show its tail; any query parameter named like a password is masked too.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let location = match location.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => location.to_string(),
    };
    let query = query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                    format!("{name}=***")
                }
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(q) => format!("{scheme}://{location}?{q}"),
        None => format!("{scheme}://{location}"),
    }
}

impl Config {
    /// This node's name: `node.name`, else the host name (`localhost` when none is set).
    pub fn node_name(&self) -> String {
        if !self.node.name.is_empty() {
            return self.node.name.clone();
        }
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|path| {
                let host = std::fs::read_to_string(path).ok()?.trim().to_string();
                (!host.is_empty()).then_some(host)
            })
            .unwrap_or_else(|| "localhost".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_database_urls_never_show() {
        for (url, shown) in [
            (
                "postgres://u:secret@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgres://u:p@ss@w0rd@h/db", "postgres://u:***@h/db"),
            (
                "postgres://u@h/db?sslmode=disable&password=secret",
                "postgres://u@h/db?sslmode=disable&password=***",
            ),
            ("postgres://h/db?PassWord=x", "postgres://h/db?PassWord=***"),
            ("postgres://u@h/db", "postgres://u@h/db"),
        ] {
            assert_eq!(redact_url_password(url), shown);
        }
    }

    #[test]
    fn allowed_senders_match_addresses_domains_and_subdomains_only() {
        let customer = CustomerConfig {
            name: "c".into(),
            addresses: vec![],
            allowed_senders: vec!["ops@corp.example".into(), "grids.example".into()],
        };
        for ok in [
            "ops@corp.example",
            "OPS@Corp.Example",
            "a@grids.example",
            "a@sn1.grids.example",
        ] {
            assert!(customer.sender_allowed(ok), "{ok}");
        }
        for refused in [
            "dev@corp.example",
            "a@evilgrids.example",
            "a@grids.example.evil",
            "",
            "grids.example",
        ] {
            assert!(!customer.sender_allowed(refused), "{refused}");
        }
        let open = CustomerConfig {
            name: "c".into(),
            addresses: vec![],
            allowed_senders: vec![],
        };
        assert!(open.sender_allowed("anyone@anywhere"));
    }
}

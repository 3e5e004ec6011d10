//! What the tests that run the real `dataprocessor` binary share: ports, processes that
//! end with the test, moto, the `aws` CLI.

#![allow(clippy::unwrap_used, dead_code)]

use shared_modules::config::Config;
use shared_modules::testing::wait_for;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_dataprocessor");
pub const KEY: &str = "test-key-0123456789abcdef";

/// What a client command printed, stdout then stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, however it ends.
pub struct Killed(pub Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn wait_port(port: u16, what: &str) {
    wait_for(what, Duration::from_secs(60), || async {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ())
    })
    .await;
}

/// moto (an S3-compatible server) on a free port: the process and its endpoint URL.
pub async fn start_moto() -> (Killed, String) {
    let port = free_port();
    let moto = Killed(
        Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server is required: run scripts/services.sh s3"),
    );
    wait_port(port, "moto to listen").await;
    (moto, format!("http://127.0.0.1:{port}"))
}

/// `dataprocessor serve` with `config` (written to `dir/config.json`), once it listens.
pub async fn start_serve(dir: &Path, config: &Config) -> Killed {
    serve_writing_to(dir, "config", config, Stdio::null()).await
}

/// `dataprocessor serve` with `config` written to `dir/<name>.json`, its standard error to
/// `stderr`, once it listens on `api.listen`.
pub async fn serve_writing_to(dir: &Path, name: &str, config: &Config, stderr: Stdio) -> Killed {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string(config).unwrap()).unwrap();
    let serve = Killed(
        Command::new(BIN)
            .args(["--config", path.to_str().unwrap(), "serve"])
            .env("RUST_LOG", "info")
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );
    wait_port(listen_port(config), "the API to listen").await;
    serve
}

/// The port of `api.listen`.
pub fn listen_port(config: &Config) -> u16 {
    config
        .api
        .listen
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// `dataprocessor serve` as `start_serve`, its log (stderr) kept in `dir/<name>.log`.
pub async fn start_serve_logged_as(dir: &Path, name: &str, config: &Config) -> (Killed, PathBuf) {
    let log = dir.join(format!("{name}.log"));
    let stderr = Stdio::from(std::fs::File::create(&log).unwrap());
    (serve_writing_to(dir, name, config, stderr).await, log)
}

/// The test config for `serve` with uploads: API on a free port, data under `dir/mailbox`,
/// the object store at `s3` with the test credentials, customer bobs_burgers receiving mail
/// at `bobs_burgers@ingest.hview.example`.
pub fn upload_config(db_url: &str, dir: &Path, s3: &str) -> Config {
    let mut config = shared_modules::testing::test_config(db_url, &dir.join("mailbox"));
    config.api.listen = format!("127.0.0.1:{}", free_port());
    config.s3.mode = shared_modules::config::S3Mode::External;
    config.s3.endpoint = s3.to_string();
    config.s3.access_key_id = "accessKey1".into();
    config.s3.secret_access_key = "verySecretKey1".into();
    config.customers = vec![shared_modules::config::CustomerConfig {
        name: "bobs_burgers".into(),
        addresses: vec!["bobs_burgers@ingest.hview.example".into()],
        allowed_senders: vec![],
    }];
    config
}

/// The test config for `serve` as the S3 endpoint itself (`s3.mode = embedded`): as
/// `upload_config`, plus the key `bobkey`/`bobsecret` limited to `bobs_burgers/`, and a
/// second customer `someone_else` whose folder that key may not touch.
pub fn embedded_config(db_url: &str, dir: &Path) -> Config {
    let mut config = upload_config(db_url, dir, "");
    config.s3.mode = shared_modules::config::S3Mode::Embedded;
    config
        .customers
        .push(shared_modules::config::CustomerConfig {
            name: "someone_else".into(),
            addresses: vec!["someone_else@ingest.hview.example".into()],
            allowed_senders: vec![],
        });
    config.s3.keys = vec![shared_modules::config::S3Key {
        access_key_id: "bobkey".into(),
        secret_access_key: "bobsecret".into(),
        prefix: Some("bobs_burgers/".into()),
    }];
    config
}

/// The API port's own URL (`http://host:port`): the embedded S3 endpoint.
pub fn s3_url(config: &Config) -> String {
    format!("http://{}", config.api.listen)
}

/// `aws s3 cp file s3://veritas2hview/<key>` with the test credentials.
pub fn aws_cp(endpoint: &str, file: &Path, key: &str) -> Output {
    aws(
        endpoint,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://veritas2hview/{key}"),
        ],
    )
}

/// `aws_cp`, which must succeed.
pub fn aws_put(endpoint: &str, file: &Path, key: &str) {
    let out = aws_cp(endpoint, file, key);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The newest upload job (`type=veritas2hview`) at the API `api` (…/api/1.0), once done.
pub async fn upload_job_done(api: &str, what: &str) -> serde_json::Value {
    shared_modules::testing::wait_for(what, Duration::from_secs(60), || async {
        let jobs = api_get(&format!("{api}/jobs?type=veritas2hview"));
        let job = jobs["jobs"].as_array()?.first()?.clone();
        (job["state"] == "done").then_some(job)
    })
    .await
}

/// `GET url` with the test key, as curl does: the JSON answer (Null when it is not JSON).
pub fn api_get(url: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-s", url, "-H", &format!("X-Api-Key: {KEY}")])
        .output()
        .expect("curl is required");
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// The real `aws` CLI against `endpoint` signing with `access_key`/`secret`.
pub fn aws_as(endpoint: &str, access_key: &str, secret: &str, args: &[&str]) -> Output {
    Command::new("aws")
        .args(["--endpoint-url", endpoint])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("the aws CLI is required: run scripts/services.sh s3")
}

/// The API's base URL (`…/api/1.0`) for `config`.
pub fn api_url(config: &Config) -> String {
    format!("http://{}/api/1.0", config.api.listen)
}

/// The real `aws` CLI against `endpoint` with the test credentials.
pub fn aws(endpoint: &str, args: &[&str]) -> Output {
    aws_as(endpoint, "accessKey1", "verySecretKey1", args)
}

/// The NetBackup fixtures' text files packed as `dir/dump.tar.gz`, as a customer uploads
/// them (5 jobs, 1 storage unit, 4 bad records, a notes file skipped).
pub fn export_tar_gz(dir: &Path) -> PathBuf {
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules/hydrastor/veritas2hview/fixtures");
    let exports = dir.join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    for file in shared_modules::testing::fixture_files(&fixtures, "txt") {
        std::fs::copy(&file, exports.join(file.file_name().unwrap())).unwrap();
    }
    tar_gz(&exports, &dir.join("dump.tar.gz"))
}

/// `folder`'s files packed as the `.tar.gz` at `out`, as a customer's `tar -czf` does.
fn tar_gz(folder: &Path, out: &Path) -> PathBuf {
    let status = Command::new("tar")
        .arg("-czf")
        .arg(out)
        .arg("-C")
        .arg(folder)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    out.to_path_buf()
}

/// The README's curl trigger for `s3_path` (customer bobs_burgers, grid fryer_grid) against
/// the API at `api` (…/api/1.0): (HTTP status, body).
pub fn curl_trigger(api: &str, s3_path: &str) -> (u16, String) {
    let body = serde_json::json!({"uid": "u-1", "customer": "bobs_burgers", "grid": "fryer_grid", "s3_path": s3_path});
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST"])
        .arg(format!("{api}/veritas2hview/update"))
        .args([
            "-H",
            "Content-Type: application/json",
            "-H",
            &format!("X-Api-Key: {KEY}"),
        ])
        .args(["-d", &body.to_string()])
        .output()
        .expect("curl is required");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.parse().unwrap_or(0), body.to_string())
}

/// A self-signed certificate for `localhost` and 127.0.0.1 in `dir`: (certificate, key).
pub fn self_signed_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is required");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

/// `dataprocessor serve` as `start_serve`, its log (stderr) kept in `dir/serve.log`.
pub async fn start_serve_logged(dir: &Path, config: &Config) -> (Killed, PathBuf) {
    start_serve_logged_as(dir, "serve", config).await
}

/// Waits for serve's log (the first file in `logs`) to have a line with both `what` and `key`.
pub async fn logged(logs: &Path, what: &str, key: &str) {
    wait_for(
        &format!("the log line `{what}` for {key}"),
        Duration::from_secs(30),
        || async {
            let file = std::fs::read_dir(logs).ok()?.flatten().next()?.path();
            let log = std::fs::read_to_string(file).ok()?;
            log.lines()
                .any(|l| l.contains(what) && l.contains(key))
                .then_some(())
        },
    )
    .await;
}

/// The ```sh blocks of the README's production section, as written.
pub fn production_blocks() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("\n## Run it in production\n")
        .nth(1)
        .expect("a production section");
    let section = section.split("\n## ").next().unwrap();
    section
        .split("```sh\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap().to_string())
        .collect()
}

/// `curl -X method url` with `X-Api-Key: key` and a JSON `body`: (HTTP status, the JSON
/// answer, Null when it is not JSON).
pub fn api_as(
    key: &str,
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut curl = Command::new("curl");
    curl.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url])
        .args(["-H", &format!("X-Api-Key: {key}")]);
    if let Some(body) = body {
        curl.args([
            "-H",
            "Content-Type: application/json",
            "-d",
            &body.to_string(),
        ]);
    }
    let out = curl.output().expect("curl is required");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Adds `customer` with fresh credentials (as `dpctl customers add` does), sealing its S3
/// secret with the server key under `config.paths.root` (made now when missing: start
/// `serve` after this, or with the same key).
pub async fn add_customer(
    config: &Config,
    customer: &str,
) -> shared_modules::customers::NewCredentials {
    let (key, _) = shared_modules::customers::ServerKey::load(&config.paths.root).unwrap();
    let pool =
        shared_modules::db::connect_pool(&config.database.url, 1, Duration::from_secs(5)).unwrap();
    let mut conn = pool.get().await.unwrap();
    shared_modules::customers::add_customer(&mut conn, &key, customer)
        .await
        .unwrap()
}

/// A NetBackup export of `megabytes` MB: the fixtures (5 jobs, 1 storage unit) with an
/// incompressible file the module skips, so the upload has many parts and the job real rows.
pub fn large_export(dir: &Path, megabytes: usize) -> PathBuf {
    let small = export_tar_gz(dir);
    let exports = dir.join("exports");
    let mut padding = vec![0u8; megabytes * 1_000_000];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for chunk in padding.chunks_mut(8) {
        // xorshift: fast, incompressible enough for gzip.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(exports.join("padding.bin"), padding).unwrap();
    let out = tar_gz(&exports, &dir.join(format!("export_{megabytes}mb.tar.gz")));
    std::fs::remove_file(exports.join("padding.bin")).unwrap();
    let _ = std::fs::remove_file(small);
    out
}

/// curl against a console with the cookie jar `jar` (kept between calls, as a browser
/// does): `"<status> <redirect URL>"`, and the page.
pub fn console_curl(jar: &Path, args: &[&str]) -> (String, String) {
    let body = jar.with_extension("body");
    let out = Command::new("curl")
        .args(["-s", "-o"])
        .arg(&body)
        .args(["-w", "%{http_code} %{redirect_url}", "-b"])
        .arg(jar)
        .arg("-c")
        .arg(jar)
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        std::fs::read_to_string(&body).unwrap_or_default(),
    )
}

/// The repository's top folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A compose file (`docker-compose.yml`, `docker-compose.cluster.yml`) as `docker compose`
/// on a real host reads it: `podman-compose config`, interpolated with the secrets compose
/// requires (no defaults: `secure_defaults.rs` checks them).
pub fn compose_as_read(file: &str) -> serde_yaml::Value {
    let out = Command::new("podman-compose")
        .args(["-f", file, "config"])
        .current_dir(repo())
        .env("HVIEW_API_KEY", "a-generated-api-key-0123456789")
        .env("HVIEW_S3_SECRET", "a-generated-s3-secret-0123456789")
        .env("HVIEW_DB_PASSWORD", "a-generated-password-0123456789")
        .output()
        .expect("podman-compose is required for this test: run scripts/services.sh podman");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_yaml::from_slice(&out.stdout).unwrap()
}

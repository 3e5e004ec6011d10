//! The API port faces the internet: clients that connect and say nothing, say one byte and
//! stall, drip a body, flood the port past its cap or guess console keys must not exhaust
//! serve, and the log names who they were. Each runs the real `dataprocessor serve`.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::{KEY, Killed, free_port, self_signed_certificate, start_serve_logged};
use shared_modules::config::Config;
use shared_modules::testing::{TestDb, test_config, wait_for};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn config(db_url: &str, dir: &Path) -> Config {
    let mut config = test_config(db_url, &dir.join("mailbox"));
    config.api.listen = format!("127.0.0.1:{}", free_port());
    config.api.header_timeout_seconds = 2;
    config.api.idle_timeout_seconds = 5;
    config
}

fn with_tls(mut config: Config, dir: &Path) -> Config {
    let (cert, key) = self_signed_certificate(dir);
    config.api.tls_certificate = Some(cert);
    config.api.tls_private_key = Some(key);
    config
}

fn address(config: &Config) -> SocketAddr {
    config.api.listen.parse().unwrap()
}

fn open_fds(serve: &Killed) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", serve.0.id()))
        .unwrap()
        .count()
}

/// serve's descriptor count once it has stayed the same for 300 ms (or after 5 s).
async fn settled_fds(serve: &Killed) -> usize {
    let mut last = open_fds(serve);
    let mut same = 0;
    for _ in 0..50 {
        if same == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = open_fds(serve);
        same = if now == last { same + 1 } else { 0 };
        last = now;
    }
    last
}

/// curl against serve: (status, headers and body as text).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-k", "-i", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is required");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.parse().unwrap_or(0), body.to_string())
}

fn health(config: &Config) -> u16 {
    curl(&[
        "-H",
        &format!("X-Api-Key: {KEY}"),
        &format!("http://{}/api/1.0/health", config.api.listen),
    ])
    .0
}

/// Whether the server has closed `stream` (EOF or reset) within `within`, reading and
/// discarding whatever it said first.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let until = Instant::now() + within;
    let mut buffer = [0u8; 4096];
    while Instant::now() < until {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return true,
        }
    }
    false
}

fn connect_many(to: SocketAddr, count: usize, first_byte: Option<u8>) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(to).unwrap();
            if let Some(byte) = first_byte {
                stream.write_all(&[byte]).unwrap();
            }
            stream
        })
        .collect()
}

/// Thousands of connections that say nothing, or one byte (plain or a TLS handshake's first)
/// and then nothing: serve keeps answering, and closes them all by itself, giving back its
/// descriptors while the clients still hold their ends open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_one_byte_clients_are_shed_and_serve_keeps_answering() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = with_tls(config(&db.url, dir.path()), dir.path());
    let (serve, _log) = start_serve_logged(dir.path(), &config).await;
    assert_eq!(health(&config), 200);
    let before = open_fds(&serve);
    let to = address(&config);
    let clients = tokio::task::spawn_blocking(move || {
        let mut clients = connect_many(to, 1500, None);
        clients.extend(connect_many(to, 1500, Some(b'G')));
        clients.extend(connect_many(to, 1500, Some(0x16)));
        clients
    })
    .await
    .unwrap();
    assert_eq!(
        health(&config),
        200,
        "health with 4,500 hostile connections open"
    );
    wait_for(
        "serve to close the hostile connections and give back their descriptors",
        Duration::from_secs(30),
        || async {
            let now = open_fds(&serve);
            (now <= before + 10).then_some(())
        },
    )
    .await;
    // Each client sees its connection closed (actix's 408 first, for the plain one).
    let mut clients = clients;
    for stream in clients.iter_mut().step_by(150) {
        assert!(closed_by_server(stream, Duration::from_secs(5)));
    }
    assert_eq!(health(&config), 200);
}

/// Past `api.max_connections` a new connection is closed at once, unread; once some close,
/// serve answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_new_connections_are_closed_at_once() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&db.url, dir.path());
    config.api.header_timeout_seconds = 60;
    config.api.max_connections = 20;
    let (serve, _log) = start_serve_logged(dir.path(), &config).await;
    assert_eq!(health(&config), 200);
    // The health check's own socket may still be open for a moment: counted in `idle`, its
    // closing would keep the count one short of `idle + 20` for good.
    let idle = settled_fds(&serve).await;
    let to = address(&config);
    let mut holding = connect_many(to, 20, None);
    wait_for(
        "the front to accept all twenty before the twenty-first",
        Duration::from_secs(10),
        || async { (open_fds(&serve) >= idle + 20).then_some(()) },
    )
    .await;
    let mut over = TcpStream::connect(to).unwrap();
    assert!(
        closed_by_server(&mut over, Duration::from_secs(3)),
        "the 21st connection is closed at once"
    );
    assert_ne!(health(&config), 200, "no room for health either");
    holding.truncate(10);
    wait_for(
        "room on the port again",
        Duration::from_secs(10),
        || async { (health(&config) == 200).then_some(()) },
    )
    .await;
}

/// A request body dripped a byte at a time is cut once it falls behind the minimum pace,
/// and its connection closed; a body sent at once is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripped_body_is_cut_and_its_connection_closed() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&db.url, dir.path());
    config.api.idle_timeout_seconds = 60;
    config.api.body_timeout_seconds = 2;
    config.api.body_min_bytes_per_second = 1024;
    let (_serve, log) = start_serve_logged(dir.path(), &config).await;
    let to = address(&config);
    let dripped = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(to).unwrap();
        stream
            .write_all(
                b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nkey=",
            )
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if stream.write_all(b"k").is_err() {
                return Some(started.elapsed());
            }
            if closed_by_server(&mut stream, Duration::from_millis(500)) {
                return Some(started.elapsed());
            }
        }
        None
    })
    .await
    .unwrap();
    let cut_after = dripped.expect("the dripped body's connection was still open after 30 s");
    assert!(
        cut_after < Duration::from_secs(15),
        "cut after {cut_after:?}"
    );
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("request body too slow"), "{log}");
    let (status, _) = curl(&[
        "-d",
        "key=wrong-key-0123456789",
        &format!("http://{}/login", config.api.listen),
    ]);
    assert_eq!(status, 401, "a body sent at once is read");
}

/// Over TLS the request log names the real client (not the front's loopback socket), and
/// the console's sign-in throttles wrong keys per client address: 429 with Retry-After for
/// the guesser, the right key still signs in from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_client_is_logged_and_sign_in_guessing_is_throttled_per_address() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = with_tls(config(&db.url, dir.path()), dir.path());
    let (_serve, log) = start_serve_logged(dir.path(), &config).await;
    let https = format!("https://{}", config.api.listen);
    let (status, _) = curl(&[
        "--interface",
        "127.0.0.2",
        "-H",
        &format!("X-Api-Key: {KEY}"),
        &format!("{https}/api/1.0/health"),
    ]);
    assert_eq!(status, 200);
    wait_for(
        "the request logged with its client",
        Duration::from_secs(5),
        || async {
            let log = std::fs::read_to_string(&log).unwrap();
            log.lines()
                .any(|l| l.contains("/api/1.0/health") && l.contains("client=127.0.0.2"))
                .then_some(())
        },
    )
    .await;

    let sign_in = |from: &str, key: &str| {
        curl(&[
            "--interface",
            from,
            "-d",
            &format!("key={key}"),
            &format!("{https}/login"),
        ])
    };
    for _ in 0..10 {
        let (status, _) = sign_in("127.0.0.2", "a-wrong-key-0123456789");
        assert_eq!(status, 401);
    }
    let (status, answer) = sign_in("127.0.0.2", "a-wrong-key-0123456789");
    assert_eq!(status, 429, "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: "),
        "{answer}"
    );
    let (status, _) = sign_in("127.0.0.2", KEY);
    assert_eq!(
        status, 429,
        "the guessing address waits, even with the right key"
    );
    let (status, answer) = sign_in("127.0.0.3", KEY);
    assert_eq!(
        status, 303,
        "the right key from elsewhere signs in: {answer}"
    );
}

/// A browser's `/favicon.ico` and a scanner's plain GET are the console's (an icon, a 404),
/// not refused S3 requests logged as errors; console pages say how a browser may use them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_requests_are_the_consoles_and_its_pages_carry_security_headers() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&db.url, dir.path());
    let (_serve, log) = start_serve_logged(dir.path(), &config).await;
    let base = format!("http://{}", config.api.listen);
    let (status, answer) = curl(&[&format!("{base}/favicon.ico")]);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("image/svg+xml"), "{answer}");
    let (status, _) = curl(&[&format!("{base}/wp-login.php")]);
    assert_eq!(status, 404);
    let (status, page) = curl(&[&format!("{base}/login")]);
    assert_eq!(status, 200);
    let page = page.to_ascii_lowercase();
    for header in [
        "content-security-policy: default-src 'self'",
        "frame-ancestors 'none'",
        "x-frame-options: deny",
        "cache-control: no-store",
        "x-content-type-options: nosniff",
    ] {
        assert!(page.contains(header), "{header} missing: {page}");
    }
    // An unsigned request that speaks S3 is still refused the S3 way (XML), not at ERROR.
    let (status, answer) = curl(&[&format!("{base}/veritas2hview?list-type=2")]);
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("AccessDenied"), "{answer}");
    let log = wait_for(
        "the refused request's log line",
        Duration::from_secs(10),
        || async {
            let log = std::fs::read_to_string(&log).unwrap();
            log.contains("path=/veritas2hview").then_some(log)
        },
    )
    .await;
    assert!(
        !log.lines().any(|l| l.contains("ERROR")),
        "no ERROR for a client's fault: {log}"
    );
}

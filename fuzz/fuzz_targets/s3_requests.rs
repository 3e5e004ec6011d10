//! A whole request to the embedded S3 endpoint as any client can send it (method, path and
//! query, headers, body), through s3s (SigV4, routing, XML) into the endpoint's operations
//! on a real store: PUTs with integrity headers, multipart uploads and their listings,
//! presigned queries, keys of every shape. The first byte picks the signer: none, the
//! operator's key, or a key limited to `bob/`; the target signs the request itself so
//! that most inputs reach the operations, not only the signature check. Nothing panics,
//! and no request is a 500: every bad request is the client's 4xx.
//!
//! Input: `<signer byte>METHOD /path?query\nname: value\n…\n\n<body>`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use shared_modules::config::{Config, S3Key};
use shared_modules::object_store::DiskStore;
use std::sync::{Arc, OnceLock};

const BUCKET: &str = "veritas2hview";
const KEYS: [(&str, &str); 2] = [("operator", "operator-secret"), ("bob", "bob-secret")];

struct World {
    runtime: tokio::runtime::Runtime,
    service: s3s::service::S3Service,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut config = Config::default();
        config.paths.root = dir.path().to_path_buf();
        config.s3.bucket = BUCKET.into();
        config.s3.access_key_id = KEYS[0].0.into();
        config.s3.secret_access_key = KEYS[0].1.into();
        config.s3.keys = vec![S3Key {
            access_key_id: KEYS[1].0.into(),
            secret_access_key: KEYS[1].1.into(),
            prefix: Some("bob/".into()),
        }];
        config.s3.max_open_uploads_per_key = 50;
        // Keys under bob/ follow the upload contract (`<customer>/<grid>/<file>`), so that
        // writes reach the store; any other key exercises the contract's refusal.
        config.customers = vec![shared_modules::config::CustomerConfig {
            name: "bob".into(),
            addresses: vec!["bob@fuzz.invalid".into()],
            allowed_senders: vec![],
        }];
        let store = Arc::new(DiskStore::new(dir.path(), BUCKET));
        store.create().expect("the bucket's folders");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let service = {
            let _inside = runtime.enter();
            api::s3::service(&config, store, None, None)
        };
        World {
            runtime,
            service,
            _dir: dir,
        }
    })
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// AWS's URI encoding (unreserved characters kept).
fn encode(text: &str, slash: bool) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'~' | b'.' => {
                out.push(byte as char)
            }
            b'/' if !slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn decode(text: &str, plus: bool) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? * 16 + hex(bytes[i + 2])?))
            .flatten();
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b as u8);
                i += 3;
                continue;
            }
            (None, b'+') if plus => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The SigV4 `Authorization` header for the request, as s3s checks it.
fn sign(
    (access, secret): (&str, &str),
    method: &str,
    path: &str,
    query: &str,
    host: &str,
    payload: &str,
    date: &str,
) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (
                encode(&decode(n, true), true),
                encode(&decode(v, true), true),
            )
        })
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let canonical = format!(
        "{method}\n{}\n{}\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{date}\n\nhost;x-amz-content-sha256;x-amz-date\n{payload}",
        encode(&decode(path, false), false),
        query.join("&"),
    );
    let day = &date[..8];
    let scope = format!("{day}/us-east-1/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}"
    )
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&signer, rest)) = bytes.split_first() else {
        return;
    };
    let split = rest
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(rest.len());
    let head = String::from_utf8_lossy(&rest[..split]);
    let body = rest.get(split + 2..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let Some((method, target)) = lines.next().and_then(|l| l.split_once(' ')) else {
        return;
    };
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let host = "127.0.0.1:25025";
    let mut request = http::Request::builder()
        .method(method.clone())
        .uri(format!("http://{host}{target}"));
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            request = request.header(name.trim(), value.trim());
        }
    }
    let uri: http::Uri = match format!("http://{host}{target}").parse() {
        Ok(uri) => uri,
        Err(_) => return,
    };
    request = request
        .header("host", host)
        .header("content-length", body.len().to_string());
    if signer % 3 != 0 {
        let key = KEYS[usize::from(signer % 3) - 1];
        let payload = hex::encode(Sha256::digest(&body));
        let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let authorization = sign(
            key,
            method.as_str(),
            uri.path(),
            uri.query().unwrap_or(""),
            host,
            &payload,
            &date,
        );
        request = request
            .header("x-amz-content-sha256", payload)
            .header("x-amz-date", date)
            .header("authorization", authorization);
    }
    let Ok(request) = request.body(s3s::Body::from(bytes::Bytes::from(body))) else {
        return;
    };
    let world = world();
    let response = world.runtime.block_on(world.service.call(request));
    if let Ok(response) = response {
        assert_ne!(
            response.status(),
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "a 500 for {method} {target}: {:?}",
            response.body().bytes()
        );
    }
});

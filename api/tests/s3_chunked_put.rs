//! A PUT with `Transfer-Encoding: chunked` and no Content-Length (issue 28, item 6), as
//! AWS SDKs send an upload of unknown size, against the real `serve`: signed with a
//! streaming payload it is stored and reads back byte for byte; one whose declared decoded
//! length is not what arrives (more or fewer bytes) is refused and nothing is stored; one with neither a
//! streaming signature nor a length is refused as S3 refuses it (411 MissingContentLength).
//! The client is `tests/clients/chunked_put.py`, SigV4 streaming signing written out and
//! sent over a raw socket.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use shared_modules::testing::TestDb;
use std::path::Path;
use std::process::{Command, Output};

const BUCKET: &str = "veritas2hview";

/// The client's answer: the status code and the body.
fn chunked_put(host: &str, key: &str, file: &Path, mode: &str) -> (u16, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/chunked_put.py");
    let out = Command::new("python3")
        .args([script, host, BUCKET, key, file.to_str().unwrap(), mode])
        .args(["accessKey1", "verySecretKey1"])
        .output()
        .expect("python3 is required");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = stdout.split_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The key is not in the bucket (the aws CLI's head-object answers 404).
fn absent(s3: &str, key: &str) {
    let out = aws(
        s3,
        &["s3api", "head-object", "--bucket", BUCKET, "--key", key],
    );
    assert!(!out.status.success(), "{key} was stored: {}", text(&out));
    assert!(text(&out).contains("404"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_puts_are_stored_when_streaming_signed_and_refused_when_they_lie_or_have_no_length()
{
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = embedded_config(&db.url, dir.path());
    let _serve = start_serve(dir.path(), &config).await;
    let (s3, host) = (s3_url(&config), config.api.listen.clone());

    // Several aws-chunks and HTTP chunks (64 KiB each), the last one short; no byte
    // pattern repeating at a chunk's length, so a chunk lost or doubled shows.
    let sent: Vec<u8> = (0..300_001u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let file = dir.path().join("sent.bin");
    std::fs::write(&file, &sent).unwrap();

    let good = "bobs_burgers/fryer_grid/streamed.bin";
    let (status, body) = chunked_put(&host, good, &file, "streaming");
    assert_eq!(status, 200, "{body}");
    let back = dir.path().join("back.bin");
    let out = aws(
        &s3,
        &[
            "s3api",
            "get-object",
            "--bucket",
            BUCKET,
            "--key",
            good,
            back.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        std::fs::read(&back).unwrap() == sent,
        "the object read back is not the bytes sent"
    );

    // One byte more, then one byte less, arrives than x-amz-decoded-content-length says.
    for mode in ["lying", "claiming"] {
        let key = format!("bobs_burgers/fryer_grid/{mode}.bin");
        let (status, body) = chunked_put(&host, &key, &file, mode);
        assert_eq!(status, 400, "{mode}: {body}");
        assert!(
            body.contains("<Code>IncompleteBody</Code>"),
            "{mode}: {body}"
        );
        absent(&s3, &key);
    }

    let unsigned = "bobs_burgers/fryer_grid/unsigned.bin";
    let (status, body) = chunked_put(&host, unsigned, &file, "unsigned");
    assert_eq!(status, 411, "{body}");
    assert!(body.contains("<Code>MissingContentLength</Code>"), "{body}");
    absent(&s3, unsigned);
}

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
use std::process::Command;

use serde_json::Value;

const BUCKET: &str = "veritas2hview";

/// The client's answer: the status code and the body.
fn chunked_put(host: &str, key: &str, file: &Path, mode: &str) -> (u16, String) {
    chunked_upload(host, key, file, mode, "")
}

/// `chunked_put`, with a query (`partNumber=…&uploadId=…`: an UploadPart).
fn chunked_upload(host: &str, key: &str, file: &Path, mode: &str, query: &str) -> (u16, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/chunked_put.py");
    let out = Command::new("python3")
        .args([script, host, BUCKET, key, file.to_str().unwrap(), mode])
        .args(["accessKey1", "verySecretKey1", query])
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

/// The same for parts of a multipart upload: a streamed part of 5 MiB and a last one are
/// taken and complete into the bytes sent; a part whose decoded length lies is refused and
/// never listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_parts_are_taken_when_streaming_signed_and_refused_when_they_lie() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = embedded_config(&db.url, dir.path());
    let _serve = start_serve(dir.path(), &config).await;
    let (s3, host) = (s3_url(&config), config.api.listen.clone());
    let key = "bobs_burgers/fryer_grid/parts.bin";
    let s3api = |args: &[&str]| -> Value {
        let mut all = vec!["s3api"];
        all.extend_from_slice(args);
        let out = aws(&s3, &all);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    let created = s3api(&["create-multipart-upload", "--bucket", BUCKET, "--key", key]);
    let upload = created["UploadId"].as_str().unwrap().to_string();

    let sent: Vec<u8> = (0..5 * 1024 * 1024 + 1000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let split = 5 * 1024 * 1024;
    let (first, last) = (dir.path().join("first.bin"), dir.path().join("last.bin"));
    std::fs::write(&first, &sent[..split]).unwrap();
    std::fs::write(&last, &sent[split..]).unwrap();
    let part = |n: u32| format!("partNumber={n}&uploadId={upload}");
    for (n, file) in [(1, &first), (2, &last)] {
        let (status, body) = chunked_upload(&host, key, file, "streaming", &part(n));
        assert_eq!(status, 200, "part {n}: {body}");
    }
    let (status, body) = chunked_upload(&host, key, &last, "lying", &part(3));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>IncompleteBody</Code>"), "{body}");

    let listed = s3api(&[
        "list-parts",
        "--bucket",
        BUCKET,
        "--key",
        key,
        "--upload-id",
        &upload,
    ]);
    let parts: Vec<Value> = listed["Parts"].as_array().unwrap().clone();
    let numbers: Vec<i64> = parts
        .iter()
        .map(|p| p["PartNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2], "{listed}");
    let completion = serde_json::json!({
        "Parts": parts
            .iter()
            .map(|p| serde_json::json!({"PartNumber": p["PartNumber"], "ETag": p["ETag"]}))
            .collect::<Vec<_>>()
    })
    .to_string();
    s3api(&[
        "complete-multipart-upload",
        "--bucket",
        BUCKET,
        "--key",
        key,
        "--upload-id",
        &upload,
        "--multipart-upload",
        &completion,
    ]);
    let back = dir.path().join("back.bin");
    s3api(&[
        "get-object",
        "--bucket",
        BUCKET,
        "--key",
        key,
        back.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read(&back).unwrap() == sent,
        "the object read back is not the bytes sent"
    );
}

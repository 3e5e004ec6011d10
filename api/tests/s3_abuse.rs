//! The embedded S3 endpoint under a client that lies or leaves things behind (issue 21),
//! with the real aws CLI: integrity headers that do not match the body are refused and
//! store nothing; multipart uploads are limited per access key, listed (uploads and
//! parts), held to S3's 5 MiB part minimum, and swept when abandoned, as are the bytes of a
//! killed PUT, never those of an upload still arriving; a repeated completion answers as
//! the first; presigned URLs live at most a week; keys that would display as another
//! name are refused, and a 5,000-character upload id is NoSuchUpload; refusals are logged
//! at info, never ERROR.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use serde_json::Value;
use shared_modules::config::Config;
use shared_modules::testing::{TestDb, wait_for};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const BUCKET: &str = "veritas2hview";
const HOUR: Duration = Duration::from_secs(3600);

/// `aws s3api …` as `who` (the operator `accessKey1` or the customer `bobkey`), one
/// attempt (no retries of a 503).
fn s3api(endpoint: &str, who: &str, args: &[&str]) -> Output {
    let secret = if who == "bobkey" {
        "bobsecret"
    } else {
        "verySecretKey1"
    };
    Command::new("aws")
        .args(["--endpoint-url", endpoint, "s3api"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", who)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("the aws CLI is required")
}

fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The command failed with the S3 error `code`.
fn refused(out: &Output, code: &str) {
    assert!(!out.status.success(), "accepted: {}", text(out));
    assert!(
        text(out).contains(&format!("({code})")),
        "not {code}: {}",
        text(out)
    );
}

fn store_dir(config: &Config) -> PathBuf {
    config.paths.root.join("s3").join(BUCKET)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn backdate(path: &Path, by: Duration) {
    std::fs::File::open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - by)
        .unwrap();
}

fn shell(script: &str) -> String {
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "{script}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// base64 of the MD5 of `path`'s bytes (what `Content-MD5` carries).
fn content_md5(path: &Path) -> String {
    shell(&format!(
        "openssl dgst -md5 -binary '{}' | base64",
        path.display()
    ))
}

async fn serve(dir: &Path, db: &TestDb, adjust: impl FnOnce(&mut Config)) -> (Killed, Config) {
    let mut config = embedded_config(&db.url, dir);
    adjust(&mut config);
    let serve = start_serve(dir, &config).await;
    (serve, config)
}

/// Item 4: a PUT or a part whose Content-MD5 or x-amz-checksum-* is another body's is
/// BadDigest; a Content-MD5 that is not an MD5 in base64 is InvalidDigest; nothing is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrity_headers_that_do_not_match_the_body_store_nothing() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (_serve, config) = serve(dir.path(), &db, |_| {}).await;
    let s3 = s3_url(&config);
    let body = dir.path().join("body.txt");
    std::fs::write(&body, "the body that is sent\n").unwrap();
    let other = dir.path().join("other.txt");
    std::fs::write(&other, "another body\n").unwrap();
    let key = "bobs_burgers/g/checked.txt";
    let put = |extra: &[&str]| {
        let mut args = vec![
            "put-object",
            "--bucket",
            BUCKET,
            "--key",
            key,
            "--body",
            body.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        s3api(&s3, "bobkey", &args)
    };
    let others_md5 = content_md5(&other);
    refused(&put(&["--content-md5", &others_md5]), "BadDigest");
    refused(&put(&["--content-md5", "not base64!"]), "InvalidDigest");
    refused(&put(&["--content-md5", "AAAAAAA="]), "InvalidDigest");
    let zeros = |bytes: usize| shell(&format!("head -c {bytes} /dev/zero | base64 -w0"));
    for (flag, wrong) in [
        ("--checksum-crc32", zeros(4)),
        ("--checksum-crc32-c", zeros(4)),
        ("--checksum-crc64-nvme", zeros(8)),
        ("--checksum-sha1", zeros(20)),
        ("--checksum-sha256", zeros(32)),
        ("--checksum-sha512", zeros(64)),
        ("--checksum-md5", others_md5.clone()),
    ] {
        refused(&put(&[flag, &wrong]), "BadDigest");
    }
    refused(&put(&["--checksum-sha256", "AAAA"]), "InvalidRequest");
    // An xxHash cannot be checked here: refused rather than stored unchecked.
    refused(&put(&["--checksum-xxhash64", &zeros(8)]), "InvalidRequest");
    let store = store_dir(&config);
    assert!(files_in(&store.join("blobs")).is_empty(), "no blob kept");
    assert!(files_in(&store.join("tmp")).is_empty());
    refused(
        &s3api(
            &s3,
            "bobkey",
            &["head-object", "--bucket", BUCKET, "--key", key],
        ),
        "404",
    );

    // The right digests are accepted (and the CLI's own CRC32 too).
    let sha256 = shell(&format!(
        "openssl dgst -sha256 -binary '{}' | base64",
        body.display()
    ));
    let stored = ok_json(&put(&[
        "--content-md5",
        &content_md5(&body),
        "--checksum-sha256",
        &sha256,
    ]));
    assert_eq!(stored["ChecksumSHA256"], sha256.as_str(), "{stored}");

    // A part: the same checks; the upload keeps no part and no partial file.
    let big = "bobs_burgers/g/parts.bin";
    let created = ok_json(&s3api(
        &s3,
        "bobkey",
        &["create-multipart-upload", "--bucket", BUCKET, "--key", big],
    ));
    let id = created["UploadId"].as_str().unwrap().to_string();
    let part = |extra: &[&str]| {
        let mut args = vec![
            "upload-part",
            "--bucket",
            BUCKET,
            "--key",
            big,
            "--upload-id",
            &id,
            "--part-number",
            "1",
            "--body",
            body.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        s3api(&s3, "bobkey", &args)
    };
    refused(&part(&["--content-md5", &others_md5]), "BadDigest");
    refused(&part(&["--content-md5", "%%%%"]), "InvalidDigest");
    refused(&part(&["--checksum-sha256", &zeros(32)]), "BadDigest");
    refused(&part(&["--checksum-crc32", &zeros(4)]), "BadDigest");
    assert_eq!(
        files_in(&store.join("uploads").join(&id)),
        ["upload.json"],
        "no part, nothing partial"
    );
    let listed = ok_json(&s3api(
        &s3,
        "bobkey",
        &[
            "list-parts",
            "--bucket",
            BUCKET,
            "--key",
            big,
            "--upload-id",
            &id,
        ],
    ));
    assert!(
        listed["Parts"].as_array().is_none_or(Vec::is_empty),
        "{listed}"
    );
    ok_json(&part(&["--content-md5", &content_md5(&body)]));
}

fn create_upload(s3: &str, who: &str, key: &str) -> Output {
    s3api(
        s3,
        who,
        &["create-multipart-upload", "--bucket", BUCKET, "--key", key],
    )
}

fn upload_part(s3: &str, key: &str, id: &str, number: u32, file: &Path) -> String {
    let out = ok_json(&s3api(
        s3,
        "bobkey",
        &[
            "upload-part",
            "--bucket",
            BUCKET,
            "--key",
            key,
            "--upload-id",
            id,
            "--part-number",
            &number.to_string(),
            "--body",
            file.to_str().unwrap(),
        ],
    ));
    out["ETag"].as_str().unwrap().to_string()
}

fn complete(s3: &str, dir: &Path, key: &str, id: &str, etags: &[String]) -> Output {
    let parts: Vec<Value> = etags
        .iter()
        .enumerate()
        .map(|(i, etag)| serde_json::json!({"ETag": etag, "PartNumber": i + 1}))
        .collect();
    let file = dir.join("parts.json");
    std::fs::write(&file, serde_json::json!({ "Parts": parts }).to_string()).unwrap();
    s3api(
        s3,
        "bobkey",
        &[
            "complete-multipart-upload",
            "--bucket",
            BUCKET,
            "--key",
            key,
            "--upload-id",
            id,
            "--multipart-upload",
            &format!("file://{}", file.display()),
        ],
    )
}

fn uploads_listed(s3: &str, who: &str, prefix: Option<&str>) -> Output {
    let mut args = vec!["list-multipart-uploads", "--bucket", BUCKET];
    if let Some(prefix) = prefix {
        args.extend(["--prefix", prefix]);
    }
    s3api(s3, who, &args)
}

/// Item 5 and item 10's upload id: every part but the last has 5 MiB; a repeated
/// completion answers as the first; ListParts and ListMultipartUploads work (the latter
/// within the signer's prefix); an access key has at most `max_open_uploads_per_key`
/// open (SlowDown past it); a 5,000-character upload id is NoSuchUpload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_are_held_to_s3s_rules_limited_and_listed() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (_serve, config) = serve(dir.path(), &db, |c| c.s3.max_open_uploads_per_key = 4).await;
    let s3 = s3_url(&config);
    let (small, five_mib) = (dir.path().join("small"), dir.path().join("five_mib"));
    std::fs::write(&small, "5 b\n").unwrap();
    std::fs::write(&five_mib, vec![b'x'; 5 * 1024 * 1024]).unwrap();

    // Parts of 4 bytes are stored, listed, then refused at completion.
    let key = "bobs_burgers/g/tiny_parts.bin";
    let id = ok_json(&create_upload(&s3, "bobkey", key))["UploadId"]
        .as_str()
        .unwrap()
        .to_string();
    let etags: Vec<String> = (1..=3)
        .map(|n| upload_part(&s3, key, &id, n, &small))
        .collect();
    let listed = ok_json(&s3api(
        &s3,
        "bobkey",
        &[
            "list-parts",
            "--bucket",
            BUCKET,
            "--key",
            key,
            "--upload-id",
            &id,
        ],
    ));
    let parts = listed["Parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3, "{listed}");
    assert_eq!(parts[1]["PartNumber"], 2);
    assert_eq!(parts[1]["Size"], 4);
    assert_eq!(parts[1]["ETag"], etags[1].as_str());
    refused(
        &complete(&s3, dir.path(), key, &id, &etags),
        "EntityTooSmall",
    );

    // 5 MiB then a small last part: complete, and complete again with the same answer.
    let etags = vec![
        upload_part(&s3, key, &id, 1, &five_mib),
        upload_part(&s3, key, &id, 2, &small),
    ];
    let first = ok_json(&complete(&s3, dir.path(), key, &id, &etags));
    let again = ok_json(&complete(&s3, dir.path(), key, &id, &etags));
    assert_eq!(first["ETag"], again["ETag"], "{first} {again}");
    assert!(first["ETag"].as_str().unwrap().ends_with("-2\""), "{first}");

    // The limit: 4 open uploads, the fifth is SlowDown until one is aborted.
    let open: Vec<String> = (0..4)
        .map(|i| {
            ok_json(&create_upload(
                &s3,
                "bobkey",
                &format!("bobs_burgers/g/f{i}"),
            ))["UploadId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let over = create_upload(&s3, "bobkey", "bobs_burgers/g/f4");
    refused(&over, "SlowDown");
    assert!(
        text(&over).contains("multipart uploads open"),
        "{}",
        text(&over)
    );
    // Another key is not held back by bob's.
    ok_json(&create_upload(&s3, "accessKey1", "someone_else/g/other"));

    // Listings: bob's under his prefix (not someone_else's), the operator's everything; a
    // listing outside bob's prefix is AccessDenied.
    let bobs = ok_json(&uploads_listed(&s3, "bobkey", Some("bobs_burgers/")));
    let ids: Vec<&str> = bobs["Uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UploadId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        open.iter().map(String::as_str).collect::<Vec<_>>(),
        "{bobs}"
    );
    assert_eq!(bobs["Uploads"][0]["Key"], "bobs_burgers/g/f0");
    assert!(bobs["Uploads"][0]["Initiated"].is_string(), "{bobs}");
    refused(&uploads_listed(&s3, "bobkey", None), "AccessDenied");
    refused(
        &uploads_listed(&s3, "bobkey", Some("someone_else/")),
        "AccessDenied",
    );
    let all = ok_json(&uploads_listed(&s3, "accessKey1", None));
    assert_eq!(all["Uploads"].as_array().unwrap().len(), 5, "{all}");
    let folded = ok_json(&s3api(
        &s3,
        "accessKey1",
        &[
            "list-multipart-uploads",
            "--bucket",
            BUCKET,
            "--delimiter",
            "/",
        ],
    ));
    assert_eq!(
        folded["CommonPrefixes"],
        serde_json::json!([{"Prefix": "bobs_burgers/"}, {"Prefix": "someone_else/"}]),
        "{folded}"
    );

    ok_json(&s3api(
        &s3,
        "bobkey",
        &[
            "abort-multipart-upload",
            "--bucket",
            BUCKET,
            "--key",
            "bobs_burgers/g/f0",
            "--upload-id",
            &open[0],
        ],
    ));
    ok_json(&create_upload(&s3, "bobkey", "bobs_burgers/g/f4"));

    // An upload id no upload could have: NoSuchUpload, not a 500 from the file system.
    let long = "1".repeat(5000);
    for op in ["list-parts", "abort-multipart-upload"] {
        let out = s3api(
            &s3,
            "bobkey",
            &[
                op,
                "--bucket",
                BUCKET,
                "--key",
                "bobs_burgers/g/f1",
                "--upload-id",
                &long,
            ],
        );
        refused(&out, "NoSuchUpload");
    }
    let out = upload_part(&s3, "bobs_burgers/g/f1", &open[1], 1, &small);
    assert!(!out.is_empty());
}

/// A presigned PUT held open: its headers and the first `sent` bytes of a `total`-byte body
/// are sent; the rest waits for the test.
fn held_put(config: &Config, key: &str, total: usize, sent: &[u8]) -> std::net::TcpStream {
    let script = format!(
        "import botocore.session, botocore.config\n\
         c = botocore.session.get_session().create_client('s3', endpoint_url='{}', region_name='us-east-1', \
         aws_access_key_id='bobkey', aws_secret_access_key='bobsecret', \
         config=botocore.config.Config(signature_version='s3v4', s3={{'addressing_style': 'path'}}))\n\
         print(c.generate_presigned_url('put_object', Params={{'Bucket': '{BUCKET}', 'Key': '{key}'}}, ExpiresIn=600))",
        s3_url(config)
    );
    let url = shell(&format!("python3 -c \"{script}\""));
    let target = url.split_once(&config.api.listen).unwrap().1.to_string();
    let mut stream = std::net::TcpStream::connect(&config.api.listen).unwrap();
    write!(
        stream,
        "PUT {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {total}\r\n\r\n",
        config.api.listen
    )
    .unwrap();
    stream.write_all(sent).unwrap();
    stream
}

/// Item 5: abandoned multipart uploads and a killed PUT's bytes are swept while serve
/// runs; an upload still arriving (its last write as old) is never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_uploads_and_killed_puts_are_swept_but_not_an_upload_arriving() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (_serve, config) = serve(dir.path(), &db, |c| c.s3.store_sweep_interval_seconds = 1).await;
    let s3 = s3_url(&config);
    let store = store_dir(&config);
    wait_for("the store's folders", Duration::from_secs(30), || async {
        store.join("blobs").is_dir().then_some(())
    })
    .await;

    let upload_id = |key: &str| {
        ok_json(&create_upload(&s3, "bobkey", key))["UploadId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let abandoned = upload_id("bobs_burgers/g/abandoned");
    let active = upload_id("bobs_burgers/g/active");
    backdate(&store.join("uploads").join(&abandoned), 25 * HOUR);
    let orphan = store.join("blobs").join("00000000000000000001-1-1");
    std::fs::write(&orphan, vec![0u8; 1 << 20]).unwrap();
    backdate(&orphan, 2 * HOUR);

    // An upload arriving slowly: 1.5 MiB of 3 MiB sent, its blob's last write "two hours ago".
    let body: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    let half = 3 << 19;
    let key = "bobs_burgers/g/slow.bin";
    let mut put = held_put(&config, key, body.len(), &body[..half]);
    let arriving = wait_for(
        "the arriving upload's blob",
        Duration::from_secs(30),
        || async {
            files_in(&store.join("blobs"))
                .into_iter()
                .find(|n| n != "00000000000000000001-1-1")
        },
    )
    .await;
    let arriving = store.join("blobs").join(arriving);
    backdate(&arriving, 2 * HOUR);

    wait_for("the sweep", Duration::from_secs(30), || async {
        (!orphan.exists() && !store.join("uploads").join(&abandoned).exists()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(arriving.exists(), "the arriving upload's blob was swept");
    let listed = ok_json(&uploads_listed(&s3, "bobkey", Some("bobs_burgers/")));
    let ids: Vec<&str> = listed["Uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UploadId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [active.as_str()], "{listed}");

    put.write_all(&body[half..]).unwrap();
    let mut answer = [0u8; 12];
    put.read_exact(&mut answer).unwrap();
    assert_eq!(
        &answer,
        b"HTTP/1.1 200",
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let copy = dir.path().join("copy");
    let out = aws(
        &s3,
        &[
            "s3",
            "cp",
            &format!("s3://{BUCKET}/{key}"),
            copy.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        std::fs::read(&copy).unwrap() == body,
        "the object is the whole body"
    );
}

/// Item 6: a presigned URL valid past a week is refused (SigV4's X-Amz-Expires, and the
/// SigV2 URL the aws CLI makes by default); a week is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_url_lives_at_most_a_week() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (_serve, config) = serve(dir.path(), &db, |_| {}).await;
    let s3 = s3_url(&config);
    let file = dir.path().join("shared.txt");
    std::fs::write(&file, "shared\n").unwrap();
    aws_put(&s3, &file, "bobs_burgers/g/shared.txt");
    let v4 = dir.path().join("v4.cfg");
    std::fs::write(&v4, "[default]\ns3 =\n  signature_version = s3v4\n").unwrap();
    let presign = |seconds: &str, config_file: Option<&Path>| {
        let mut cmd = Command::new("aws");
        cmd.args(["--endpoint-url", &s3, "s3", "presign"])
            .arg(format!("s3://{BUCKET}/bobs_burgers/g/shared.txt"))
            .args(["--expires-in", seconds])
            .env("AWS_ACCESS_KEY_ID", "bobkey")
            .env("AWS_SECRET_ACCESS_KEY", "bobsecret")
            .env("AWS_DEFAULT_REGION", "us-east-1");
        if let Some(path) = config_file {
            cmd.env("AWS_CONFIG_FILE", path);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let fetch = |url: &str| {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    for url in [
        presign("604801", Some(&v4)),
        presign("2147483647", Some(&v4)),
        presign("2147483647", None),
    ] {
        let answer = fetch(&url);
        assert!(
            answer.ends_with("\n400") && answer.contains("AuthorizationQueryParametersError"),
            "{url}: {answer}"
        );
    }
    for url in [presign("604800", Some(&v4)), presign("3600", None)] {
        assert_eq!(fetch(&url), "shared\n\n200", "{url}");
    }
}

/// Item 10: keys with bidi controls or line separators are refused with InvalidArgument.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_display_as_another_name_are_refused() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (_serve, config) = serve(dir.path(), &db, |_| {}).await;
    let s3 = s3_url(&config);
    let file = dir.path().join("invoice.txt");
    std::fs::write(&file, "not an exe\n").unwrap();
    for key in [
        "bobs_burgers/g/invoice\u{202E}txt.exe",
        "bobs_burgers/g/a\u{2066}b",
        "bobs_burgers/g/line\u{2028}break",
        "bobs_burgers/g/para\u{2029}break",
        "bobs_burgers/g/mark\u{200F}",
    ] {
        let put = s3api(
            &s3,
            "bobkey",
            &[
                "put-object",
                "--bucket",
                BUCKET,
                "--key",
                key,
                "--body",
                file.to_str().unwrap(),
            ],
        );
        refused(&put, "InvalidArgument");
        assert!(text(&put).contains("bidirectional"), "{}", text(&put));
        refused(&create_upload(&s3, "bobkey", key), "InvalidArgument");
    }
    assert!(files_in(&store_dir(&config).join("blobs")).is_empty());
}

/// Item 11: refused S3 requests (unsigned, a malformed signature, a wrong secret, AccessDenied,
/// NoSuchKey, and SlowDown for a key at its limit of open uploads) are one info line each
/// with the reason, and nothing at ERROR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_logged_at_info_with_their_reason_never_at_error() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let (_serve, config) = serve(dir.path(), &db, |c| {
        c.logging.directory = Some(logs.clone());
        c.s3.max_open_uploads_per_key = 1;
    })
    .await;
    let s3 = s3_url(&config);
    let malformed = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["-H", "Authorization: AWS4-HMAC-SHA256 Credential=nonsense"])
        .arg(format!("{s3}/{BUCKET}/bobs_burgers/g/x"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&malformed.stdout), "400");
    let unsigned = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{s3}/{BUCKET}/bobs_burgers/g/x"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&unsigned.stdout), "403");
    let wrong_secret = aws_as(
        &s3,
        "bobkey",
        "not-the-secret",
        &["s3", "ls", &format!("s3://{BUCKET}/bobs_burgers/")],
    );
    assert!(!wrong_secret.status.success());
    refused(
        &s3api(
            &s3,
            "bobkey",
            &["head-object", "--bucket", BUCKET, "--key", "carol/x"],
        ),
        "403",
    );
    refused(
        &s3api(
            &s3,
            "bobkey",
            &[
                "get-object",
                "--bucket",
                BUCKET,
                "--key",
                "bobs_burgers/none",
                "/dev/null",
            ],
        ),
        "NoSuchKey",
    );
    ok_json(&create_upload(&s3, "bobkey", "bobs_burgers/g/one"));
    refused(
        &create_upload(&s3, "bobkey", "bobs_burgers/g/two"),
        "SlowDown",
    );
    let log = wait_for(
        "the refusals in the log",
        Duration::from_secs(30),
        || async {
            let file = std::fs::read_dir(&logs).ok()?.flatten().next()?.path();
            let log = std::fs::read_to_string(file).ok()?;
            (log.matches("S3 request refused").count() >= 6).then_some(log)
        },
    )
    .await;
    for reason in [
        "InvalidRequest",
        "AccessDenied",
        "SignatureDoesNotMatch",
        "NoSuchKey",
        "SlowDown",
        "Signature is required",
    ] {
        assert!(
            log.lines().any(|l| l.contains(" INFO ")
                && l.contains("S3 request refused")
                && l.contains(reason)),
            "no info line for {reason}:\n{log}"
        );
    }
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "ERROR lines:\n{}", errors.join("\n"));
}

/// Issue 22, item 11: a key that is not `<customer>/<grid>/<file>` of a configured customer
/// would be stored and never become a job; it is refused at once, the message giving the
/// shape and the customers the signer may use. `s3.contract_keys_only = false` takes any key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_outside_the_upload_contract_are_refused_saying_what_is_expected() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (serve_process, config) = serve(dir.path(), &db, |_| {}).await;
    let s3 = s3_url(&config);
    let file = dir.path().join("dump.tar.gz");
    std::fs::write(&file, b"not really an export").unwrap();
    let file = file.to_str().unwrap();
    for (who, key) in [
        ("accessKey1", "dump.tar.gz"),
        ("accessKey1", "carol/fryer_grid/dump.tar.gz"),
        ("bobkey", "bobs_burgers/dump.tar.gz"),
    ] {
        let put = s3api(
            &s3,
            who,
            &[
                "put-object",
                "--bucket",
                BUCKET,
                "--key",
                key,
                "--body",
                file,
            ],
        );
        refused(&put, "InvalidArgument");
        assert!(
            text(&put).contains("<customer>/<grid>/<file>"),
            "{}",
            text(&put)
        );
        let allowed = if who == "bobkey" {
            "one of: bobs_burgers"
        } else {
            "one of: bobs_burgers, someone_else"
        };
        assert!(text(&put).contains(allowed), "{}", text(&put));
        refused(&create_upload(&s3, who, key), "InvalidArgument");
    }
    let listed = s3api(&s3, "accessKey1", &["list-objects-v2", "--bucket", BUCKET]);
    assert!(
        !text(&listed).contains("dump.tar.gz"),
        "nothing stored: {}",
        text(&listed)
    );
    let put = s3api(
        &s3,
        "bobkey",
        &[
            "put-object",
            "--bucket",
            BUCKET,
            "--key",
            "bobs_burgers/fryer_grid/dump.tar.gz",
            "--body",
            file,
        ],
    );
    ok_json(&put);
    drop(serve_process);

    let other = tempfile::tempdir().unwrap();
    let (_serve, config) = serve(other.path(), &db, |c| c.s3.contract_keys_only = false).await;
    let put = s3api(
        &s3_url(&config),
        "accessKey1",
        &[
            "put-object",
            "--bucket",
            BUCKET,
            "--key",
            "dump.tar.gz",
            "--body",
            file,
        ],
    );
    ok_json(&put);
}

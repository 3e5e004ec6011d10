//! The embedded store as the tools customers already have see it (issue 28): rclone from
//! Debian copies a folder twice (the second time nothing), keeps modification times in
//! user metadata and changes them by a copy onto the object itself, and `rclone check`
//! checks every hash, multipart files' too; the aws CLI keeps and reads back headers and
//! metadata, copies, asks conditionally, lists open uploads and their parts, completes
//! twice and reads one part; boto3 does the same from a script. All against the real
//! `dataprocessor serve`.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use serde_json::Value;
use shared_modules::testing::TestDb;
use std::path::Path;
use std::process::{Command, Output};

const BUCKET: &str = "veritas2hview";
const FOLDER: &str = "bobs_burgers/fryer_grid";

/// Debian's rclone (`apt-get install rclone`, scripts/services.sh s3) with a remote `hv`
/// at `endpoint`, configured by environment only; `-v` so that each file it copies, or
/// whose time it changes, is a line.
fn rclone(config_dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    let config = config_dir.join("rclone.conf");
    if !config.exists() {
        std::fs::write(&config, "").unwrap();
    }
    Command::new("rclone")
        .arg("--config")
        .arg(&config)
        .args(["-v", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"])
        .args(args)
        .env("RCLONE_CONFIG_HV_TYPE", "s3")
        .env("RCLONE_CONFIG_HV_PROVIDER", "Other")
        .env("RCLONE_CONFIG_HV_ACCESS_KEY_ID", "accessKey1")
        .env("RCLONE_CONFIG_HV_SECRET_ACCESS_KEY", "verySecretKey1")
        .env("RCLONE_CONFIG_HV_ENDPOINT", endpoint)
        .env("RCLONE_CONFIG_HV_REGION", "us-east-1")
        // The endpoint is plain HTTP: a machine-wide CA bundle for the AWS SDK only makes
        // rclone's SDK refuse to start ("unable to load custom CA bundle").
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("rclone is required: run scripts/services.sh s3")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

fn lines_with(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

/// A folder as a customer has it: small files and two that rclone uploads in parts.
fn customer_folder(dir: &Path) -> std::path::PathBuf {
    let folder = dir.join("exports");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    for i in 0..12 {
        std::fs::write(
            folder.join(format!("report-{i}.txt")),
            format!("report {i}\n").repeat(i + 1),
        )
        .unwrap();
    }
    std::fs::write(folder.join("sub/nested.csv"), "a,b\n1,2\n").unwrap();
    for (name, mib) in [("big-1.bin", 11), ("sub/big-2.bin", 6)] {
        let status = Command::new("head")
            .args(["-c", &(mib * 1024 * 1024 + 17).to_string(), "/dev/urandom"])
            .stdout(std::fs::File::create(folder.join(name)).unwrap())
            .status()
            .unwrap();
        assert!(status.success());
    }
    folder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_copies_a_folder_once_then_nothing_and_checks_every_hash() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = embedded_config(&db.url, dir.path());
    let _serve = start_serve(dir.path(), &config).await;
    let s3 = s3_url(&config);
    let local = customer_folder(dir.path());
    let (source, remote) = (
        local.to_str().unwrap().to_string(),
        format!("hv:{BUCKET}/{FOLDER}"),
    );
    let files = 15;

    let first = ok(rclone(dir.path(), &s3, &["copy", &source, &remote]));
    assert_eq!(lines_with(&first, ": Copied (new)"), files, "{first}");

    // Again: every file is there with its size and modification time: nothing is sent,
    // nothing is changed (before issue 28 every file failed with CopyObject's 501).
    let again = ok(rclone(dir.path(), &s3, &["copy", &source, &remote]));
    assert_eq!(lines_with(&again, ": Copied"), 0, "{again}");
    assert_eq!(
        lines_with(&again, "Updated modification time"),
        0,
        "{again}"
    );
    assert!(!again.contains("ERROR"), "{again}");

    // Every hash is checked, the multipart files' through the MD5 rclone keeps in their
    // metadata.
    let check = ok(rclone(dir.path(), &s3, &["check", &source, &remote]));
    assert!(check.contains("0 differences found"), "{check}");
    assert!(
        check.contains(&format!("{files} matching files")),
        "{check}"
    );
    assert!(!check.contains("hashes could not be checked"), "{check}");

    // A file touched (same bytes, new time): rclone changes the time in place with a copy
    // of the object onto itself, and the next run finds nothing to do.
    let touched = local.join("big-1.bin");
    std::fs::File::options()
        .write(true)
        .open(&touched)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(86_400))
        .unwrap();
    let retimed = ok(rclone(dir.path(), &s3, &["copy", &source, &remote]));
    assert_eq!(lines_with(&retimed, ": Copied"), 0, "{retimed}");
    assert_eq!(
        lines_with(&retimed, "Updated modification time in destination"),
        1,
        "{retimed}"
    );
    let calm = ok(rclone(dir.path(), &s3, &["copy", &source, &remote]));
    assert_eq!(lines_with(&calm, "Updated modification time"), 0, "{calm}");

    // sync: a file gone from the folder goes from the bucket; one changed is sent again.
    std::fs::remove_file(local.join("report-3.txt")).unwrap();
    std::fs::write(local.join("report-4.txt"), "changed\n").unwrap();
    let synced = ok(rclone(dir.path(), &s3, &["sync", &source, &remote]));
    assert_eq!(lines_with(&synced, ": Deleted"), 1, "{synced}");
    assert_eq!(
        lines_with(&synced, ": Copied (replaced existing)"),
        1,
        "{synced}"
    );
    let resynced = ok(rclone(dir.path(), &s3, &["sync", &source, &remote]));
    assert_eq!(lines_with(&resynced, ": Copied"), 0, "{resynced}");
    assert_eq!(lines_with(&resynced, ": Deleted"), 0, "{resynced}");
    let check = ok(rclone(dir.path(), &s3, &["check", &source, &remote]));
    assert!(check.contains("0 differences found"), "{check}");
    assert!(
        check.contains(&format!("{} matching files", files - 1)),
        "{check}"
    );
}

fn s3api(endpoint: &str, args: &[&str]) -> Output {
    let mut all = vec!["s3api"];
    all.extend_from_slice(args);
    aws(endpoint, &all)
}

fn json(out: Output) -> Value {
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The aws CLI's refusal: it failed, naming `code` (an S3 code, or the bare status of a
/// HEAD, which has no body).
fn refused(out: Output, code: &str) {
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(code), "wanted {code}: {}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_keeps_metadata_copies_and_asks_conditionally() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = embedded_config(&db.url, dir.path());
    let _serve = start_serve(dir.path(), &config).await;
    let s3 = s3_url(&config);
    let file = dir.path().join("a.csv");
    std::fs::write(&file, "a,b\n1,2\n").unwrap();
    let key = format!("{FOLDER}/a.csv");
    let body = file.to_str().unwrap();
    let base = ["--bucket", BUCKET, "--key", key.as_str()];

    let put = json(s3api(
        &s3,
        &[
            &["put-object"][..],
            &base[..],
            &["--body", body, "--content-type", "text/csv"],
            &[
                "--cache-control",
                "no-cache",
                "--content-disposition",
                "attachment",
            ],
            &["--content-encoding", "identity", "--content-language", "en"],
            &["--expires", "2037-10-21T07:28:00Z"],
            &["--metadata", "mtime=1700000000.5,Source=desktop"],
        ]
        .concat(),
    ));
    let etag = put["ETag"].as_str().unwrap().to_string();
    let head = json(s3api(&s3, &[&["head-object"], &base[..]].concat()));
    assert_eq!(head["ContentType"], "text/csv", "{head}");
    assert_eq!(head["CacheControl"], "no-cache", "{head}");
    assert_eq!(head["ContentDisposition"], "attachment", "{head}");
    assert_eq!(head["ContentEncoding"], "identity", "{head}");
    assert_eq!(head["ContentLanguage"], "en", "{head}");
    assert!(head["Expires"].as_str().unwrap().contains("2037"), "{head}");
    assert_eq!(head["Metadata"]["mtime"], "1700000000.5", "{head}");
    assert_eq!(head["Metadata"]["source"], "desktop", "{head}");
    let out = dir.path().join("out");
    let got = json(s3api(
        &s3,
        &[&["get-object"], &base[..], &[out.to_str().unwrap()]].concat(),
    ));
    assert_eq!(got["Metadata"]["mtime"], "1700000000.5", "{got}");
    assert_eq!(got["ContentType"], "text/csv", "{got}");

    // CopyObject: to another key with the metadata (COPY), onto itself with new metadata
    // (REPLACE); onto itself unchanged is S3's InvalidRequest.
    let copied_key = format!("{FOLDER}/copy.csv");
    let source = format!("{BUCKET}/{key}");
    let copy = json(s3api(
        &s3,
        &[
            "copy-object",
            "--bucket",
            BUCKET,
            "--key",
            &copied_key,
            "--copy-source",
            &source,
        ],
    ));
    assert_eq!(copy["CopyObjectResult"]["ETag"], etag.as_str(), "{copy}");
    let head = json(s3api(
        &s3,
        &["head-object", "--bucket", BUCKET, "--key", &copied_key],
    ));
    assert_eq!(head["Metadata"]["source"], "desktop", "{head}");
    assert_eq!(head["ContentType"], "text/csv", "{head}");
    json(s3api(
        &s3,
        &[
            &["copy-object", "--copy-source", &source],
            &base[..],
            &[
                "--metadata-directive",
                "REPLACE",
                "--metadata",
                "mtime=1800000000",
            ],
            &["--content-type", "application/octet-stream"],
        ]
        .concat(),
    ));
    let head = json(s3api(&s3, &[&["head-object"], &base[..]].concat()));
    assert_eq!(
        head["Metadata"],
        serde_json::json!({"mtime": "1800000000"}),
        "{head}"
    );
    assert_eq!(head["ContentType"], "application/octet-stream", "{head}");
    assert_eq!(head["ETag"], etag.as_str(), "the same bytes");
    refused(
        s3api(
            &s3,
            &[&["copy-object", "--copy-source", &source], &base[..]].concat(),
        ),
        "InvalidRequest",
    );
    refused(
        s3api(
            &s3,
            &[
                &["copy-object", "--copy-source", &source][..],
                &[
                    "--bucket",
                    BUCKET,
                    "--key",
                    "bobs_burgers/fryer_grid/c2.csv",
                ],
                &["--copy-source-if-match", "\"0000\""],
            ]
            .concat(),
        ),
        "PreconditionFailed",
    );

    // Reads: If-None-Match and If-Modified-Since answer 304, If-Match and
    // If-Unmodified-Since 412.
    let (past, future) = ("2001-01-01T00:00:00Z", "2099-01-01T00:00:00Z");
    let head_if = |args: &[&str]| s3api(&s3, &[&["head-object"], &base[..], args].concat());
    refused(head_if(&["--if-none-match", &etag]), "304");
    refused(head_if(&["--if-modified-since", future]), "304");
    refused(head_if(&["--if-match", "\"0000\""]), "412");
    refused(head_if(&["--if-unmodified-since", past]), "412");
    json(head_if(&["--if-none-match", "\"0000\""]));
    json(head_if(&["--if-modified-since", past]));
    json(head_if(&[
        "--if-match",
        &etag,
        "--if-unmodified-since",
        past,
    ]));
    let get_if = |args: &[&str]| {
        s3api(
            &s3,
            &[&["get-object"], &base[..], args, &[out.to_str().unwrap()]].concat(),
        )
    };
    refused(get_if(&["--if-none-match", &etag]), "304");
    refused(
        get_if(&["--if-unmodified-since", past]),
        "PreconditionFailed",
    );

    // Writes: PUT If-None-Match: * on an existing key, PUT and DELETE with a stale If-Match.
    let put_if = |args: &[&str]| {
        s3api(
            &s3,
            &[&["put-object"], &base[..], &["--body", body], args].concat(),
        )
    };
    refused(put_if(&["--if-none-match", "*"]), "PreconditionFailed");
    refused(put_if(&["--if-match", "\"0000\""]), "PreconditionFailed");
    json(put_if(&["--if-match", &etag]));
    let fresh = format!("{FOLDER}/fresh.csv");
    json(s3api(
        &s3,
        &[
            "put-object",
            "--bucket",
            BUCKET,
            "--key",
            &fresh,
            "--body",
            body,
            "--if-none-match",
            "*",
        ],
    ));
    refused(
        s3api(
            &s3,
            &[&["delete-object"], &base[..], &["--if-match", "\"0000\""]].concat(),
        ),
        "PreconditionFailed",
    );
    json(s3api(&s3, &[&["head-object"], &base[..]].concat()));
    s3api(
        &s3,
        &[&["delete-object"], &base[..], &["--if-match", &etag]].concat(),
    );
    refused(s3api(&s3, &[&["head-object"], &base[..]].concat()), "404");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_lists_open_uploads_and_parts_completes_twice_and_reads_a_part() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = embedded_config(&db.url, dir.path());
    let _serve = start_serve(dir.path(), &config).await;
    let s3 = s3_url(&config);
    let key = format!("{FOLDER}/parts.bin");
    let base = ["--bucket", BUCKET, "--key", key.as_str()];
    let (first, second) = (dir.path().join("p1"), dir.path().join("p2"));
    std::fs::write(&first, vec![b'1'; 5 * 1024 * 1024]).unwrap();
    std::fs::write(&second, b"the last part").unwrap();

    let created = json(s3api(
        &s3,
        &[
            &["create-multipart-upload"],
            &base[..],
            &[
                "--metadata",
                "md5chksum=abc",
                "--content-type",
                "application/x-test",
            ],
        ]
        .concat(),
    ));
    let id = created["UploadId"].as_str().unwrap().to_string();
    let with_id = [&base[..], &["--upload-id", id.as_str()]].concat();
    let mut etags = vec![];
    for (n, path) in [(1, &first), (2, &second)] {
        let part = json(s3api(
            &s3,
            &[
                &["upload-part"],
                &with_id[..],
                &[
                    "--part-number",
                    &n.to_string(),
                    "--body",
                    path.to_str().unwrap(),
                ],
            ]
            .concat(),
        ));
        etags.push(part["ETag"].as_str().unwrap().to_string());
    }
    let uploads = json(s3api(
        &s3,
        &[
            "list-multipart-uploads",
            "--bucket",
            BUCKET,
            "--prefix",
            FOLDER,
        ],
    ));
    assert_eq!(uploads["Uploads"][0]["UploadId"], id.as_str(), "{uploads}");
    assert_eq!(uploads["Uploads"][0]["Key"], key.as_str(), "{uploads}");
    let parts = json(s3api(&s3, &[&["list-parts"], &with_id[..]].concat()));
    assert_eq!(parts["Parts"].as_array().unwrap().len(), 2, "{parts}");
    assert_eq!(parts["Parts"][1]["Size"], 13, "{parts}");

    let listing = serde_json::json!({"Parts": [
        {"PartNumber": 1, "ETag": etags[0]},
        {"PartNumber": 2, "ETag": etags[1]},
    ]});
    let listing = listing.to_string();
    let complete = [
        &["complete-multipart-upload"],
        &with_id[..],
        &["--multipart-upload", &listing],
    ]
    .concat();
    let done = json(s3api(&s3, &complete));
    // The answer was lost, the client completes again: the same answer.
    let again = json(s3api(&s3, &complete));
    assert_eq!(done["ETag"], again["ETag"], "{done} {again}");
    assert!(done["ETag"].as_str().unwrap().ends_with("-2\""), "{done}");
    let uploads = json(s3api(&s3, &["list-multipart-uploads", "--bucket", BUCKET]));
    assert!(uploads["Uploads"].is_null(), "{uploads}");

    let head = json(s3api(&s3, &[&["head-object"], &base[..]].concat()));
    assert_eq!(head["Metadata"]["md5chksum"], "abc", "{head}");
    assert_eq!(head["ContentType"], "application/x-test", "{head}");
    let part = json(s3api(
        &s3,
        &[&["head-object"], &base[..], &["--part-number", "2"]].concat(),
    ));
    assert_eq!(part["PartsCount"], 2, "{part}");
    assert_eq!(part["ContentLength"], 13, "{part}");
    let out = dir.path().join("out");
    let got = json(s3api(
        &s3,
        &[
            &["get-object"],
            &base[..],
            &["--part-number", "2", out.to_str().unwrap()],
        ]
        .concat(),
    ));
    assert_eq!(got["PartsCount"], 2, "{got}");
    assert_eq!(std::fs::read(&out).unwrap(), b"the last part");
    refused(
        s3api(
            &s3,
            &[
                &["get-object"],
                &base[..],
                &["--part-number", "3", out.to_str().unwrap()],
            ]
            .concat(),
        ),
        "InvalidPartNumber",
    );
}

/// boto3 (as customers' scripts use it): a multipart upload_file with metadata, its
/// metadata and parts read back, a copy, conditional requests as ClientErrors.
const BOTO3_SCRIPT: &str = r#"
import boto3, json, sys
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
endpoint, path, key = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="bobkey", aws_secret_access_key="bobsecret")
config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
s3.upload_file(path, "veritas2hview", key, Config=config,
               ExtraArgs={"Metadata": {"origin": "boto3"}, "ContentType": "application/gzip"})
out = {}
head = s3.head_object(Bucket="veritas2hview", Key=key, PartNumber=1)
out["parts"] = head.get("PartsCount")
out["metadata"] = head["Metadata"]
out["type"] = head["ContentType"]
copy = key + ".copy"
s3.copy_object(Bucket="veritas2hview", Key=copy, CopySource={"Bucket": "veritas2hview", "Key": key})
out["copy_metadata"] = s3.head_object(Bucket="veritas2hview", Key=copy)["Metadata"]
def status(call):
    try:
        call()
        return 200
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]
etag = head["ETag"]
out["if_none_match"] = status(lambda: s3.get_object(Bucket="veritas2hview", Key=key, IfNoneMatch=etag))
out["put_if_none_match"] = status(lambda: s3.put_object(Bucket="veritas2hview", Key=key, Body=b"x", IfNoneMatch="*"))
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_uploads_in_parts_with_metadata_copies_and_asks_conditionally() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = embedded_config(&db.url, dir.path());
    let _serve = start_serve(dir.path(), &config).await;
    let file = dir.path().join("dump.bin");
    std::fs::write(&file, vec![7u8; 12 * 1024 * 1024]).unwrap();
    let out = Command::new("python3")
        .args(["-c", BOTO3_SCRIPT, &s3_url(&config), file.to_str().unwrap()])
        .arg(format!("{FOLDER}/dump.bin"))
        .output()
        .expect("python3 with boto3 is required: run scripts/services.sh s3");
    let answer = json(out);
    assert_eq!(answer["parts"], 3, "{answer}");
    assert_eq!(answer["metadata"]["origin"], "boto3", "{answer}");
    assert_eq!(answer["type"], "application/gzip", "{answer}");
    assert_eq!(answer["copy_metadata"]["origin"], "boto3", "{answer}");
    assert_eq!(answer["if_none_match"], 304, "{answer}");
    assert_eq!(answer["put_if_none_match"], 412, "{answer}");
}

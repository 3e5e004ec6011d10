//! Keys and listings as S3 has them (issue 28, items 4, 5 and 6), through the aws CLI
//! against the real `serve`: a folder made the way desktop tools make one (S3 Browser,
//! Cyberduck, WinSCP: a zero-byte object whose key ends in `/`) is stored and listed but
//! never becomes a job nor a reconciliation warning; `foo` and `foo/bar` live side by side,
//! as do `a//b` keys; listings encode and page as S3's; errors name their request.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use serde_json::Value;
use shared_modules::testing::{TestDb, wait_for};
use std::process::{Command, Output};
use std::time::Duration;

const BUCKET: &str = "veritas2hview";
const FOLDER: &str = "bobs_burgers/fryer_grid";

fn json(out: Output) -> Value {
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn s3api(endpoint: &str, args: &[&str]) -> Output {
    let mut all = vec!["s3api"];
    all.extend_from_slice(args);
    aws(endpoint, &all)
}

/// The aws CLI's refusal: it failed, naming `code`.
fn refused(out: Output, code: &str) {
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(code), "wanted {code}: {}", text(&out));
}

/// `put-object` of `body` (a file; None: no body, as a folder is made) to `key`.
fn put(s3: &str, key: &str, body: Option<&std::path::Path>) -> Output {
    let mut args = vec!["s3api", "put-object", "--bucket", BUCKET, "--key", key];
    if let Some(body) = body {
        args.extend(["--body", body.to_str().unwrap()]);
    }
    aws(s3, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_made_by_desktop_tools_are_objects_never_jobs_and_keys_may_nest() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = embedded_config(&db.url, dir.path());
    // Every object without a job is overdue at once, and looked for every second: a
    // folder marker taken for an upload would be warned about within a second.
    config.s3.untriggered_after_minutes = 0;
    config.s3.reconcile_interval_seconds = 1;
    config.api.metrics_public = true;
    config.logging.directory = Some(dir.path().join("logs"));
    let _serve = start_serve(dir.path(), &config).await;
    let (s3, api) = (s3_url(&config), api_url(&config));

    for folder in [
        "bobs_burgers/",
        "bobs_burgers/fryer_grid/",
        "bobs_burgers/fryer_grid/2026/",
    ] {
        json(put(&s3, folder, None));
    }
    // A folder of a customer not configured is no more taken than a file there.
    let other = put(&s3, "carol/", None);
    assert!(text(&other).contains("InvalidArgument"), "{}", text(&other));

    // `foo` beside `foo/bar`, in either order, and an empty part.
    let small = dir.path().join("small.txt");
    std::fs::write(&small, "x").unwrap();
    for key in [
        "bobs_burgers/fryer_grid/foo/bar",
        "bobs_burgers/fryer_grid/foo",
        "bobs_burgers/fryer_grid/baz",
        "bobs_burgers/fryer_grid/baz/qux",
        "bobs_burgers/fryer_grid//x",
    ] {
        json(put(&s3, key, Some(&small)));
    }
    let listed = json(aws(
        &s3,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            BUCKET,
            "--prefix",
            "bobs_burgers/fryer_grid/",
            "--delimiter",
            "/",
        ],
    ));
    let keys: Vec<&str> = listed["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "bobs_burgers/fryer_grid/",
            "bobs_burgers/fryer_grid/baz",
            "bobs_burgers/fryer_grid/foo"
        ],
        "{listed}"
    );
    let prefixes: Vec<&str> = listed["CommonPrefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Prefix"].as_str().unwrap())
        .collect();
    assert_eq!(
        prefixes,
        [
            "bobs_burgers/fryer_grid//",
            "bobs_burgers/fryer_grid/2026/",
            "bobs_burgers/fryer_grid/baz/",
            "bobs_burgers/fryer_grid/foo/"
        ],
        "{listed}"
    );
    let folder = json(aws(
        &s3,
        &[
            "s3api",
            "head-object",
            "--bucket",
            BUCKET,
            "--key",
            "bobs_burgers/fryer_grid/",
        ],
    ));
    assert_eq!(folder["ContentLength"], 0, "{folder}");
    let out = dir.path().join("out");
    json(aws(
        &s3,
        &[
            "s3api",
            "get-object",
            "--bucket",
            BUCKET,
            "--key",
            "bobs_burgers/fryer_grid/foo/bar",
            out.to_str().unwrap(),
        ],
    ));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "x");

    // An object no trigger can make a job of (as a 1.0.0 store may hold: put beside serve,
    // announced to nobody), and a contract key whose empty part the trigger refuses: the
    // two are reported, each once. Folders counted too would make the gauge 5.
    let store = shared_modules::object_store::DiskStore::new(&config.paths.root, BUCKET);
    let mut blob = store.new_blob().unwrap();
    blob.write(b"loose").unwrap();
    store
        .commit("loose.txt", blob.finish().unwrap(), Default::default())
        .unwrap();
    let metrics = format!("http://{}/metrics", config.api.listen);
    wait_for(
        "reconciliation to count the two objects without a job",
        Duration::from_secs(30),
        || async {
            let out = Command::new("curl").args(["-s", &metrics]).output().ok()?;
            String::from_utf8_lossy(&out.stdout)
                .contains("dataprocessor_uploads_untriggered 2")
                .then_some(())
        },
    )
    .await;
    let logs = dir.path().join("logs");
    logged(&logs, "upload never triggered", "loose.txt").await;
    let log_file = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let log = std::fs::read_to_string(log_file).unwrap();
    for line in log.lines().filter(|l| l.contains("WARN")) {
        assert!(
            !line.contains("bobs_burgers/ ")
                && !line.contains("fryer_grid/ ")
                && !line.contains("2026/"),
            "a folder warned about: {line}"
        );
    }
    let jobs = api_get(&format!("{api}/jobs?type=veritas2hview"));
    let paths: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["metadata"]["key"].as_str())
        .collect();
    assert!(paths.contains(&"bobs_burgers/fryer_grid/foo/bar"), "{jobs}");
    assert!(paths.iter().all(|p| !p.ends_with('/')), "{jobs}");
}

/// Listings as the aws CLI reads them (it asks `encoding-type=url` and decodes: a key with
/// `+` and a space comes back as itself only when the server encoded it; paging one entry
/// at a time through v1 folds each folder once); errors name their request in the XML and
/// in `x-amz-request-id`; DeleteObjects of more than 1,000 keys is MalformedXML; a
/// presigned URL with a negative expiry is AccessDenied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_errors_and_limits_as_s3_gives_them() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = embedded_config(&db.url, dir.path());
    let _serve = start_serve(dir.path(), &config).await;
    let s3 = s3_url(&config);
    let file = dir.path().join("f");
    std::fs::write(&file, "f").unwrap();
    for name in ["a", "b/1", "b/2", "c", "plus+and space"] {
        aws_put(&s3, &file, &format!("{FOLDER}/{name}"));
    }
    let listed = json(s3api(
        &s3,
        &[
            "list-objects",
            "--bucket",
            BUCKET,
            "--prefix",
            &format!("{FOLDER}/"),
            "--delimiter",
            "/",
            "--page-size",
            "1",
        ],
    ));
    let keys: Vec<&str> = listed["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    let names: Vec<String> = ["a", "c", "plus+and space"]
        .iter()
        .map(|n| format!("{FOLDER}/{n}"))
        .collect();
    assert_eq!(keys, names, "{listed}");
    assert_eq!(
        listed["CommonPrefixes"],
        serde_json::json!([{"Prefix": format!("{FOLDER}/b/")}]),
        "{listed}"
    );
    let v2 = json(s3api(
        &s3,
        &[
            "list-objects-v2",
            "--bucket",
            BUCKET,
            "--prefix",
            &format!("{FOLDER}/plus"),
            "--fetch-owner",
        ],
    ));
    assert_eq!(v2["Contents"][0]["Key"], names[2].as_str(), "{v2}");
    assert_eq!(v2["Contents"][0]["Owner"]["ID"], "hview", "{v2}");

    // The XML as sent: names encoded when asked (botocore decodes only what is marked
    // encoded), v1's Marker even when empty, no empty delimiter echoed.
    let v2 = signed_get(
        &s3,
        &format!("{BUCKET}?encoding-type=url&list-type=2&prefix=bobs_burgers%2Ffryer_grid%2Fplus"),
    );
    assert!(
        v2.contains("<Key>bobs_burgers/fryer_grid/plus%2Band%20space</Key>"),
        "{v2}"
    );
    assert!(v2.contains("<EncodingType>url</EncodingType>"), "{v2}");
    let v1 = signed_get(
        &s3,
        &format!("{BUCKET}?delimiter=&prefix=bobs_burgers%2Ffryer_grid%2Fa"),
    );
    assert!(
        v1.contains("<Marker></Marker>") || v1.contains("<Marker/>"),
        "{v1}"
    );
    assert!(!v1.contains("<Delimiter>"), "{v1}");

    // An error's RequestId is the header's.
    let answer = signed_get(&s3, &format!("{BUCKET}/{FOLDER}/missing"));
    assert!(answer.contains("<Code>NoSuchKey</Code>"), "{answer}");
    let header = answer
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-request-id: "))
        .unwrap_or_else(|| panic!("no x-amz-request-id: {answer}"))
        .trim();
    assert!(
        answer.contains(&format!("<RequestId>{header}</RequestId>")),
        "{answer}"
    );

    let many: Vec<Value> = (0..1001)
        .map(|i| serde_json::json!({"Key": format!("{FOLDER}/k{i}")}))
        .collect();
    let request = dir.path().join("delete.json");
    std::fs::write(&request, serde_json::json!({"Objects": many}).to_string()).unwrap();
    refused(
        s3api(
            &s3,
            &[
                "delete-objects",
                "--bucket",
                BUCKET,
                "--delete",
                &format!("file://{}", request.display()),
            ],
        ),
        "MalformedXML",
    );

    // SigV4, as boto3 presigns.
    let script = format!(
        "import boto3, botocore.config\n\
         c = boto3.client('s3', endpoint_url='{s3}', region_name='us-east-1', aws_access_key_id='accessKey1', \
         aws_secret_access_key='verySecretKey1', config=botocore.config.Config(signature_version='s3v4'))\n\
         print(c.generate_presigned_url('get_object', Params={{'Bucket': '{BUCKET}', 'Key': '{FOLDER}/a'}}, ExpiresIn=60))"
    );
    let presigned = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let url = String::from_utf8_lossy(&presigned.stdout)
        .trim()
        .to_string();
    assert!(url.contains("X-Amz-Expires=60"), "{url}");
    let negative = url.replace("X-Amz-Expires=60", "X-Amz-Expires=-60");
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", &negative])
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(answer.ends_with("\n403"), "{answer}");
    assert!(answer.contains("<Code>AccessDenied</Code>"), "{answer}");
}

/// A GET of `path` (below the endpoint) signed by curl itself: the answer as sent, headers
/// and body.
fn signed_get(s3: &str, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-i", "--aws-sigv4", "aws:amz:us-east-1:s3"])
        .args(["--user", "accessKey1:verySecretKey1"])
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .arg(format!("{s3}/{path}"))
        .output()
        .expect("curl is required");
    String::from_utf8_lossy(&out.stdout).to_string()
}

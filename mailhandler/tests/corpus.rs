//! Every `.eml` of the public corpus that ships with the mail-parser crate, plus truncated
//! and mangled variants, through the real mailhandler: never a panic, always exit 0 (stored
//! or quarantined), raw bytes preserved.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use shared_modules::testing::TestDb;
use std::path::{Path, PathBuf};

/// `resources/eml` of the mail-parser package this workspace builds with.
fn corpus_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let package = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mail-parser")
        .expect("mail-parser in the dependency graph");
    let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
    manifest.parent().unwrap().join("resources/eml")
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(eml_files(&path));
        } else if path.extension().is_some_and(|e| e == "eml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn variants(raw: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let text = String::from_utf8_lossy(raw);
    vec![
        ("whole", raw.to_vec()),
        ("truncated", raw[..raw.len() / 2].to_vec()),
        (
            "no boundaries",
            text.replace("boundary=", "boundary-gone=").into_bytes(),
        ),
        ("LF only", text.replace("\r\n", "\n").into_bytes()),
    ]
}

fn hostile_mails() -> Vec<(&'static str, Vec<u8>)> {
    let head = "From: <a@bobsburgers.example>\r\nTo: bobs_burgers@ingest.hview.example\r\n";
    let mut deep =
        format!("{head}Subject: deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
    for level in 1..300 {
        deep.push_str(&format!(
            "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n",
            level - 1
        ));
    }
    deep.push_str("--b299\r\nContent-Type: text/plain\r\n\r\nbottom\r\n");
    let huge_header = format!("{head}Subject: {}\r\n\r\nbody\r\n", "S".repeat(2_000_000));
    let many_headers = format!(
        "{head}{}Subject: many\r\n\r\nbody\r\n",
        "X-H: v\r\n".repeat(100_000)
    );
    vec![
        ("deep nesting", deep.into_bytes()),
        ("huge header", huge_header.into_bytes()),
        ("many headers", many_headers.into_bytes()),
        ("empty", Vec::new()),
        ("binary", (0..=255u8).cycle().take(100_000).collect()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_mail_and_variant_is_stored_or_quarantined_with_exit_0() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let config_path = write_config(dir.path(), &cfg);
    let files = eml_files(&corpus_dir());
    assert!(
        files.len() >= 50,
        "expected the mail-parser corpus, found {} files",
        files.len()
    );

    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for file in &files {
        for (variant, bytes) in variants(&std::fs::read(file).unwrap()) {
            cases.push((format!("{} ({variant})", file.display()), bytes));
        }
    }
    cases.extend(
        hostile_mails()
            .into_iter()
            .map(|(name, bytes)| (name.to_string(), bytes)),
    );

    for (name, bytes) in &cases {
        let out = run(&config_path, "corpus@bobsburgers.example", RECIPIENT, bytes);
        assert_eq!(
            out.code, 0,
            "{name}: exit {} stdout {:?}",
            out.code, out.stdout
        );
        assert!(
            out.stdout.lines().count() <= 1 && out.stderr.is_empty(),
            "{name}: {:?} {:?}",
            out.stdout,
            out.stderr
        );
        ingest(&cfg).await;
        let job = job_of(&cfg, RECIPIENT, bytes).await;
        let stored = Path::new(job.inbox_path.as_deref().unwrap()).join("message.eml");
        assert_eq!(
            &std::fs::read(&stored).unwrap(),
            bytes,
            "{name}: raw bytes preserved"
        );
    }
    eprintln!("{} corpus files, {} deliveries", files.len(), cases.len());
}

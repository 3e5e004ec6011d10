//! Golden tests: every `.eml` in a module's `fixtures/` is stored as the mailhandler stores
//! it, then read by the module; the outcome must equal the `.json` beside it, with LF and
//! with CRLF line endings. Fails when no fixture ran. `UPDATE_GOLDEN=1` rewrites the `.json`.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use modules::hydrastor::{alert, system_report};
use serde_json::{Value, json};
use std::path::Path;

/// Writes the parts of `raw` into a fresh directory, as the mailhandler does.
fn store_like_mailhandler(raw: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let extracted = shared_modules::mail::parts::extract(raw).expect("fixture parses as mail");
    std::fs::write(dir.path().join("message.eml"), raw).unwrap();
    for part in extracted.parts {
        let path = dir.path().join(&part.relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, part.bytes).unwrap();
    }
    let meta = json!({ "attachments": extracted.attachments });
    std::fs::write(dir.path().join("meta.json"), meta.to_string()).unwrap();
    dir
}

fn crlf(raw: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(raw)
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

fn run_fixtures(module: &str, read: impl Fn(&Path) -> Value) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("hydrastor")
        .join(module)
        .join("fixtures");
    let fixtures = shared_modules::testing::fixture_files(&dir, "eml");
    let mut failures = Vec::new();
    for eml in &fixtures {
        let raw = std::fs::read(eml).unwrap();
        let lf = read(store_like_mailhandler(&raw).path());
        let with_crlf = read(store_like_mailhandler(&crlf(&raw)).path());
        let expected_path = eml.with_extension("json");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(
                &expected_path,
                serde_json::to_string_pretty(&lf).unwrap() + "\n",
            )
            .unwrap();
        }
        let expected: Value = std::fs::read_to_string(&expected_path)
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap_or_else(|_| {
                panic!(
                    "{} has no expected {}",
                    eml.display(),
                    expected_path.display()
                )
            });
        let name = eml.file_name().unwrap().to_string_lossy();
        if lf != expected {
            failures.push(format!("{name} (LF):\n got {lf}\nwant {expected}"));
        }
        if with_crlf != expected {
            failures.push(format!("{name} (CRLF):\n got {with_crlf}\nwant {expected}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    fixtures.len()
}

fn outcome<T: serde::Serialize>(result: Result<T, String>) -> Value {
    match result {
        Ok(read) => json!({ "ok": read }),
        Err(error) => json!({ "error": error }),
    }
}

#[test]
fn system_report_fixtures_parse_as_expected() {
    let ran = run_fixtures("system_report", |dir| {
        outcome(system_report::read(dir, "subject_grid"))
    });
    assert!(ran >= 10, "only {ran} system report fixtures ran");
}

#[test]
fn alert_fixtures_parse_as_expected() {
    let ran = run_fixtures("alert", |dir| outcome(alert::read(dir)));
    assert!(ran >= 8, "only {ran} alert fixtures ran");
}

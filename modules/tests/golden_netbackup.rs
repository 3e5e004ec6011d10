//! Golden tests for the NetBackup exports: each fixture file is recognised and read as the
//! job would read it; the recognised format, the record counts, the unreadable records and
//! every row must equal the `.json` beside it, with LF and with CRLF.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use modules::hydrastor::veritas2hview::{reader, sniff};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

fn read(bytes: &[u8], name: &str) -> Value {
    let text = String::from_utf8_lossy(bytes);
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let Some(format) = sniff::sniff(first) else {
        return json!({ "skipped": "not a recognised NetBackup export" });
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(1000);
    let report = reader::read(std::io::Cursor::new(bytes.to_vec()), name, format, tx);
    let mut tables: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    while let Ok(batch) = rx.try_recv() {
        tables
            .entry(batch.spec.table)
            .or_default()
            .extend(batch.rows());
    }
    json!({ "report": report, "rows": tables })
}

#[test]
fn netbackup_fixtures_read_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("hydrastor/veritas2hview/fixtures");
    let fixtures = shared_modules::testing::fixture_files(&dir, "txt");
    assert!(
        fixtures.len() >= 10,
        "only {} NetBackup fixtures",
        fixtures.len()
    );
    let mut failures = Vec::new();
    for path in &fixtures {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(path).unwrap();
        let lf = read(&bytes, &name);
        let crlf_bytes = String::from_utf8_lossy(&bytes)
            .replace('\n', "\r\n")
            .into_bytes();
        let crlf = read(&crlf_bytes, &name);
        let expected_path = path.with_extension("json");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(
                &expected_path,
                serde_json::to_string_pretty(&lf).unwrap() + "\n",
            )
            .unwrap();
        }
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|_| panic!("no {}", expected_path.display())),
        )
        .unwrap();
        if lf != expected {
            failures.push(format!("{name} (LF):\n got {lf}\nwant {expected}"));
        }
        if crlf != expected {
            failures.push(format!("{name} (CRLF):\n got {crlf}\nwant {expected}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

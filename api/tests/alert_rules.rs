//! The example alerting rules in docs/ are valid for Prometheus and only use metrics that
//! `/metrics` exposes.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use std::path::Path;
use std::process::Command;

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_example_alert_rules_pass_promtool() {
    let local = repo().join(".local/bin/promtool");
    let promtool = if local.exists() {
        local.to_string_lossy().to_string()
    } else {
        "promtool".into()
    };
    let out = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(repo().join("docs/alerts.yml"))
        .output()
        .expect("promtool is required: run scripts/services.sh promtool");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = std::fs::read_to_string(repo().join("docs/alerts.yml")).unwrap();
    let metrics = std::fs::read_to_string(repo().join("shared_modules/src/metrics.rs")).unwrap();
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("dataprocessor_") {
            let family = word
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                metrics.contains(&format!("\"{family}\"")),
                "{word} is not a metric the DataProcessor exposes"
            );
        }
    }
}

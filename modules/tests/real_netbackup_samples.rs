//! The real, public NetBackup outputs in `shared/samples/netbackup/` (see its SOURCES.md):
//! each format we read is recognised and read without an unreadable record, with the
//! values the format reference gives for them.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use modules::hydrastor::veritas2hview::{reader, sniff};
use serde_json::Value;
use std::path::Path;

fn read(name: &str) -> (reader::FileReport, Vec<(String, Value)>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/samples/netbackup")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared samples sit beside the repository)",
            path.display()
        )
    });
    let text = String::from_utf8_lossy(&bytes);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap();
    let format = sniff::sniff(first).unwrap_or_else(|| panic!("{name} not recognised"));
    let (tx, mut rx) = tokio::sync::mpsc::channel(100);
    let report = reader::read(std::io::Cursor::new(bytes), name, format, tx);
    let mut rows = Vec::new();
    while let Ok(batch) = rx.try_recv() {
        rows.extend(
            batch
                .rows()
                .into_iter()
                .map(|r| (batch.spec.table.to_string(), r)),
        );
    }
    assert_eq!(report.bad_records, 0, "{name}: {:?}", report.first_bad);
    (report, rows)
}

#[test]
fn the_real_samples_read_cleanly_with_the_documented_values() {
    let (_, rows) = read("process_jobs_py__bpdbjobs_all_columns_restarted_job__comment_line.txt");
    let job = &rows.iter().find(|(t, _)| t == "netbackup_jobs").unwrap().1;
    assert_eq!(
        (job["job_id"].as_i64(), job["master_server"].as_str()),
        (Some(601184), Some("master01"))
    );
    assert!(job["job_type"].is_null() && job["state"].is_null() && job["status"].is_null());

    let (_, rows) = read("nbu-cli__bpdbjobs_report_most_columns__1line.txt");
    let job = &rows[0].1;
    assert_eq!(job["job_id"], 123456);
    assert_eq!(job["kbytes"], 247834);
    assert_eq!(job["kbpersec"], 110197);
    assert_eq!(job["backup_id"], "client.test_1636329655");
    assert_eq!(job["started_at"], "2021-11-08T00:00:29Z");

    let (_, rows) = read("pytest_arthurxu__bpimagelist_l__IMAGE_HISTO_FRAG.txt");
    let image = &rows
        .iter()
        .find(|(t, _)| t == "netbackup_images")
        .unwrap()
        .1;
    assert_eq!(image["backup_id"], "rhel-guest.nbappliance.lab_1464611509");
    assert_eq!(image["kbytes"], 3150848);
    let fragment = &rows
        .iter()
        .find(|(t, _)| t == "netbackup_image_fragments")
        .unwrap()
        .1;
    assert_eq!(fragment["host"], "copilot.nbappliance.lab");

    let (_, rows) = read("centreon__nbdevquery_listdv_U_stype_PureDisk__comment_excerpt.txt");
    assert_eq!(rows[0].1["volume_name"], "PureDiskVolume");
    assert_eq!(rows[0].1["used_percent"], 91.0);
    let (_, rows) = read("centreon__nbdevquery_listdp_U__comment_excerpt.txt");
    assert_eq!(rows[0].0, "netbackup_disk_pools");
    let (_, rows) = read("checkmk_doehler__bperror_U_backstat__comment_excerpt.txt");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].1["completed_at"], "2025-09-23T16:00:27Z");
    let (report, _) = read("nbu-cli__bpdbjobs_summary_l.txt");
    assert_eq!(report.summary.unwrap()["total"], 60);
}

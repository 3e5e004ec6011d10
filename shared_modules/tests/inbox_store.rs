//! Staging, promotion and the sweeper on a real filesystem and database.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use chrono::TimeZone;
use serde_json::json;
use shared_modules::inbox::{Staging, sweep};
use shared_modules::jobs::enqueue;
use shared_modules::testing::{TestDb, sleep_job};
use std::time::Duration;

fn at() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .unwrap()
}

/// A busy second: names 1–37 taken in the inbox, 38 by a delivery already archived, 40
/// free after a hole at 39. The next delivery gets 39, the lowest free name, and a name
/// the archive holds is never given again.
#[test]
fn a_busy_second_gives_the_lowest_free_name_and_never_an_archived_one() {
    let root = tempfile::tempdir().unwrap();
    let parent = root.path().join("inbox/c/cat/t/g");
    let name = |n: u32| {
        if n == 1 {
            "20261123_120000".to_string()
        } else {
            format!("20261123_120000_{n}")
        }
    };
    for n in 1..=37 {
        std::fs::create_dir_all(parent.join(name(n))).unwrap();
    }
    std::fs::create_dir_all(root.path().join("archive/c/cat/t/g").join(name(38))).unwrap();
    let staging = Staging::new(root.path()).unwrap();
    staging.write_file("message.eml", b"x").unwrap();
    let first = staging.promote_named(&parent, &name(1)).unwrap();
    assert_eq!(first, parent.join(name(39)));
    let staging = Staging::new(root.path()).unwrap();
    staging.write_file("message.eml", b"y").unwrap();
    let second = staging.promote_named(&parent, &name(1)).unwrap();
    assert_eq!(second, parent.join(name(40)));
}

#[test]
fn a_dropped_staging_leaves_nothing_and_promotion_never_reuses_a_directory() {
    let root = tempfile::tempdir().unwrap();
    let staging = Staging::new(root.path()).unwrap();
    staging.write_file("a.txt", b"a").unwrap();
    let path = staging.path().to_path_buf();
    drop(staging);
    assert!(!path.exists());

    let parent = root.path().join("inbox/c/cat/t/g");
    let mut made = Vec::new();
    for i in 0..3 {
        let staging = Staging::new(root.path()).unwrap();
        staging
            .write_file("message.eml", format!("{i}").as_bytes())
            .unwrap();
        let promoted = staging.promote(&parent, at(), &format!("key{i}")).unwrap();
        made.push(promoted.path.clone());
        promoted.committed();
    }
    let names: Vec<_> = made
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        names,
        ["20261123_120000", "20261123_120000_2", "20261123_120000_3"]
    );
    assert_eq!(
        std::fs::read_to_string(made[1].join("message.eml")).unwrap(),
        "1"
    );
    assert!(
        std::fs::read_dir(root.path().join(".pending"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn the_sweeper_removes_a_promoted_directory_whose_job_never_committed_and_keeps_committed_ones()
 {
    let db = TestDb::new().await;
    let pool = db.pool();
    let mut conn = pool.get().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let parent = root.path().join("inbox/c/cat/t/g");

    // A delivery that died between the rename and the job's commit.
    let staging = Staging::new(root.path()).unwrap();
    staging.write_file("message.eml", b"orphan").unwrap();
    let orphan = staging.promote(&parent, at(), "key-orphan").unwrap();
    let orphan_path = orphan.path.clone();
    std::mem::forget(orphan);

    // A delivery whose job committed but which died before closing its intent.
    let staging = Staging::new(root.path()).unwrap();
    staging.write_file("message.eml", b"kept").unwrap();
    let kept = staging.promote(&parent, at(), "key-kept").unwrap();
    let mut job = sleep_job(json!({}));
    job.dedupe_key = Some("key-kept".into());
    job.inbox_path = Some(kept.path.to_string_lossy().to_string());
    enqueue(&mut conn, &job).await.unwrap();
    let kept_path = kept.path.clone();
    std::mem::forget(kept);

    // A staging directory of a crashed process (its lock died with it).
    let stale = root.path().join(".staging/4242-0-1");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("message.eml"), b"half").unwrap();

    let young = sweep(&mut conn, root.path(), Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        young,
        Default::default(),
        "nothing younger than the grace period is touched"
    );
    let report = sweep(&mut conn, root.path(), Duration::ZERO).await.unwrap();
    assert_eq!(
        (
            report.orphans_removed,
            report.intents_closed,
            report.staging_removed
        ),
        (1, 2, 1)
    );
    assert!(!orphan_path.exists());
    assert_eq!(
        std::fs::read_to_string(kept_path.join("message.eml")).unwrap(),
        "kept"
    );
    assert!(
        std::fs::read_dir(root.path().join(".staging"))
            .unwrap()
            .next()
            .is_none()
    );
}

/// A download that takes longer than the grace period is still being written: the sweeper
/// must leave it alone (it removed it once, and the upload was lost).
#[tokio::test]
async fn the_sweeper_never_removes_a_staging_directory_still_being_written() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let mut conn = pool.get().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let staging = Staging::new(root.path()).unwrap();
    let (path, mut file) = staging.create_file("dump.tar.gz").unwrap();
    std::io::Write::write_all(&mut file, b"first bytes").unwrap();
    let report = sweep(&mut conn, root.path(), Duration::ZERO).await.unwrap();
    assert_eq!(
        report.staging_removed, 0,
        "a staging directory being written was removed"
    );
    std::io::Write::write_all(&mut file, b", more bytes").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"first bytes, more bytes");
    let dir = staging.path().to_path_buf();
    drop(staging);
    assert!(
        !dir.exists(),
        "a dropped staging directory is removed by its owner"
    );
}

//! A re-export's bpdbjobs records that are stored as they are get skipped before they are
//! parsed, against the real Postgres: a repeated export writes nothing and locks nothing,
//! a changed record (one or several lines) is written and only it, a job listed twice keeps
//! its last record, a job whose try something else changed is written again, a record moved
//! to another grid is written there, and rows written from
//! values digests (before record digests) are written once more, then skipped.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use modules::hydrastor::veritas2hview::columns::Batch;
use modules::hydrastor::veritas2hview::known_records::KnownRecords;
use modules::hydrastor::veritas2hview::new_rows::NewRows;
use modules::hydrastor::veritas2hview::reader::{self, FileReport};
use modules::hydrastor::veritas2hview::sniff::Format;
use modules::hydrastor::veritas2hview::spec;
use modules::hydrastor::veritas2hview::store::{self, Owner};
use shared_modules::testing::TestDb;
use std::collections::BTreeMap;

const EXPORT: &str = include_str!("../hydrastor/veritas2hview/fixtures/bpdbjobs_all_columns.txt");

/// What importing one export did: the reader's report, rows written per table.
struct Imported {
    report: FileReport,
    written: BTreeMap<&'static str, usize>,
    /// Rows the batch check found stored as they are.
    unchanged_rows: usize,
}

/// Reads and stores `text` as the upload job does: the known records and the tables without
/// the customer's rows loaded first, the reader on a blocking thread, each batch stored as it
/// comes.
async fn import(conn: &mut AsyncPgConnection, grid: &str, job_id: i64, text: &str) -> Imported {
    let owner = Owner {
        customer: "bobs_burgers",
        grid,
        job_id,
    };
    let known = KnownRecords::load(conn, owner.customer, grid)
        .await
        .unwrap();
    let mut new_rows = NewRows::load(conn, owner.customer, &spec::ALL)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let bytes = text.as_bytes().to_vec();
    let parser = tokio::task::spawn_blocking(move || {
        reader::read_skipping(
            std::io::Cursor::new(bytes),
            "jobs.txt",
            Format::BpdbjobsReport,
            known,
            tx,
        )
    });
    let mut written = BTreeMap::new();
    let mut unchanged_rows = 0;
    while let Some(batch) = rx.recv().await {
        let table = batch.spec.table;
        let stored = store::write_batch(conn, &owner, batch, &mut new_rows)
            .await
            .unwrap();
        *written.entry(table).or_default() += stored.written;
        unchanged_rows += stored.unchanged;
    }
    Imported {
        report: parser.await.unwrap(),
        written,
        unchanged_rows,
    }
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = BigInt)]
    job_id: i64,
    #[diesel(sql_type = Text)]
    grid_name: String,
    #[diesel(sql_type = BigInt)]
    job_id_of_upload: i64,
    /// 0 for a row version nothing updated or locked since it was written.
    #[diesel(sql_type = Text)]
    xmax: String,
    #[diesel(sql_type = Text)]
    described: String,
}

async fn rows(conn: &mut AsyncPgConnection) -> Vec<Row> {
    let mut rows: Vec<Row> = diesel::sql_query(
        "SELECT 'jobs' AS table_name, job_id, grid_name, job_id_of_upload, xmax::text,
                coalesce(policy, '') AS described FROM netbackup_jobs
         UNION ALL
         SELECT 'tries', job_id, grid_name, job_id_of_upload, xmax::text,
                try_number || ':' || coalesce(status_description, '') FROM netbackup_job_tries",
    )
    .load(conn)
    .await
    .unwrap();
    rows.sort();
    rows
}

/// The policy of each stored job row.
async fn policies(conn: &mut AsyncPgConnection) -> Vec<String> {
    rows(conn)
        .await
        .into_iter()
        .filter(|r| r.table_name == "jobs")
        .map(|r| r.described)
        .collect()
}

fn written(imported: &Imported) -> (usize, usize) {
    let of = |t| imported.written.get(t).copied().unwrap_or(0);
    (of("netbackup_jobs"), of("netbackup_job_tries"))
}

#[tokio::test]
async fn the_same_export_again_is_read_past_and_leaves_every_row_untouched() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    let first = import(&mut conn, "fryer_grid", 1, EXPORT).await;
    assert_eq!(first.report.unchanged_records, 0);
    let records = first.report.records;
    assert!(records >= 3, "{:?}", first.report);
    let before = rows(&mut conn).await;
    assert!(!before.is_empty());

    let again = import(&mut conn, "fryer_grid", 2, EXPORT).await;
    assert_eq!(again.report.records, records);
    assert_eq!(
        again.report.unchanged_records, records,
        "every record, the one on two lines included"
    );
    assert_eq!(again.report.bad_records, first.report.bad_records);
    assert_eq!(written(&again), (0, 0));
    assert_eq!(again.unchanged_rows, 0, "nothing reached the batch check");
    let after = rows(&mut conn).await;
    assert_eq!(after, before);
    assert!(after.iter().all(|r| r.xmax == "0"), "{after:?}");
}

#[tokio::test]
async fn a_changed_record_is_written_and_only_it() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    import(&mut conn, "fryer_grid", 1, EXPORT).await;
    let before = rows(&mut conn).await;

    // Job 700100's second try now reads differently; so does the record on two lines.
    let next_day = EXPORT
        .replace(
            "9950,HYD_STU_01,nbmedia01,1763851500,0000000454,1763851954,0,the requested operation was successfully completed",
            "9950,HYD_STU_01,nbmedia01,1763851500,0000000454,1763851954,1,the requested operation was partially successful",
        )
        .replace("Oracle said:\nRMAN-00571", "Oracle said:\nRMAN-00572");
    assert_ne!(next_day, EXPORT);
    let imported = import(&mut conn, "fryer_grid", 2, &next_day).await;
    assert_eq!(
        imported.report.unchanged_records,
        imported.report.records - 2
    );
    let after = rows(&mut conn).await;
    let changed_jobs = [700100, 700102];
    for (b, a) in before.iter().zip(&after) {
        if changed_jobs.contains(&a.job_id) {
            assert_eq!(a.job_id_of_upload, 2, "{a:?}");
        } else {
            assert_eq!(a, b, "an unchanged record's rows are untouched");
            assert_eq!(a.xmax, "0");
        }
    }
    assert!(
        after
            .iter()
            .any(|r| r.described == "2:the requested operation was partially successful"),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_job_listed_twice_keeps_its_last_record() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    let first_line = EXPORT.lines().next().unwrap();
    let renamed = first_line.replace("WIN_FS", "WIN_FS_RENAMED");
    import(&mut conn, "fryer_grid", 1, &format!("{first_line}\n")).await;

    // The stored record comes last: it must win over the changed one before it, though
    // it is known as stored.
    let both = format!("{renamed}\n{first_line}\n");
    let imported = import(&mut conn, "fryer_grid", 2, &both).await;
    assert_eq!(imported.report.unchanged_records, 0);
    assert_eq!(policies(&mut conn).await, ["WIN_FS"]);

    // The changed one last: it wins, the stored one before it is skipped.
    let imported = import(
        &mut conn,
        "fryer_grid",
        3,
        &format!("{first_line}\n{renamed}\n"),
    )
    .await;
    assert_eq!(imported.report.unchanged_records, 1);
    assert_eq!(policies(&mut conn).await, ["WIN_FS_RENAMED"]);
}

/// An older build of the same release upserts a changed try and leaves the job row (and its
/// record digest) as it was: the next export of the record must write the try again.
#[tokio::test]
async fn a_job_whose_try_something_else_changed_is_written_again() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    import(&mut conn, "fryer_grid", 1, EXPORT).await;
    let before = rows(&mut conn).await;
    diesel::sql_query(
        "UPDATE netbackup_job_tries SET status_description = 'as an older build wrote it',
                row_digest = decode(md5('older'), 'hex')
         WHERE job_id = 700100 AND try_number = 2",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let again = import(&mut conn, "fryer_grid", 2, EXPORT).await;
    assert_eq!(
        again.report.unchanged_records,
        again.report.records - 1,
        "all but job 700100"
    );
    let after = rows(&mut conn).await;
    let restored: Vec<(&Row, &Row)> = before
        .iter()
        .zip(&after)
        .filter(|(_, a)| a.job_id == 700100 && a.table_name == "tries")
        .collect();
    assert!(!restored.is_empty());
    for (b, a) in restored {
        assert_eq!(a.described, b.described, "the export's try is back");
    }
}

#[tokio::test]
async fn a_record_stored_for_another_grid_is_written_for_this_one() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    import(&mut conn, "fryer_grid", 1, EXPORT).await;
    let moved = import(&mut conn, "grill_grid", 2, EXPORT).await;
    assert_eq!(moved.report.unchanged_records, 0);
    let after = rows(&mut conn).await;
    assert!(
        after.iter().all(|r| r.grid_name == "grill_grid"),
        "{after:?}"
    );
}

#[tokio::test]
async fn rows_written_before_record_digests_are_written_once_then_skipped() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    import(&mut conn, "fryer_grid", 1, EXPORT).await;
    // As the previous release left them: a digest of the values, not of the record.
    for table in ["netbackup_jobs", "netbackup_job_tries"] {
        diesel::sql_query(format!(
            "UPDATE {table} SET row_digest = decode(md5(job_id::text), 'hex')"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let before = rows(&mut conn).await;
    let upgraded = import(&mut conn, "fryer_grid", 2, EXPORT).await;
    assert_eq!(upgraded.report.unchanged_records, 0);
    let (jobs, tries) = written(&upgraded);
    assert!(jobs > 0 && tries > 0, "{:?}", upgraded.written);
    let after = rows(&mut conn).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (&b.table_name, b.job_id, &b.described),
            (&a.table_name, a.job_id, &a.described)
        );
    }
    let then = import(&mut conn, "fryer_grid", 3, EXPORT).await;
    assert_eq!(then.report.unchanged_records, then.report.records);
}

//! Daily re-exports against the real Postgres: an unchanged record is not written (not even
//! locked: its row keeps `xmax` 0), a changed one is updated and only it, rows and their
//! digests roll back together, a row an older binary changed is written again, and rows
//! stored before the digests existed get theirs without a value changing.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use modules::hydrastor::veritas2hview::bpdbjobs::Try;
use modules::hydrastor::veritas2hview::columns::{Batch, Columns};
use modules::hydrastor::veritas2hview::spec;
use modules::hydrastor::veritas2hview::store::{self, Owner, Stored};
use shared_modules::testing::TestDb;

fn attempt(number: i32, description: &str) -> Try {
    Try {
        master_server: "nbmaster01".into(),
        job_id: 4711,
        try_number: number,
        pid: Some(9911),
        storage_unit: Some("HYD_STU_01".into()),
        server: Some("media1".into()),
        started_at: None,
        elapsed_seconds: Some(300),
        ended_at: None,
        status: Some(0),
        status_description: Some(description.into()),
        status_lines: vec![format!("try {number}")],
        kbytes_written: Some(42),
        files_written: None,
    }
}

/// Tries 1 to 3; `changed` gets another status text.
fn export(changed: Option<i32>) -> Batch {
    let mut batch = Columns::new(&spec::TRIES);
    for n in 1..=3 {
        let text = if Some(n) == changed {
            "the requested operation was partially successful"
        } else {
            "the requested operation was successfully completed"
        };
        batch.push(&attempt(n, text)).unwrap();
    }
    batch.finish()
}

fn owner(job_id: i64) -> Owner<'static> {
    Owner {
        customer: "bobs_burgers",
        grid: "fryer_grid",
        job_id,
    }
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Row {
    #[diesel(sql_type = BigInt)]
    try_number: i64,
    #[diesel(sql_type = Text)]
    status_description: String,
    #[diesel(sql_type = BigInt)]
    job_id_of_upload: i64,
    /// Set when a transaction updated, deleted or locked the row version: 0 for one nothing
    /// touched since it was written.
    #[diesel(sql_type = Text)]
    xmax: String,
    #[diesel(sql_type = Text)]
    ctid: String,
}

async fn rows(conn: &mut AsyncPgConnection) -> Vec<Row> {
    diesel::sql_query(
        "SELECT try_number::bigint, status_description, job_id_of_upload, xmax::text, ctid::text
         FROM netbackup_job_tries ORDER BY try_number",
    )
    .load(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_unchanged_record_is_neither_written_nor_locked() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    let first = store::upsert(&mut conn, &owner(1), export(None))
        .await
        .unwrap();
    assert_eq!(
        first,
        Stored {
            written: 3,
            unchanged: 0
        }
    );
    let before = rows(&mut conn).await;
    let again = store::upsert(&mut conn, &owner(2), export(None))
        .await
        .unwrap();
    assert_eq!(
        again,
        Stored {
            written: 0,
            unchanged: 3
        }
    );
    let after = rows(&mut conn).await;
    assert_eq!(after, before, "the same export again leaves identical rows");
    // An upsert whose WHERE finds nothing to change still locks the row (xmax set): the
    // cost a skipped record must not pay.
    assert!(after.iter().all(|r| r.xmax == "0"), "{after:?}");
}

#[tokio::test]
async fn a_newer_export_updates_what_changed_and_only_that() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    store::upsert(&mut conn, &owner(1), export(None))
        .await
        .unwrap();
    let before = rows(&mut conn).await;
    let next_day = store::upsert(&mut conn, &owner(2), export(Some(2)))
        .await
        .unwrap();
    assert_eq!(
        next_day,
        Stored {
            written: 1,
            unchanged: 2
        }
    );
    let after = rows(&mut conn).await;
    assert_eq!(
        after[1].status_description,
        "the requested operation was partially successful"
    );
    assert_eq!(
        after[1].job_id_of_upload, 2,
        "the changed row names its upload"
    );
    assert_eq!(after[0], before[0], "unchanged rows are untouched");
    assert_eq!(after[2], before[2], "unchanged rows are untouched");

    // And back: the day after, try 2 reads as on the first day again.
    let third = store::upsert(&mut conn, &owner(3), export(None))
        .await
        .unwrap();
    assert_eq!(third.written, 1);
    assert_eq!(
        rows(&mut conn).await[1].status_description,
        "the requested operation was successfully completed"
    );

    // The same key under another grid is a change too.
    let moved = Owner {
        grid: "other_grid",
        ..owner(4)
    };
    let regridded = store::upsert(&mut conn, &moved, export(None))
        .await
        .unwrap();
    assert_eq!(regridded.written, 3);
}

#[tokio::test]
async fn rows_and_their_digests_roll_back_together() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    diesel::sql_query("BEGIN").execute(&mut conn).await.unwrap();
    let rolled_back = store::upsert(&mut conn, &owner(1), export(None))
        .await
        .unwrap();
    assert_eq!(rolled_back.written, 3);
    diesel::sql_query("ROLLBACK")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(rows(&mut conn).await.is_empty());
    let retried = store::upsert(&mut conn, &owner(2), export(None))
        .await
        .unwrap();
    assert_eq!(
        retried,
        Stored {
            written: 3,
            unchanged: 0
        },
        "a rolled-back attempt leaves no digest that would skip the retry's rows"
    );
    assert_eq!(rows(&mut conn).await.len(), 3);
}

/// A binary of the same release that predates the digests changes values and leaves
/// row_digest alone: the row must not be taken for unchanged by the next export.
#[tokio::test]
async fn a_row_changed_by_an_older_binary_is_written_again() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    store::upsert(&mut conn, &owner(1), export(None))
        .await
        .unwrap();
    diesel::sql_query(
        "UPDATE netbackup_job_tries SET status_description = 'as an older binary wrote it' WHERE try_number = 2",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let next = store::upsert(&mut conn, &owner(2), export(None))
        .await
        .unwrap();
    assert_eq!(
        next,
        Stored {
            written: 1,
            unchanged: 2
        }
    );
    assert_eq!(
        rows(&mut conn).await[1].status_description,
        "the requested operation was successfully completed"
    );
}

#[tokio::test]
async fn rows_stored_before_digests_get_theirs_and_keep_their_values() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    store::upsert(&mut conn, &owner(1), export(None))
        .await
        .unwrap();
    diesel::sql_query("UPDATE netbackup_job_tries SET row_digest = NULL")
        .execute(&mut conn)
        .await
        .unwrap();
    let before = rows(&mut conn).await;
    let upgraded = store::upsert(&mut conn, &owner(2), export(None))
        .await
        .unwrap();
    assert_eq!(upgraded.written, 3, "each row gets its digest");
    let after = rows(&mut conn).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (b.try_number, &b.status_description),
            (a.try_number, &a.status_description)
        );
    }
    let then = store::upsert(&mut conn, &owner(3), export(None))
        .await
        .unwrap();
    assert_eq!(then.unchanged, 3);
}

//! A customer's first export is written with plain inserts (`NewRows`), against the real
//! Postgres: a job listed twice, batches apart, still keeps its last record (its second
//! batch goes through the upsert); another job storing the same rows meanwhile makes the
//! insert fail on the key, and the retry finds them and writes nothing twice.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use modules::hydrastor::veritas2hview::columns::{BATCH_ROWS, Batch};
use modules::hydrastor::veritas2hview::known_records::KnownRecords;
use modules::hydrastor::veritas2hview::new_rows::NewRows;
use modules::hydrastor::veritas2hview::reader;
use modules::hydrastor::veritas2hview::sniff::Format;
use modules::hydrastor::veritas2hview::spec;
use modules::hydrastor::veritas2hview::store::{self, Owner, Stored};
use shared_modules::testing::TestDb;

/// One bpdbjobs record: a job with one try whose status reads `status`.
fn record(job: i64, status: &str) -> String {
    let started = 1_763_800_000 + job % 86_400;
    let stu = format!("HYD_STU_0{}", job % 3);
    let media = format!("media{}", job % 4);
    let client = format!("client{}.corp", job % 500);
    let head = [
        &job.to_string(),
        "0",
        "3",
        "0",
        &format!("POL_{}", job % 40),
        "Daily",
        &client,
        &media,
        &started.to_string(),
        "0000000300",
        &(started + 300).to_string(),
        &stu,
        "1",
        "",
        &(job % 100_000).to_string(),
        "42",
        "",
        "100",
        "4711",
        "root",
        "1",
        "13",
        "0",
        "0",
        "",
        "nbmaster01",
        "1",
        "37",
        "0",
        "",
        "",
    ]
    .join(",");
    let tries = [
        "1",
        "9911",
        &stu,
        &media,
        &started.to_string(),
        "0000000300",
        &(started + 300).to_string(),
        "0",
        status,
        "1",
        "11/23/25 00:00:00 - Info bpdm(pid=3456) dedup: 1.0%",
        &(job % 100_000).to_string(),
        "42",
    ]
    .join(",");
    let tail = [
        &job.to_string(),
        "52133",
        "1",
        "",
        "",
        "",
        "",
        "0",
        "",
        "",
        "",
        "",
        "0",
        "0",
        "0",
        "1",
        "0",
        "0",
        &format!("{client}_{started}"),
        "1",
        "nbmaster01",
    ]
    .join(",");
    format!("{head},0,{tries},{tail}\n")
}

const OK: &str = "the requested operation was successfully completed";

const CUSTOMER: &str = "bobs_burgers";

/// What a job loads before it reads a bpdbjobs file.
struct Loaded {
    known: KnownRecords,
    new_rows: NewRows,
}

async fn load(conn: &mut AsyncPgConnection) -> Loaded {
    Loaded {
        known: KnownRecords::load(conn, CUSTOMER, "fryer_grid")
            .await
            .unwrap(),
        new_rows: NewRows::load(conn, CUSTOMER, &spec::ALL).await.unwrap(),
    }
}

/// Reads and stores `text` as the upload job does, from what it `loaded` before; what was
/// written, or the first error.
async fn store_export(
    conn: &mut AsyncPgConnection,
    job_id: i64,
    text: String,
    loaded: Loaded,
) -> diesel::QueryResult<Stored> {
    let owner = Owner {
        customer: CUSTOMER,
        grid: "fryer_grid",
        job_id,
    };
    let Loaded {
        known,
        mut new_rows,
    } = loaded;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let parser = tokio::task::spawn_blocking(move || {
        reader::read_skipping(
            std::io::Cursor::new(text.into_bytes()),
            "jobs.txt",
            Format::BpdbjobsReport,
            known,
            tx,
        )
    });
    let mut total = Stored::default();
    while let Some(batch) = rx.recv().await {
        let stored = store::write_batch(conn, &owner, batch, &mut new_rows).await?;
        total.written += stored.written;
        total.unchanged += stored.unchanged;
    }
    let report = parser.await.unwrap();
    assert_eq!(report.bad_records, 0, "{:?}", report.first_bad);
    Ok(total)
}

async fn import(
    conn: &mut AsyncPgConnection,
    job_id: i64,
    text: String,
) -> diesel::QueryResult<Stored> {
    let loaded = load(conn).await;
    store_export(conn, job_id, text, loaded).await
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap()
        .n
}

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text)]
    status_description: String,
}

#[tokio::test]
async fn a_job_listed_twice_batches_apart_in_a_first_export_keeps_its_last_record() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    let jobs = BATCH_ROWS as i64 + 500;
    let mut text: String = (1..=jobs).map(|job| record(job, OK)).collect();
    text.push_str(&record(1, "listed again later"));

    let stored = import(&mut conn, 1, text).await.unwrap();
    assert_eq!(stored.unchanged, 0);
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM netbackup_jobs").await,
        jobs
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM netbackup_job_tries").await,
        jobs
    );
    let last: Status =
        diesel::sql_query("SELECT status_description FROM netbackup_job_tries WHERE job_id = 1")
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(last.status_description, "listed again later");
}

#[tokio::test]
async fn another_job_storing_the_same_rows_meanwhile_fails_the_insert_and_the_retry_writes_nothing_twice()
 {
    let db = TestDb::new().await;
    let export: String = (1..=300).map(|job| record(job, OK)).collect();
    let mut this_job = db.pool().get().await.unwrap();
    let mut other_job = db.pool().get().await.unwrap();

    // This job starts while the customer has no rows; the other one commits the same records.
    let loaded = load(&mut this_job).await;
    let other = import(&mut other_job, 2, export.clone()).await.unwrap();
    assert_eq!(other.written, 600, "300 jobs and their 300 tries");

    let failed = store_export(&mut this_job, 1, export.clone(), loaded).await;
    let Err(diesel::result::Error::DatabaseError(kind, info)) = failed else {
        panic!("the plain insert met the other job's rows: {failed:?}");
    };
    assert!(
        matches!(kind, diesel::result::DatabaseErrorKind::UniqueViolation),
        "{}",
        info.message()
    );

    // Tried again: the rows are there, the same, and nothing is written.
    let again = import(&mut this_job, 1, export).await.unwrap();
    assert_eq!(again.written, 0);
    assert_eq!(
        count(&mut this_job, "SELECT count(*) AS n FROM netbackup_jobs").await,
        300
    );
}

//! A customer's first export is written with plain inserts (`NewRows`), against the real
//! Postgres: every table of every fixture format takes them and the same files again write
//! nothing; only the customer's own rows make a table not new, and a second file of the same
//! upload sees the first's; a job listed twice, batches apart, still keeps its last record
//! (its second batch goes through the upsert); another job storing the same rows meanwhile
//! makes the insert fail on the key, and the retry finds them and writes nothing twice.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use modules::hydrastor::veritas2hview::columns::{BATCH_ROWS, Batch};
use modules::hydrastor::veritas2hview::known_records::KnownRecords;
use modules::hydrastor::veritas2hview::new_rows::NewRows;
use modules::hydrastor::veritas2hview::reader::{self, FileReport};
use modules::hydrastor::veritas2hview::sniff::{self, Format};
use modules::hydrastor::veritas2hview::spec;
use modules::hydrastor::veritas2hview::store::{self, Owner, Stored};
use shared_modules::testing::{TestDb, fixture_files};

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
        new_rows: new_rows(conn).await,
    }
}

async fn new_rows(conn: &mut AsyncPgConnection) -> NewRows {
    NewRows::load(conn, CUSTOMER, &spec::ALL).await.unwrap()
}

/// Reads and stores `text` as the upload job does, from what it `loaded` before; what was
/// written, or the first error.
async fn store_export(
    conn: &mut AsyncPgConnection,
    job_id: i64,
    text: String,
    loaded: Loaded,
) -> diesel::QueryResult<Stored> {
    let (stored, report) = store_file(conn, job_id, Format::BpdbjobsReport, text, loaded).await?;
    assert_eq!(report.bad_records, 0, "{:?}", report.first_bad);
    Ok(stored)
}

async fn store_file(
    conn: &mut AsyncPgConnection,
    job_id: i64,
    format: Format,
    text: String,
    loaded: Loaded,
) -> diesel::QueryResult<(Stored, FileReport)> {
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
            "export.txt",
            format,
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
    Ok((total, parser.await.unwrap()))
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

#[tokio::test]
async fn every_fixture_format_is_inserted_new_and_the_same_files_again_write_nothing() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    let files = fixture_files(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hydrastor/veritas2hview/fixtures"),
        "txt",
    );
    let mut written = 0;
    for round in 0..2 {
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap();
            let Some(format) = sniff::sniff(first) else {
                continue;
            };
            let loaded = load(&mut conn).await;
            let stored = store_file(&mut conn, 1, format, text, loaded).await;
            let (stored, _) = stored.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if round == 0 {
                written += stored.written;
            } else {
                assert_eq!(stored.written, 0, "{} again", path.display());
            }
        }
    }
    let tables: Vec<i64> = {
        let mut counts = Vec::new();
        for spec in spec::ALL {
            counts.push(
                count(
                    &mut conn,
                    &format!("SELECT count(*) AS n FROM {}", spec.table),
                )
                .await,
            );
        }
        counts
    };
    assert!(
        tables.iter().all(|&n| n > 0),
        "every table written by some fixture: {tables:?}"
    );
    assert_eq!(written as i64, tables.iter().sum::<i64>());
}

#[tokio::test]
async fn only_the_customers_own_rows_make_a_table_not_new_and_a_second_file_sees_the_first() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    let jobs_batch = |ids: &[i64]| {
        let mut columns = modules::hydrastor::veritas2hview::columns::Columns::new(&spec::JOBS);
        for id in ids {
            columns
                .push_object(&serde_json::json!({"master_server": "nbmaster01", "job_id": id}))
                .unwrap();
        }
        columns.finish()
    };
    // Another customer's jobs and tries.
    diesel::sql_query(
        "INSERT INTO netbackup_jobs (customer, grid_name, master_server, job_id) VALUES ('someone_else', 'g', 'nbmaster01', 1)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let mut new = new_rows(&mut conn).await;
    assert!(
        new.all_new(&jobs_batch(&[1, 2])),
        "another customer's job 1"
    );

    // A first file of an upload (in the job's transaction) writes jobs 1-300; a second file
    // of the same upload repeats 200-300 and adds 301-400: it sees the first's rows and upserts.
    diesel::sql_query("BEGIN").execute(&mut conn).await.unwrap();
    let first: String = (1..=300).map(|job| record(job, OK)).collect();
    let second: String = (200..=400).map(|job| record(job, "again")).collect();
    import(&mut conn, 1, first).await.unwrap();
    let mut after = new_rows(&mut conn).await;
    assert!(
        !after.all_new(&jobs_batch(&[1000])),
        "the first file's jobs are there"
    );
    let stored = import(&mut conn, 1, second).await.unwrap();
    assert_eq!(stored.written, 2 * 201);
    diesel::sql_query("COMMIT")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM netbackup_jobs WHERE customer = 'bobs_burgers'"
        )
        .await,
        400
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM netbackup_job_tries WHERE status_description = 'again'"
        )
        .await,
        201
    );

    // Jobs stored but no tries (written in part by something else): only tries are new.
    diesel::sql_query("DELETE FROM netbackup_job_tries")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut partly = new_rows(&mut conn).await;
    assert!(!partly.all_new(&jobs_batch(&[5000])));
    let mut tries = modules::hydrastor::veritas2hview::columns::Columns::new(&spec::TRIES);
    tries
        .push_object(
            &serde_json::json!({"master_server": "nbmaster01", "job_id": 1, "try_number": 1}),
        )
        .unwrap();
    assert!(partly.all_new(&tries.finish()));
}

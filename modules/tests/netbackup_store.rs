//! The NetBackup store against the real Postgres: values with quotes, backslashes, newlines,
//! lists and JSON land exactly as parsed; a key seen twice in one batch keeps the last row;
//! the same batch again changes nothing.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use chrono::{TimeZone, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::RunQueryDsl;
use modules::hydrastor::veritas2hview::bpdbjobs::Try;
use modules::hydrastor::veritas2hview::columns::Columns;
use modules::hydrastor::veritas2hview::spec;
use modules::hydrastor::veritas2hview::store::{self, Owner};
use shared_modules::testing::TestDb;

fn attempt(number: i32, description: &str, lines: &[&str]) -> Try {
    Try {
        master_server: "nbmaster01".into(),
        job_id: 4711,
        try_number: number,
        pid: Some(9911),
        storage_unit: None,
        server: Some("media \"one\"".into()),
        started_at: Some(Utc.with_ymd_and_hms(2025, 11, 22, 8, 26, 40).unwrap()),
        elapsed_seconds: Some(300),
        ended_at: None,
        status: Some(0),
        status_description: Some(description.into()),
        status_lines: lines.iter().map(|l| l.to_string()).collect(),
        kbytes_written: Some(-1),
        files_written: None,
    }
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Stored {
    #[diesel(sql_type = BigInt)]
    try_number: i64,
    #[diesel(sql_type = Nullable<Text>)]
    server: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    status_description: Option<String>,
    #[diesel(sql_type = Text)]
    status_lines: String,
    #[diesel(sql_type = Nullable<Text>)]
    started_at: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    storage_unit: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    kbytes_written: Option<i64>,
}

#[tokio::test]
async fn rows_land_as_parsed_the_last_duplicate_wins_and_a_second_run_changes_nothing() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    let owner = Owner {
        customer: "bobs_burgers",
        grid: "fryer_grid",
        job_id: 1,
    };
    let batch = || {
        let mut batch = Columns::new(&spec::TRIES);
        batch.push(&attempt(1, "first \\ try", &[])).unwrap();
        batch.push(&attempt(2, "overwritten", &["gone"])).unwrap();
        batch
            .push(&attempt(
                1,
                "tab\there, line\nbreak, 'quote'",
                &["a \"b\"", "c\\d", "{e,f}", "NULL"],
            ))
            .unwrap();
        batch.finish()
    };
    assert_eq!(batch().len, 2, "the second try 1 replaced the first");
    let written = store::upsert(&mut conn, &owner, batch()).await.unwrap();
    assert_eq!(written.written, 2);

    let stored: Vec<Stored> = diesel::sql_query(
        "SELECT try_number::bigint, server, status_description, array_to_json(status_lines)::text AS status_lines,
                to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS started_at,
                storage_unit, kbytes_written
         FROM netbackup_job_tries ORDER BY try_number",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        stored[0],
        Stored {
            try_number: 1,
            server: Some("media \"one\"".into()),
            status_description: Some("tab\there, line\nbreak, 'quote'".into()),
            status_lines: r#"["a \"b\"","c\\d","{e,f}","NULL"]"#.into(),
            started_at: Some("2025-11-22 08:26:40".into()),
            storage_unit: None,
            kbytes_written: Some(-1),
        }
    );
    assert_eq!(stored[1].status_lines, r#"["gone"]"#);
    assert_eq!(stored.len(), 2);

    let again = store::upsert(&mut conn, &owner, batch()).await.unwrap();
    assert_eq!(
        again,
        store::Stored {
            written: 0,
            unchanged: 2
        },
        "the same rows again change nothing"
    );
}

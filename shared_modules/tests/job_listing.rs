//! The job listing's pages against the real Postgres, each compared with the same filter
//! applied to every job in Rust: time windows among the newest jobs (read newest first) and
//! elsewhere (read by their own plan), combined with the other filters, page after page,
//! and again once the look-ahead's misses are remembered.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use chrono::{DateTime, Duration, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use shared_modules::jobs::{JobFilter, JobState, list_jobs};
use shared_modules::testing::TestDb;

#[derive(QueryableByName, Clone)]
struct Stored {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    customer: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

fn matches(job: &Stored, filter: &JobFilter) -> bool {
    filter.state.is_none_or(|s| job.state == s.as_str())
        && filter.customer.as_ref().is_none_or(|c| &job.customer == c)
        && filter.since.is_none_or(|t| job.created_at >= t)
        && filter.until.is_none_or(|t| job.created_at < t)
        && filter.before_id.is_none_or(|b| job.id < b)
}

#[tokio::test]
async fn every_window_lists_what_its_filter_selects_page_after_page() {
    let db = TestDb::new().await;
    let mut conn = db.pool().get().await.unwrap();
    // 1,500 jobs a second apart, the newest now; five customers in turn, every 7th in
    // error; and three jobs of a rare customer among the newest.
    diesel::sql_query(
        "INSERT INTO jobs (source, customer, category, job_type, job_group, state, max_attempts,
                           timeout_seconds, metadata, created_at)
         SELECT 'email', CASE WHEN g IN (1490, 1495, 1499) THEN 'rare' ELSE 'c' || (g % 5) END,
                'hydrastor', 'alert', 'grid', CASE WHEN g % 7 = 0 THEN 'error' ELSE 'done' END,
                5, 600, '{}', now() - make_interval(secs => 1500 - g)
         FROM generate_series(1, 1500) g",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let all: Vec<Stored> =
        diesel::sql_query("SELECT id, customer, state, created_at FROM jobs ORDER BY id DESC")
            .load(&mut conn)
            .await
            .unwrap();
    let newest = all[0].created_at;
    let ago = |seconds| newest - Duration::seconds(seconds);
    let windows = [
        ("the last ten minutes", Some(ago(600)), None, None, None),
        (
            "the last ten minutes, one customer",
            Some(ago(600)),
            None,
            Some("c3"),
            None,
        ),
        (
            "a rare customer's",
            Some(ago(600)),
            None,
            Some("rare"),
            None,
        ),
        (
            "errors of the last 20 minutes",
            Some(ago(1200)),
            None,
            None,
            Some(JobState::Error),
        ),
        (
            "a closed window among the newest",
            Some(ago(1000)),
            Some(ago(900)),
            None,
            None,
        ),
        (
            "a closed window among the oldest",
            Some(ago(1450)),
            Some(ago(1400)),
            None,
            None,
        ),
        // Part of it among the 200 newest jobs (those the listing looks at first), part older.
        (
            "a window across the newest 200",
            Some(ago(210)),
            Some(ago(190)),
            None,
            None,
        ),
        ("only an end", None, Some(ago(1300)), None, None),
        ("nothing in it", Some(ago(-60)), None, None, None),
    ];
    // Twice: the second time, the windows the look-ahead fell short of go straight to their
    // own statement (`look_ahead_memo`), and must list the same.
    for (round, (name, since, until, customer, state)) in windows
        .iter()
        .cloned()
        .chain(windows.iter().cloned())
        .enumerate()
        .map(|(i, w)| (i / windows.len(), w))
    {
        let mut filter = JobFilter {
            since,
            until,
            customer: customer.map(String::from),
            state,
            limit: 50,
            ..Default::default()
        };
        let mut pages = 0;
        loop {
            let page = list_jobs(&mut conn, &filter).await.unwrap();
            let expected: Vec<i64> = all
                .iter()
                .filter(|j| matches(j, &filter))
                .take(50)
                .map(|j| j.id)
                .collect();
            let got: Vec<i64> = page.jobs.iter().map(|j| j.id).collect();
            assert_eq!(got, expected, "{name}, page {pages}, round {round}");
            pages += 1;
            match page.next_cursor {
                Some(cursor) if pages < 40 => filter.before_id = Some(cursor),
                _ => break,
            }
        }
        assert!(pages < 40, "{name}: the pages end");
    }
}

//! `dataprocessor serve` with 2 workers under a mixed stream of hostile uploads (through
//! the real `aws` CLI, moto and curl) and hostile mails (through the mailhandler's own
//! delivery code): every job ends, and a normal mail sent last is processed.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;
use shared_modules::jobs::find_job;
use shared_modules::mail::Envelope;
use shared_modules::testing::{TestDb, wait_for};
use std::io::Write;
use std::time::Duration;

const RECIPIENT: &str = "bobs_burgers@ingest.hview.example";
const ALERT: &[u8] = include_bytes!("../../mailhandler/tests/fixtures/alert.eml");

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_survives_a_stream_of_hostile_uploads_and_mails() {
    let (_moto, moto) = start_moto().await;
    let db = TestDb::new().await;
    let pool = db.pool();
    let dir = tempfile::tempdir().unwrap();
    let mut config = upload_config(&db.url, dir.path(), &moto);
    config.workers.concurrency = 2;
    let _serve = start_serve(dir.path(), &config).await;
    let api = api_url(&config);
    // Nobody created the bucket: serve does when it is missing.
    wait_for(
        "serve to create the bucket",
        Duration::from_secs(30),
        || async {
            aws(&moto, &["s3", "ls", "s3://veritas2hview"])
                .status
                .success()
                .then_some(())
        },
    )
    .await;

    let mut long_line = b"1,0,3,0,".to_vec();
    long_line.extend(std::iter::repeat_n(b'9', 5 * 1024 * 1024));
    let uploads: Vec<(&str, Vec<u8>)> = vec![
        ("umlauts.txt", "ääää Bericht\nzweite Zeile\n".into()),
        ("euro.txt", "Lab€ x: y\n".into()),
        ("zeros.txt.gz", gzip(&vec![0u8; 64 * 1024 * 1024])),
        ("nul.txt", b"\0\0\0IMAGE \0\n\0".to_vec()),
        ("long.txt", long_line),
        ("fake.tar.gz", b"\x1f\x8b\x08\x00garbage".to_vec()),
        ("empty.txt", Vec::new()),
    ];
    let mut ids = Vec::new();
    for (name, bytes) in &uploads {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let key = format!("bobs_burgers/fryer_grid/{name}");
        aws_put(&moto, &path, &key);
        let (_, answer) = curl_trigger(&api, &key);
        let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
        ids.push(
            answer["job_id"]
                .as_i64()
                .unwrap_or_else(|| panic!("{name}: {answer}")),
        );
    }
    let hostile_mails: Vec<Vec<u8>> = vec![
        b"\xff\xfe\x00garbage".to_vec(),
        b"Subject: [HYDRAstor] Alert: Warning - g/\xff\xfe - x\r\n\r\nbody".to_vec(),
        [b"Subject: ".as_slice(), &vec![b'A'; 1 << 20], b"\r\n\r\n"].concat(),
        b"Subject: [HYDRAstor] System Report: ../../etc (x)\n\nHYDRAstor System Report\n".to_vec(),
    ];
    let mut conn = diesel_async::AsyncConnection::establish(&db.url)
        .await
        .unwrap();
    for mail in &hostile_mails {
        let delivered = shared_modules::mail::deliver_now(
            &config,
            &mut conn,
            &Envelope::now(mail, "x@y.example", RECIPIENT),
        )
        .await
        .unwrap();
        ids.push(job_of(&delivered));
    }
    for id in &ids {
        wait_for(
            &format!("job {id} to end"),
            Duration::from_secs(120),
            || async {
                let mut c = pool.get().await.unwrap();
                let job = find_job(&mut c, *id).await.unwrap().unwrap();
                job.state.is_final().then_some(())
            },
        )
        .await;
    }
    // A normal mail after all of it: processed, its row in Postgres.
    let normal = shared_modules::mail::deliver_now(
        &config,
        &mut conn,
        &Envelope::now(ALERT, "hs@grid.example", RECIPIENT),
    )
    .await
    .unwrap();
    let id = job_of(&normal);
    let job = wait_for(
        "the normal mail's job to end",
        Duration::from_secs(60),
        || async {
            let mut c = pool.get().await.unwrap();
            let job = find_job(&mut c, id).await.unwrap().unwrap();
            job.state.is_final().then_some(job)
        },
    )
    .await;
    assert_eq!(job.state, "done", "{:?}", job.error);
    assert_eq!(job.result.unwrap()["rows"]["hydrastor_alerts"], 1);
}

fn job_of(delivered: &shared_modules::mail::Delivered) -> i64 {
    match delivered {
        shared_modules::mail::Delivered::Stored { job_id, .. }
        | shared_modules::mail::Delivered::Quarantined { job_id, .. }
        | shared_modules::mail::Delivered::Duplicate { job_id } => *job_id,
    }
}

//! A slow object store must not starve the database pool: the trigger holds no pooled
//! connection while it downloads (20 slow triggers once answered 503 "database unavailable"
//! with a healthy database). Real moto behind a proxy that slows its answers down, the
//! real `aws` CLI and curl against `dataprocessor serve` with a small pool.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use shared_modules::config::CustomerConfig;
use shared_modules::testing::{TestDb, test_config};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Forwards to `upstream`, passing the answers back 8 KiB per 250 ms.
async fn slow_proxy(upstream: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let mut buffer = vec![0u8; 8 * 1024];
                while let Ok(n) = server_read.read(&mut buffer).await {
                    if n == 0 || client_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_downloads_do_not_take_the_database_pool() {
    let (_moto, moto) = start_moto().await;
    let moto_port: u16 = moto.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        aws(&moto, &["s3", "mb", "s3://veritas2hview"])
            .status
            .success()
    );
    let dir = tempfile::tempdir().unwrap();
    // About 2 s each through the proxy: 64 KiB at 8 KiB per 250 ms.
    let export = dir.path().join("jobs.txt");
    std::fs::write(&export, vec![b'\n'; 64 * 1024]).unwrap();
    const TRIGGERS: usize = 8;
    for i in 0..TRIGGERS {
        let key = format!("s3://veritas2hview/bobs_burgers/fryer_grid/{i}.txt");
        assert!(
            aws(&moto, &["s3", "cp", export.to_str().unwrap(), &key])
                .status
                .success()
        );
    }

    let db = TestDb::new().await;
    let api_port = free_port();
    let mut config = test_config(&db.url, &dir.path().join("mailbox"));
    config.api.listen = format!("127.0.0.1:{api_port}");
    config.s3.mode = shared_modules::config::S3Mode::External;
    config.s3.endpoint = format!("http://127.0.0.1:{}", slow_proxy(moto_port).await);
    config.s3.access_key_id = "accessKey1".into();
    config.s3.secret_access_key = "verySecretKey1".into();
    // Fewer connections than concurrent triggers, and little patience for one.
    config.database.pool_size = 3;
    config.database.connect_timeout_seconds = 1;
    config.workers.concurrency = 1;
    config.customers = vec![CustomerConfig {
        name: "bobs_burgers".into(),
        addresses: vec![],
        allowed_senders: vec![],
    }];
    let _serve = start_serve(dir.path(), &config).await;
    let url = format!("http://127.0.0.1:{api_port}/api/1.0");
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..TRIGGERS)
            .map(|i| {
                let url = &url;
                s.spawn(move || curl_trigger(url, &format!("bobs_burgers/fryer_grid/{i}.txt")))
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for (status, body) in &answers {
        assert_eq!(*status, 202, "{body}");
    }
}

/// An object store that accepts connections and never answers: the trigger is a 503 naming
/// the store within the 10 s read timeout (it once waited 120 s), and nothing is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_object_store_is_a_503_soon() {
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_port = hung.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = hung.accept().await {
            open.push(socket);
        }
    });
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let api_port = free_port();
    let mut config = test_config(&db.url, &dir.path().join("mailbox"));
    config.api.listen = format!("127.0.0.1:{api_port}");
    config.s3.mode = shared_modules::config::S3Mode::External;
    config.s3.endpoint = format!("http://127.0.0.1:{hung_port}");
    config.customers = vec![CustomerConfig {
        name: "bobs_burgers".into(),
        addresses: vec![],
        allowed_senders: vec![],
    }];
    let _serve = start_serve(dir.path(), &config).await;
    let started = std::time::Instant::now();
    let (status, body) = curl_trigger(
        &format!("http://127.0.0.1:{api_port}/api/1.0"),
        "bobs_burgers/fryer_grid/dump.tar.gz",
    );
    let waited = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("object store is unavailable"), "{body}");
    // Far from the 120 s it once took; the bound is the timeouts', not a speed target.
    assert!(
        waited < Duration::from_secs(30),
        "answered after {waited:?}"
    );
    let mut conn = db.pool().get().await.unwrap();
    let page = shared_modules::jobs::list_jobs(
        &mut conn,
        &shared_modules::jobs::JobFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(page.jobs.is_empty(), "nothing is queued");
    held.abort();
}

//! `hydrastor/veritas2hview`: NetBackup exports a customer uploaded for a grid. See README.md.

mod blocks;
pub mod bpdbjobs;
mod bperror;
mod bpimagelist;
pub mod columns;
pub mod reader;
pub mod sniff;
pub mod store;

use columns::Batch;
use diesel_async::AsyncPgConnection;
use reader::FileReport;
use serde_json::{Map, Value, json};
use shared_modules::archive::{self, Extracted};
use shared_modules::jobs::{JobContext, JobFailure, JobHandler};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

pub struct Veritas2HviewModule;

/// The first non-empty line of a file (within its first 64 KiB).
fn first_line(path: &Path) -> std::io::Result<String> {
    let mut head = Vec::new();
    std::fs::File::open(path)?
        .take(64 * 1024)
        .read_to_end(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    Ok(text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string())
}

/// The uploaded file in the job's directory (named in `meta.json`).
fn upload_in(dir: &Path) -> Result<(std::path::PathBuf, String), JobFailure> {
    let meta: Value = std::fs::read_to_string(dir.join("meta.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| {
            JobFailure::permanent("meta.json is missing: not an upload made by the API")
        })?;
    let file = meta["file"]
        .as_str()
        .ok_or_else(|| JobFailure::permanent("meta.json names no file"))?;
    let original = meta["original_name"].as_str().unwrap_or(file).to_string();
    Ok((dir.join(file), original))
}

impl JobHandler for Veritas2HviewModule {
    async fn run(
        &self,
        ctx: &JobContext,
        conn: &mut AsyncPgConnection,
    ) -> Result<serde_json::Value, JobFailure> {
        let job = &ctx.job;
        let dir = ctx.files()?.to_path_buf();
        let (upload, original) = upload_in(&dir)?;
        let limits = ctx.config.archives;
        let dest = dir.join("extracted");
        let files = tokio::task::spawn_blocking(
            move || -> Result<Vec<Extracted>, archive::ExtractError> {
                std::fs::create_dir_all(&dest)?;
                archive::extract(&upload, &original, &dest, limits)
            },
        )
        .await
        .map_err(|e| JobFailure::transient(e.to_string()))?
        .map_err(|e| {
            if e.is_permanent() {
                JobFailure::permanent(e.to_string())
            } else {
                JobFailure::transient(e.to_string())
            }
        })?;

        let owner = store::Owner {
            customer: &job.customer,
            grid: &job.job_group,
            job_id: job.id,
        };
        let mut rows: Map<String, Value> = Map::new();
        let mut reports = Vec::new();
        let mut skipped = Vec::new();
        for file in files {
            let line = first_line(&file.path).map_err(|e| JobFailure::transient(e.to_string()))?;
            let Some(format) = sniff::sniff(&line) else {
                skipped.push(
                    json!({ "file": file.original, "reason": "not a recognised NetBackup export" }),
                );
                continue;
            };
            let report = read_and_store(conn, &owner, &file, format, &mut rows).await?;
            if report.records == 0 && report.bad_records > 0 {
                return Err(JobFailure::permanent(format!(
                    "{}: no record could be read ({})",
                    report.file,
                    report.first_bad.join("; ")
                )));
            }
            reports.push(report);
        }
        let bad: u64 = reports.iter().map(|r| r.bad_records).sum();
        Ok(json!({ "files": reports, "skipped": skipped, "bad_records": bad, "rows": rows }))
    }
}

/// Parses `file` on a blocking thread and upserts its batches here as they come: at most a
/// few batches are in memory whatever the file's size.
async fn read_and_store(
    conn: &mut AsyncPgConnection,
    owner: &store::Owner<'_>,
    file: &Extracted,
    format: sniff::Format,
    rows: &mut Map<String, Value>,
) -> Result<FileReport, JobFailure> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let path = file.path.clone();
    let name = file.original.clone();
    let parser = tokio::task::spawn_blocking(move || -> std::io::Result<FileReport> {
        let reader: Box<dyn BufRead> = Box::new(BufReader::with_capacity(
            256 * 1024,
            std::fs::File::open(&path)?,
        ));
        Ok(reader::read(reader, &name, format, tx))
    });
    while let Some(batch) = rx.recv().await {
        let table = batch.spec.table;
        let written = store::upsert(conn, owner, batch).await?;
        let entry = rows.entry(table).or_insert(json!(0));
        *entry = json!(entry.as_u64().unwrap_or(0) + written as u64);
    }
    let report = parser
        .await
        .map_err(|e| JobFailure::transient(e.to_string()))?
        .map_err(|e| JobFailure::transient(format!("{}: {e}", file.original)))?;
    match &report.stopped {
        Some(why) => Err(JobFailure::permanent(format!("{}: {why}", file.original))),
        None => Ok(report),
    }
}

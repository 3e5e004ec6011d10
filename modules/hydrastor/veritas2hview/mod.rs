//! `hydrastor/veritas2hview`: NetBackup exports a customer uploaded for a grid. See README.md.

mod blocks;
pub mod bpdbjobs;
mod bperror;
mod bpimagelist;
pub mod columns;
pub mod digest;
pub mod known_records;
pub mod new_rows;
pub mod reader;
mod serialize;
pub mod sniff;
pub mod spec;
pub mod store;

use columns::Batch;
use diesel_async::AsyncPgConnection;
use known_records::KnownRecords;
use new_rows::NewRows;
use reader::FileReport;
use serde_json::{Map, Value, json};
use shared_modules::archive::{self, Extracted};
use shared_modules::io_count::CountingReader;
use shared_modules::jobs::{JobContext, JobFailure, JobHandler};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
        let stop = ctx.attempt.cancel.clone();
        ctx.progress(json!({ "step": "extracting", "file": original }));
        let files = tokio::task::spawn_blocking(
            move || -> Result<Vec<Extracted>, archive::ExtractError> {
                std::fs::create_dir_all(&dest)?;
                archive::extract_until(&upload, &original, &dest, limits, &stop)
            },
        )
        .await
        .map_err(JobFailure::from_join)?
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
        let mut progress = Progress::default();
        let mut reports = Vec::new();
        let mut skipped = Vec::new();
        for file in files {
            let line = first_line(&file.path).map_err(|e| JobFailure::transient(e.to_string()))?;
            let Some(format) = sniff::sniff(&line) else {
                skipped.push(Skipped {
                    file: file.original.clone(),
                    reason: not_recognised(&line),
                });
                continue;
            };
            let report = read_and_store(ctx, conn, &owner, &file, format, &mut progress).await?;
            if report.records == 0 && report.bad_records > 0 {
                return Err(JobFailure::permanent(format!(
                    "{}: no record could be read ({})",
                    report.file,
                    report.first_bad.join("; ")
                )));
            }
            reports.push(report);
        }
        if reports.is_empty() {
            return Err(JobFailure::permanent(nothing_recognised(&skipped)));
        }
        let bad: u64 = reports.iter().map(|r| r.bad_records).sum();
        let unchanged_records: u64 = reports.iter().map(|r| r.unchanged_records).sum();
        Ok(json!({
            "files": reports,
            "skipped": skipped,
            "bad_records": bad,
            "rows": progress.rows,
            "unchanged": progress.unchanged,
            "unchanged_records": unchanged_records,
        }))
    }
}

/// A file of the upload that holds no NetBackup export, and why.
#[derive(Debug, serde::Serialize)]
struct Skipped {
    file: String,
    reason: String,
}

fn not_recognised(first_line: &str) -> String {
    if first_line.is_empty() {
        return "empty, or no text in its first 64 KiB".into();
    }
    if first_line
        .chars()
        .take(60)
        .any(|c| c.is_control() && c != '\t' || c == '\u{FFFD}')
    {
        // Binary: quoting it only puts noise (or NUL) into the error an operator reads.
        return "not a recognised NetBackup export (binary, not text)".into();
    }
    let shown: String = first_line.chars().take(60).collect();
    let cut = if shown.len() < first_line.len() {
        "…"
    } else {
        ""
    };
    format!("not a recognised NetBackup export (first line `{shown}{cut}`)")
}

/// The job's error when no file of the upload was an export: each file found and why.
fn nothing_recognised(skipped: &[Skipped]) -> String {
    if skipped.is_empty() {
        return "the upload holds no file".into();
    }
    const SHOWN: usize = 20;
    let mut listed: Vec<String> = skipped
        .iter()
        .take(SHOWN)
        .map(|s| format!("{}: {}", s.file, s.reason))
        .collect();
    if skipped.len() > SHOWN {
        listed.push(format!("and {} more", skipped.len() - SHOWN));
    }
    format!(
        "no NetBackup export recognised in the upload; {} file(s) skipped: {}",
        skipped.len(),
        listed.join("; ")
    )
}

/// What the job reports while it runs: the rows it wrote per table, and those it found
/// stored as they are (not written).
#[derive(Default)]
struct Progress {
    rows: Map<String, Value>,
    unchanged: Map<String, Value>,
    files_done: u64,
}

fn add(counts: &mut Map<String, Value>, table: &str, n: usize) {
    let entry = counts.entry(table).or_insert(json!(0));
    *entry = json!(entry.as_u64().unwrap_or(0) + n as u64);
}

/// A batch that could not be stored. A key there after all (`write_batch`'s plain insert of
/// new rows; the upsert takes conflicts) means another job stored some of the customer's
/// rows while this one ran: the next attempt finds them and upserts.
fn stored_failure(table: &str, e: diesel::result::Error) -> JobFailure {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            JobFailure::transient(format!(
                "{table}: another job stored some of these rows while this one ran ({e}); the next attempt updates them"
            ))
        }
        e => e.into(),
    }
}

/// Parses `file` on a blocking thread and upserts its batches here as they come: at most a
/// few batches are in memory whatever the file's size.
/// Between batches it reports progress and stops if the job was cancelled (the error rolls
/// the transaction back; the parser stops when its channel closes).
async fn read_and_store(
    ctx: &JobContext,
    conn: &mut AsyncPgConnection,
    owner: &store::Owner<'_>,
    file: &Extracted,
    format: sniff::Format,
    progress: &mut Progress,
) -> Result<FileReport, JobFailure> {
    let known = match format {
        sniff::Format::BpdbjobsReport => {
            KnownRecords::load(conn, owner.customer, owner.grid).await?
        }
        _ => KnownRecords::default(),
    };
    // A later attempt upserts: whatever made the first fail, a key met again cannot fail it.
    let mut new_rows = if ctx.job.attempts <= 1 {
        NewRows::load(conn, owner.customer, &spec::ALL).await?
    } else {
        NewRows::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let path = file.path.clone();
    let name = file.original.clone();
    let bytes_read = Arc::new(AtomicU64::new(0));
    let counter = bytes_read.clone();
    let parser = tokio::task::spawn_blocking(move || -> std::io::Result<FileReport> {
        let file = CountingReader::new(std::fs::File::open(&path)?, counter);
        let reader: Box<dyn BufRead> = Box::new(BufReader::with_capacity(256 * 1024, file));
        Ok(reader::read_skipping(reader, &name, format, known, tx))
    });
    // Unchanged records send no batch: the progress (and a cancellation) also come with a
    // tick, or a re-export of nothing but known records would look stuck.
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                ctx.check_cancelled()?;
                let table = batch.spec.table;
                let stored = store::write_batch(conn, owner, batch, &mut new_rows)
                    .await
                    .map_err(|e| stored_failure(table, e))?;
                add(&mut progress.rows, table, stored.written);
                add(&mut progress.unchanged, table, stored.unchanged);
            }
            _ = tick.tick() => ctx.check_cancelled()?,
        }
        ctx.progress(json!({
            "step": "storing",
            "file": file.original,
            "bytes_read": bytes_read.load(Ordering::Relaxed),
            "bytes_total": file.bytes,
            "files_done": progress.files_done,
            "rows": progress.rows,
            "unchanged": progress.unchanged,
        }));
    }
    progress.files_done += 1;
    let report = parser
        .await
        .map_err(JobFailure::from_join)?
        .map_err(|e| JobFailure::transient(format!("{}: {e}", file.original)))?;
    if report.unchanged_records > 0 {
        // A record read past is its job row found as stored (its tries are not counted).
        let n = usize::try_from(report.unchanged_records).unwrap_or(usize::MAX);
        add(&mut progress.unchanged, spec::JOBS.table, n);
        add(&mut progress.rows, spec::JOBS.table, 0);
        add(&mut progress.rows, spec::TRIES.table, 0);
    }
    match &report.stopped {
        Some(why) => Err(JobFailure::permanent(format!("{}: {why}", file.original))),
        None => Ok(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    #[test]
    fn a_key_met_by_a_plain_insert_is_tried_again_and_says_why() {
        let met = Error::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key value violates unique constraint".to_string()),
        );
        let JobFailure::Transient(why) = stored_failure("netbackup_jobs", met) else {
            panic!("tried again");
        };
        assert!(
            why.starts_with("netbackup_jobs: another job stored"),
            "{why}"
        );
        assert!(why.contains("duplicate key"), "{why}");
    }
}

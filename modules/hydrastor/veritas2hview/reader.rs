//! Reading one recognised export file as a stream of row batches (bounded memory: a few
//! thousand rows at a time), counting the records that cannot be read.

use super::columns::{Batch, Columns};
use super::sniff::Format;
use super::store::{self, TableSpec};
use super::{blocks, bpdbjobs, bperror, bpimagelist};
use serde_json::{Value, json};
use std::io::BufRead;
use tokio::sync::mpsc::Sender;

/// Rows per statement: larger batches spend less on round trips; memory stays a few MB.
pub const BATCH_ROWS: usize = 5000;
const SHOWN_BAD_RECORDS: usize = 5;

/// What reading one file gave.
#[derive(Debug, Default, serde::Serialize)]
pub struct FileReport {
    pub file: String,
    pub format: Option<Format>,
    pub records: u64,
    pub bad_records: u64,
    /// The first few unreadable records: `line N: reason`.
    pub first_bad: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Value>,
    /// Why reading stopped before the end, when a parsed row could not be stored: the
    /// job fails with it rather than store part of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl FileReport {
    fn bad(&mut self, line: usize, reason: impl std::fmt::Display) {
        self.bad_records += 1;
        if self.first_bad.len() < SHOWN_BAD_RECORDS {
            self.first_bad.push(format!("line {line}: {reason}"));
        }
    }
}

/// Buffers rows per table and sends full batches; `None` once the receiver is gone or a
/// row could not be added (`stopped` says why).
struct Out {
    tx: Sender<Batch>,
    pending: Vec<Columns>,
    stopped: Option<String>,
}

/// A row as the parsers give it: a struct, or a JSON object for the block formats.
enum Row<'a, T> {
    Struct(&'a T),
    Object(&'a Value),
}

impl Out {
    fn push(&mut self, spec: &'static TableSpec, row: &impl serde::Serialize) -> Option<()> {
        self.add(spec, Row::Struct(row))
    }

    fn push_object(&mut self, spec: &'static TableSpec, row: &Value) -> Option<()> {
        self.add::<()>(spec, Row::Object(row))
    }

    fn add<T: serde::Serialize>(
        &mut self,
        spec: &'static TableSpec,
        row: Row<'_, T>,
    ) -> Option<()> {
        let slot = match self.pending.iter().position(|c| std::ptr::eq(c.spec, spec)) {
            Some(i) => i,
            None => {
                self.pending.push(Columns::new(spec));
                self.pending.len() - 1
            }
        };
        let columns = &mut self.pending[slot];
        // The parsers' own types always fit their tables: a failure here is a bug, not
        // bad input, and stops the reading.
        let added = match row {
            Row::Struct(row) => columns.push(row),
            Row::Object(row) => columns.push_object(row),
        };
        if let Err(e) = added {
            self.stopped = Some(format!("a parsed row does not fit {}: {e}", spec.table));
            return None;
        }
        if columns.len() >= BATCH_ROWS {
            let full = std::mem::replace(columns, Columns::new(spec));
            self.tx.blocking_send(full.finish()).ok()?;
        }
        Some(())
    }

    fn flush(&mut self) -> Option<()> {
        for columns in self.pending.drain(..) {
            if !columns.is_empty() {
                self.tx.blocking_send(columns.finish()).ok()?;
            }
        }
        Some(())
    }
}

/// Lines with their 1-based numbers, CR removed, invalid UTF-8 replaced.
fn lines(reader: impl BufRead) -> impl Iterator<Item = (usize, String)> {
    reader.split(b'\n').enumerate().map_while(|(i, bytes)| {
        let bytes = bytes.ok()?;
        let text = String::from_utf8_lossy(&bytes);
        Some((i + 1, text.strip_suffix('\r').unwrap_or(&text).to_string()))
    })
}

pub fn read(reader: impl BufRead, file: &str, format: Format, tx: Sender<Batch>) -> FileReport {
    let mut report = FileReport {
        file: file.to_string(),
        format: Some(format),
        ..Default::default()
    };
    let mut out = Out {
        tx,
        pending: Vec::new(),
        stopped: None,
    };
    let finished = match format {
        Format::BpdbjobsReport => jobs(reader, &mut report, &mut out),
        Format::Bpimagelist => images(reader, &mut report, &mut out),
        Format::BperrorBackstat => backstat(reader, &mut report, &mut out),
        Format::NbdevqueryDisk | Format::NbdevqueryStorageServer | Format::Bpstulist => {
            label_blocks(reader, format, &mut report, &mut out)
        }
        Format::BpdbjobsSummary => {
            report.summary = Some(summary(reader));
            report.records = 1;
            Some(())
        }
    };
    finished.and_then(|()| out.flush());
    report.stopped = out.stopped;
    report
}

/// Records may continue on the next line (a newline inside a status text): while the
/// grammar walk says a record is incomplete, the next line is joined to it.
fn jobs(reader: impl BufRead, report: &mut FileReport, out: &mut Out) -> Option<()> {
    const MAX_JOINED_LINES: usize = 20;
    struct Pending {
        start: usize,
        text: String,
        joined: usize,
        walked: Result<bpdbjobs::Job, bpdbjobs::WalkError>,
    }
    fn emit(pending: Pending, report: &mut FileReport, out: &mut Out) -> Option<()> {
        match pending.walked {
            Ok(job) => {
                report.records += 1;
                for t in &job.tries {
                    out.push(&store::TRIES, t)?;
                }
                out.push(&store::JOBS, &job)
            }
            Err(bpdbjobs::WalkError::Incomplete) => {
                report.bad(
                    pending.start,
                    "the record ends before its file list or try blocks do",
                );
                Some(())
            }
            Err(bpdbjobs::WalkError::Invalid(reason)) => {
                report.bad(pending.start, reason);
                Some(())
            }
        }
    }
    let mut pending: Option<Pending> = None;
    for (number, line) in lines(reader) {
        if let Some(p) = pending.as_mut() {
            let incomplete = matches!(p.walked, Err(bpdbjobs::WalkError::Incomplete));
            if incomplete && p.joined < MAX_JOINED_LINES && !line.trim().is_empty() {
                p.text.push('\n');
                p.text.push_str(&line);
                p.joined += 1;
                p.walked = bpdbjobs::walk(&bpdbjobs::split(&p.text));
                continue;
            }
            emit(pending.take()?, report, out)?;
        }
        if bpdbjobs::starts_record(&line) {
            let walked = bpdbjobs::walk(&bpdbjobs::split(&line));
            pending = Some(Pending {
                start: number,
                text: line,
                joined: 0,
                walked,
            });
        } else if !line.trim().is_empty() {
            report.bad(
                number,
                "not a bpdbjobs record (does not start with `<jobid>,`)",
            );
        }
    }
    if let Some(p) = pending {
        emit(p, report, out)?;
    }
    Some(())
}

fn images(reader: impl BufRead, report: &mut FileReport, out: &mut Out) -> Option<()> {
    let mut current: Option<String> = None;
    for (number, line) in lines(reader) {
        let keyword = line.split_whitespace().next().unwrap_or("");
        match keyword {
            "IMAGE" => match bpimagelist::image(&line) {
                Ok(image) => {
                    report.records += 1;
                    current = Some(image.backup_id.clone());
                    out.push(&store::IMAGES, &image)?;
                }
                Err(e) => {
                    current = None;
                    report.bad(number, e);
                }
            },
            "FRAG" => match current
                .as_deref()
                .map(|id| bpimagelist::fragment(&line, id))
            {
                Some(Ok(fragment)) => out.push(&store::FRAGMENTS, &fragment)?,
                Some(Err(e)) => report.bad(number, e),
                None => report.bad(number, "FRAG line without a readable IMAGE line before it"),
            },
            "HISTO" | "" => {}
            other => report.bad(number, format!("unexpected line starting with `{other}`")),
        }
    }
    Some(())
}

fn backstat(reader: impl BufRead, report: &mut FileReport, out: &mut Out) -> Option<()> {
    let mut last: Option<bperror::Backstat> = None;
    for (number, line) in lines(reader) {
        if let Some(text) = bperror::status_text(&line) {
            if let Some(row) = last.as_mut() {
                row.status_text = Some(text);
            }
            continue;
        }
        match bperror::row(&line) {
            Ok(Some(row)) => {
                if let Some(previous) = last.replace(row) {
                    out.push(&store::BACKSTAT, &previous)?;
                }
                report.records += 1;
            }
            Ok(None) => {}
            Err(e) => report.bad(number, e),
        }
    }
    if let Some(row) = last {
        out.push(&store::BACKSTAT, &row)?;
    }
    Some(())
}

fn label_blocks(
    reader: impl BufRead,
    format: Format,
    report: &mut FileReport,
    out: &mut Out,
) -> Option<()> {
    let all: Vec<(usize, String)> = lines(reader).collect();
    let first_label = match format {
        Format::NbdevqueryDisk => "disk pool name",
        Format::NbdevqueryStorageServer => "storage server",
        _ => "label",
    };
    for block in blocks::blocks(all.iter().map(|(n, l)| (*n, l.as_str())), first_label) {
        match block_row(&block, format) {
            Ok((spec, row)) => {
                report.records += 1;
                out.push_object(spec, &row)?;
            }
            Err(e) => report.bad(block.line, e),
        }
    }
    Some(())
}

fn int(block: &blocks::Block, labels: &[&str]) -> Result<Option<i64>, String> {
    match block.any(labels) {
        None => Ok(None),
        Some(v) => v
            .split_whitespace()
            .next()
            .unwrap_or("")
            .parse()
            .map(Some)
            .map_err(|_| format!("{} `{v}` is not a number", labels[0])),
    }
}

fn block_row(b: &blocks::Block, format: Format) -> Result<(&'static TableSpec, Value), String> {
    let gb = |labels: &[&str]| {
        b.any(labels)
            .map(|v| blocks::gigabytes(&v))
            .transpose()
            .map(Option::flatten)
    };
    match format {
        Format::NbdevqueryDisk if b.get("disk volume name").is_some() => Ok((
            &store::DISK_VOLUMES,
            json!({
                "disk_pool": b.get("disk pool name").ok_or("no Disk Pool Name")?,
                "volume_name": b.get("disk volume name"),
                "disk_type": b.get("disk type"),
                "total_bytes": gb(&["total capacity (gb)"])?,
                "free_bytes": gb(&["free space (gb)"])?,
                "used_percent": b.get("use%").and_then(|v| v.trim_end_matches('%').parse::<f64>().ok()),
                "status": b.get("status"),
            }),
        )),
        Format::NbdevqueryDisk => Ok((
            &store::DISK_POOLS,
            json!({
                "disk_pool": b.get("disk pool name").ok_or("no Disk Pool Name")?,
                "disk_type": b.get("disk type"),
                "status": b.get("status"),
                "raw_bytes": gb(&["raw size (gb)"])?,
                "usable_bytes": gb(&["usable size (gb)"])?,
                "num_volumes": int(b, &["num volumes"])?,
                "high_watermark": int(b, &["high watermark"])?,
                "low_watermark": int(b, &["low watermark"])?,
            }),
        )),
        Format::NbdevqueryStorageServer => Ok((
            &store::STORAGE_SERVERS,
            json!({
                "storage_server": b.get("storage server").ok_or("no Storage Server")?,
                "server_type": b.get("storage server type"),
                "storage_type": b.get("storage type"),
                "state": b.get("state"),
                "flags": b.fields.get("flag").cloned().unwrap_or_default(),
            }),
        )),
        _ => Ok((
            &store::STORAGE_UNITS,
            json!({
                "label": b.get("label").ok_or("no Label")?,
                "unit_type": b.any(&["storage unit type", "stu type"]),
                "host": b.any(&["host connection", "media server"]),
                "disk_pool": b.any(&["disk pool", "disk pool name"]),
                "disk_type": b.get("disk type"),
                "max_concurrent_jobs": int(b, &["concurrent jobs", "max concurrent jobs", "maximum concurrent jobs"])?,
            }),
        )),
    }
}

/// `bpdbjobs -summary -l`: the master and its counters.
fn summary(reader: impl BufRead) -> Value {
    let mut out = serde_json::Map::new();
    for (_, line) in lines(reader) {
        if let Some(master) = line.trim().strip_prefix("Summary of jobs on") {
            out.insert("master_server".into(), json!(master.trim()));
        } else if let Some((label, value)) = line.split_once(':') {
            let key = label.trim().to_lowercase().replace([' ', '-'], "_");
            out.insert(
                key,
                value
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or(json!(value.trim())),
            );
        }
    }
    Value::Object(out)
}

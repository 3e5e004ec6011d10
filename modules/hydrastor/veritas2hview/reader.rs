//! Reading one recognised export file as a stream of row batches (bounded memory: a few
//! thousand rows at a time), counting the records that cannot be read.

use super::columns::{BATCH_ROWS, Batch, Columns};
use super::digest::{self, Digest};
use super::known_records::KnownRecords;
use super::sniff::Format;
use super::spec::{self, TableSpec};
use super::{blocks, bpdbjobs, bperror, bpimagelist};
use serde_json::{Value, json};
use std::io::BufRead;
use tokio::sync::mpsc::Sender;

const SHOWN_BAD_RECORDS: usize = 5;

/// What reading one file gave.
#[derive(Debug, Default, serde::Serialize)]
pub struct FileReport {
    pub file: String,
    pub format: Option<Format>,
    pub records: u64,
    /// Records found stored as they are (a re-export's): neither parsed nor written.
    #[serde(skip_serializing_if = "is_zero")]
    pub unchanged_records: u64,
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

fn is_zero(n: &u64) -> bool {
    *n == 0
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
    /// Every row sent is new or changed (see `Batch::changed_only`).
    changed_only: bool,
}

/// A row as the parsers give it: a struct, or a JSON object for the block formats.
enum Row<'a, T> {
    Struct(&'a T),
    Object(&'a Value),
}

impl Out {
    fn push(&mut self, spec: &'static TableSpec, row: &impl serde::Serialize) -> Option<()> {
        self.add(spec, Row::Struct(row), None)
    }

    /// A row written from a record of this digest.
    fn push_from(
        &mut self,
        spec: &'static TableSpec,
        row: &impl serde::Serialize,
        record: Digest,
    ) -> Option<()> {
        self.add(spec, Row::Struct(row), Some(record))
    }

    fn push_object(&mut self, spec: &'static TableSpec, row: &Value) -> Option<()> {
        self.add::<()>(spec, Row::Object(row), None)
    }

    fn add<T: serde::Serialize>(
        &mut self,
        spec: &'static TableSpec,
        row: Row<'_, T>,
        record: Option<Digest>,
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
            Row::Struct(row) => columns.push_from(row, record),
            Row::Object(row) => columns.push_object(row),
        };
        if let Err(e) = added {
            self.stopped = Some(format!("a parsed row does not fit {}: {e}", spec.table));
            return None;
        }
        if columns.len() >= BATCH_ROWS {
            let full = std::mem::replace(columns, Columns::new(spec));
            self.send(full)?;
        }
        Some(())
    }

    fn flush(&mut self) -> Option<()> {
        for columns in std::mem::take(&mut self.pending) {
            if !columns.is_empty() {
                self.send(columns)?;
            }
        }
        Some(())
    }

    fn send(&self, columns: Columns) -> Option<()> {
        let mut batch = columns.finish();
        batch.changed_only = self.changed_only;
        self.tx.blocking_send(batch).ok()
    }
}

/// The longest line kept: a longer one is reported and skipped without being held, so a
/// hostile file of one huge line costs no more memory than this.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// A line longer than [`MAX_LINE_BYTES`] (its length).
pub struct TooLong(u64);

/// Lines with their 1-based numbers, CR removed, invalid UTF-8 replaced; a read error ends
/// them.
fn lines(mut reader: impl BufRead) -> impl Iterator<Item = (usize, Result<String, TooLong>)> {
    let mut number = 0;
    let mut buffer = Vec::new();
    std::iter::from_fn(move || {
        let line = next_line(&mut reader, &mut buffer, MAX_LINE_BYTES).ok()??;
        number += 1;
        Some((
            number,
            line.map(|()| {
                let text = String::from_utf8_lossy(&buffer);
                text.strip_suffix('\r').unwrap_or(&text).to_string()
            }),
        ))
    })
}

/// Reads one line (without its `\n`) into `buffer`; None at the end, `Err(TooLong)` for a
/// line over `max` bytes, whose bytes are read past, not kept.
fn next_line(
    reader: &mut impl BufRead,
    buffer: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<Result<(), TooLong>>> {
    buffer.clear();
    let mut length = 0u64;
    let mut started = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        started = true;
        let (chunk, consumed, ended) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        length += chunk.len() as u64;
        if length <= max as u64 {
            buffer.extend_from_slice(chunk);
        } else {
            buffer.clear();
        }
        reader.consume(consumed);
        if ended {
            break;
        }
    }
    if !started {
        return Ok(None);
    }
    Ok(Some(if length > max as u64 {
        Err(TooLong(length))
    } else {
        Ok(())
    }))
}

impl FileReport {
    /// The line's text, or None after recording why it cannot be read.
    fn readable(&mut self, number: usize, line: Result<String, TooLong>) -> Option<String> {
        match line {
            Ok(text) => Some(text),
            Err(TooLong(length)) => {
                self.bad(
                    number,
                    format!("line of {length} bytes is longer than {MAX_LINE_BYTES}; skipped"),
                );
                None
            }
        }
    }
}

pub fn read(reader: impl BufRead, file: &str, format: Format, tx: Sender<Batch>) -> FileReport {
    read_skipping(reader, file, format, KnownRecords::default(), tx)
}

/// As `read`, skipping the bpdbjobs records `known` holds as stored.
pub fn read_skipping(
    reader: impl BufRead,
    file: &str,
    format: Format,
    mut known: KnownRecords,
    tx: Sender<Batch>,
) -> FileReport {
    let mut report = FileReport {
        file: file.to_string(),
        format: Some(format),
        ..Default::default()
    };
    let mut out = Out {
        tx,
        pending: Vec::new(),
        stopped: None,
        // Records not skipped are not stored as they are, when every stored one was known.
        changed_only: format == Format::BpdbjobsReport && known.complete(),
    };
    let finished = match format {
        Format::BpdbjobsReport => jobs(reader, &mut report, &mut out, &mut known),
        Format::Bpimagelist => images(reader, &mut report, &mut out),
        Format::BperrorBackstat => backstat(reader, &mut report, &mut out),
        Format::NbdevqueryDisk | Format::NbdevqueryStorageServer | Format::Bpstulist => {
            label_blocks(reader, format, &mut report, &mut out)
        }
        Format::BpdbjobsSummary => {
            report.summary = Some(summary(reader, &mut report));
            report.records = 1;
            Some(())
        }
    };
    finished.and_then(|()| out.flush());
    report.stopped = out.stopped;
    report
}

/// Records may continue on the next line (a newline inside a status text): while the
/// grammar walk says a record is incomplete, the next line is joined to it. A record `known`
/// holds as stored is counted and skipped: a one-line record before it is even parsed.
fn jobs(
    reader: impl BufRead,
    report: &mut FileReport,
    out: &mut Out,
    known: &mut KnownRecords,
) -> Option<()> {
    const MAX_JOINED_LINES: usize = 20;
    struct Pending {
        start: usize,
        text: String,
        digest: Digest,
        joined: usize,
        walked: Result<bpdbjobs::Job, bpdbjobs::WalkError>,
    }
    fn emit(
        pending: Pending,
        report: &mut FileReport,
        out: &mut Out,
        known: &mut KnownRecords,
    ) -> Option<()> {
        match pending.walked {
            Ok(job) => {
                report.records += 1;
                if pending.joined > 0 && known.unchanged(&pending.digest) {
                    report.unchanged_records += 1;
                    return Some(());
                }
                known.writing(job.job_id);
                for t in &job.tries {
                    out.push_from(&spec::TRIES, t, pending.digest)?;
                }
                out.push_from(&spec::JOBS, &job, pending.digest)
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
        let Some(line) = report.readable(number, line) else {
            continue;
        };
        if let Some(p) = pending.as_mut() {
            let incomplete = matches!(p.walked, Err(bpdbjobs::WalkError::Incomplete));
            if incomplete && p.joined < MAX_JOINED_LINES && !line.trim().is_empty() {
                p.text.push('\n');
                p.text.push_str(&line);
                p.joined += 1;
                p.walked = bpdbjobs::walk(&bpdbjobs::split(&p.text));
                p.digest = digest::of_record(&p.text);
                continue;
            }
            emit(pending.take()?, report, out, known)?;
        }
        if bpdbjobs::starts_record(&line) {
            let digest = digest::of_record(&line);
            // Stored from this very line, it was a whole record then and is one now.
            if known.unchanged(&digest) {
                report.records += 1;
                report.unchanged_records += 1;
                continue;
            }
            let walked = bpdbjobs::walk(&bpdbjobs::split(&line));
            pending = Some(Pending {
                start: number,
                text: line,
                digest,
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
        emit(p, report, out, known)?;
    }
    Some(())
}

fn images(reader: impl BufRead, report: &mut FileReport, out: &mut Out) -> Option<()> {
    let mut current: Option<String> = None;
    for (number, line) in lines(reader) {
        let Some(line) = report.readable(number, line) else {
            continue;
        };
        let keyword = line.split_whitespace().next().unwrap_or("");
        match keyword {
            "IMAGE" => match bpimagelist::image(&line) {
                Ok(image) => {
                    report.records += 1;
                    current = Some(image.backup_id.clone());
                    out.push(&spec::IMAGES, &image)?;
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
                Some(Ok(fragment)) => out.push(&spec::FRAGMENTS, &fragment)?,
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
        let Some(line) = report.readable(number, line) else {
            continue;
        };
        if let Some(text) = bperror::status_text(&line) {
            if let Some(row) = last.as_mut() {
                row.status_text = Some(text);
            }
            continue;
        }
        match bperror::row(&line) {
            Ok(Some(row)) => {
                if let Some(previous) = last.replace(row) {
                    out.push(&spec::BACKSTAT, &previous)?;
                }
                report.records += 1;
            }
            Ok(None) => {}
            Err(e) => report.bad(number, e),
        }
    }
    if let Some(row) = last {
        out.push(&spec::BACKSTAT, &row)?;
    }
    Some(())
}

fn label_blocks(
    reader: impl BufRead,
    format: Format,
    report: &mut FileReport,
    out: &mut Out,
) -> Option<()> {
    let all: Vec<(usize, String)> = lines(reader)
        .filter_map(|(number, line)| Some((number, report.readable(number, line)?)))
        .collect();
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
            &spec::DISK_VOLUMES,
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
            &spec::DISK_POOLS,
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
            &spec::STORAGE_SERVERS,
            json!({
                "storage_server": b.get("storage server").ok_or("no Storage Server")?,
                "server_type": b.get("storage server type"),
                "storage_type": b.get("storage type"),
                "state": b.get("state"),
                "flags": b.fields.get("flag").cloned().unwrap_or_default(),
            }),
        )),
        _ => Ok((
            &spec::STORAGE_UNITS,
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
fn summary(reader: impl BufRead, report: &mut FileReport) -> Value {
    let mut out = serde_json::Map::new();
    for (number, line) in lines(reader) {
        let Some(line) = report.readable(number, line) else {
            continue;
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_huge_line_is_skipped_without_being_held() {
        let huge = std::io::repeat(b'x').take(64 * 1024 * 1024);
        let mut reader = std::io::BufReader::new(huge.chain(&b"\nnext\r\n"[..]));
        let mut buffer = Vec::new();
        let first = next_line(&mut reader, &mut buffer, MAX_LINE_BYTES).unwrap();
        assert!(matches!(first, Some(Err(TooLong(n))) if n == 64 * 1024 * 1024));
        assert!(
            buffer.capacity() <= 2 * MAX_LINE_BYTES,
            "{}",
            buffer.capacity()
        );
        let second = next_line(&mut reader, &mut buffer, MAX_LINE_BYTES).unwrap();
        assert!(matches!(second, Some(Ok(()))));
        assert_eq!(buffer, b"next\r");
        assert!(
            next_line(&mut reader, &mut buffer, MAX_LINE_BYTES)
                .unwrap()
                .is_none()
        );
    }
}

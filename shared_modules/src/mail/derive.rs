//! The files of a mail delivery derived from its raw message (`message.eml`): the bodies,
//! the attachments, `reason.txt` for quarantined mail, and `meta.json` (the job's metadata)
//! written last, so a delivery holding `meta.json` and no `.partial` file has them all.
//!
//! The ticket ingester writes them before it makes the job; a ticket whose files cannot be
//! written (a full disk) waits, as one does while the database is away. The worker writes
//! them again before the module runs when they are missing or partial (a job made before
//! that rule, or a file lost since), so such a job recovers on its next attempt.

use super::parts::{Extracted, extract};
use crate::db::storable_json;
use crate::inbox::at_path;
use crate::inbox::ticket::Ticket;
use crate::inbox::unique_name;
use crate::jobs::{EventPhase, JobContext, JobFailure, JobSource, JobState, NewEvent, Workspace};
use crate::jobs::{Step, StepStatus};
use serde_json::{Value, json};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The raw message as received, in the delivery's directory (its ticket holds it too).
pub const RAW_FILE: &str = "message.eml";
/// The job's metadata; written last of the derived files, it says they are all there.
pub const META_FILE: &str = "meta.json";
/// How the name of a file being written beside its final name ends.
const PARTIAL: &str = ".partial";

/// Writes what is derived from a raw message through `write`: bodies and attachments,
/// `reason.txt` when the mail is quarantined (`quarantined` is the reason), then `meta.json`.
pub fn write_derived(
    write: &dyn Fn(&str, &[u8]) -> io::Result<PathBuf>,
    extracted: Option<&Extracted>,
    metadata: &Value,
    quarantined: Option<&str>,
) -> io::Result<()> {
    if let Some(extracted) = extracted {
        for part in &extracted.parts {
            write(&part.relative, &part.bytes)?;
        }
    }
    if let Some(reason) = quarantined {
        write("reason.txt", format!("{reason}\n").as_bytes())?;
    }
    let meta = serde_json::to_string_pretty(metadata).unwrap_or_default();
    write(META_FILE, meta.as_bytes())?;
    Ok(())
}

/// The ingester's `Derive` for mail: writes a ticketed mail's derived files from its
/// `message.eml` and returns the job's metadata with the attachments found (the
/// mailhandler read the headers only).
pub fn derive(ticket: &Ticket) -> io::Result<Value> {
    let job = &ticket.job;
    let reason = (job.state == JobState::Quarantined).then(|| job.error.as_deref().unwrap_or(""));
    derive_into(&ticket.target, &job.metadata, reason)
}

/// Writes the derived files of the mail in `dir` from its `message.eml`, with `metadata`
/// completed by the attachments found; returns that metadata. A file already there with the
/// same bytes is left alone; any other is written beside (a `.partial` of its own) and
/// renamed over: a new inode, so a job running on links to the old one is not disturbed. On
/// failure (a full disk) no `.partial` file stays and `meta.json` is not (re)written.
pub fn derive_into(dir: &Path, metadata: &Value, quarantined: Option<&str>) -> io::Result<Value> {
    let raw_path = dir.join(RAW_FILE);
    let raw = fs::read(&raw_path).map_err(|e| at_path(&raw_path, e))?;
    let extracted = extract(&raw);
    let mut metadata = metadata.clone();
    if let (Some(extracted), Some(fields)) = (&extracted, metadata.as_object_mut()) {
        fields.insert(
            "attachments".into(),
            storable_json(&json!(extracted.attachments)).into_owned(),
        );
    }
    // Left by a crash mid-write; a live writer's (serve's ingester and `dpctl mail inject`
    // may derive the same mail at once) are its own to rename.
    remove_abandoned_partials(dir);
    let replace = |name: &str, bytes: &[u8]| replace_file(dir, name, bytes);
    write_derived(&replace, extracted.as_ref(), &metadata, quarantined)?;
    Ok(metadata)
}

/// Whether `dir` holds a mail whose derived files are not all there: `meta.json` missing,
/// or a `.partial` file left.
pub fn incomplete(dir: &Path) -> bool {
    dir.join(RAW_FILE).is_file() && (!dir.join(META_FILE).is_file() || !partials(dir).is_empty())
}

/// Before a mail job's module runs: when its delivery's derived files are missing or
/// partial, writes them again from `message.eml` (recorded as the job's `derive` step). A
/// failure to write (still no room) is transient: the job is tried again later.
pub async fn complete_before_run(
    ctx: &JobContext,
    workspace: &Workspace,
) -> Result<(), JobFailure> {
    if ctx.job.source != JobSource::Email {
        return Ok(());
    }
    // A missing directory is for the link step to report.
    let Ok(dir) = workspace.source().map(Path::to_path_buf) else {
        return Ok(());
    };
    let started = Instant::now();
    let metadata = ctx.job.metadata.clone();
    let work_dir = dir.clone();
    let derived = tokio::task::spawn_blocking(move || {
        if !incomplete(&work_dir) {
            return Ok(false);
        }
        derive_into(&work_dir, &metadata, None).map(|_| true)
    })
    .await
    .map_err(JobFailure::from_join)?;
    let event =
        NewEvent::new(ctx.job.id, Step::Derive, EventPhase::Exit).duration(started.elapsed());
    match derived {
        Ok(false) => Ok(()),
        Ok(true) => {
            tracing::warn!(path = %dir.display(), "a mail's derived files were missing or partial; written again from message.eml");
            ctx.event(
                event
                    .status(StepStatus::Ok)
                    .message("derived files missing or partial; written again from message.eml"),
            );
            Ok(())
        }
        Err(e) => {
            let message = format!("cannot write the mail's derived files: {e}");
            ctx.event(event.status(StepStatus::Error).message(message.clone()));
            Err(JobFailure::transient(message))
        }
    }
}

/// Writes `name` (`sub/name` allowed) in `dir` unless it already holds `bytes`: beside it
/// first, then renamed over it; nothing stays of a failed write.
fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let path = dir.join(name);
    if fs::read(&path).is_ok_and(|old| old == bytes) {
        return Ok(path);
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| at_path(parent, e))?;
    }
    // A name of its own: two writers never share (and truncate) one partial file.
    let partial = dir.join(format!(
        ".{}.{}{PARTIAL}",
        name.replace('/', "_"),
        unique_name()
    ));
    let written = fs::write(&partial, bytes).and_then(|()| fs::rename(&partial, &path));
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written.map_err(|e| at_path(&path, e))?;
    Ok(path)
}

/// The `.partial` files directly in `dir`.
fn partials(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with('.') && name.ends_with(PARTIAL)
        })
        .map(|entry| entry.path())
        .collect()
}

fn remove_abandoned_partials(dir: &Path) {
    for path in partials(dir) {
        if !writer_alive(&path) {
            let _ = fs::remove_file(path);
        }
    }
}

/// Whether the process that named this partial file (`.<name>.<nanos>-<pid>-<n>.partial`,
/// see `replace_file`) still runs; a name of another shape has no writer.
fn writer_alive(partial: &Path) -> bool {
    let name = partial.file_name().unwrap_or_default().to_string_lossy();
    let unique = name
        .trim_end_matches(PARTIAL)
        .rsplit('.')
        .next()
        .unwrap_or("");
    let pid = unique.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
    pid.is_some_and(|pid| {
        pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_writers_partial_file_is_left_to_it_and_an_abandoned_one_goes() {
        let dir = tempfile::tempdir().expect("a folder");
        let live = dir
            .path()
            .join(format!(".body.txt.{}{PARTIAL}", unique_name()));
        let crashed = dir
            .path()
            .join(format!(".body.txt.1-4294967294-0{PARTIAL}"));
        let foreign = dir.path().join(format!(".body.txt{PARTIAL}"));
        for path in [&live, &crashed, &foreign] {
            fs::write(path, b"half").expect("write");
        }
        remove_abandoned_partials(dir.path());
        assert!(live.exists(), "a concurrent writer's file, mid-write");
        assert!(!crashed.exists() && !foreign.exists());
    }
}

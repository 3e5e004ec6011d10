//! Safe extraction of uploaded archives (`.tar`, `.tar.gz`/`.tgz`, `.zip`, `.gz`, or a plain
//! file), recognised by content, not by name. Everything is written under one destination
//! directory, under sanitised names (the originals are reported). The whole archive is
//! refused, with a reason naming the entry, on: absolute paths, `..`, drive letters or
//! backslash traversal, links, devices and FIFOs, overlapping zip entries, and more entries,
//! more real decompressed bytes, deeper paths or deeper archive nesting than the limits,
//! and a stream that expands more than any real export does (a decompression bomb).

mod budget;
mod error;
mod names;
mod tar_format;
mod zip_format;

pub use error::ExtractError;

use crate::io_count::CountingReader;
use budget::Budget;
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio_util::sync::CancellationToken;

/// Limits for one upload, across every nested archive in it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_entries: u64,
    pub max_total_bytes: u64,
    /// Directories an entry's path may go down.
    pub max_path_depth: usize,
    /// Archives inside archives (a tar.gz inside a zip is 2 levels below the upload).
    pub max_nesting: usize,
    /// Decompressed bytes per compressed byte a stream may give (judged past 8 MiB of
    /// output): NetBackup text compresses about 10:1, a bomb of zeros about 1000:1.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_total_bytes: 8 * 1024 * 1024 * 1024,
            max_path_depth: 32,
            max_nesting: 3,
            max_ratio: 100,
        }
    }
}

/// One file written by the extraction.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Extracted {
    /// Where it was written.
    pub path: PathBuf,
    /// Its name in the archive (or the uploaded file's name), for the job's result.
    pub original: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gzip,
    Zip,
    Tar,
    Plain,
}

fn sniff(path: &Path) -> std::io::Result<Kind> {
    let mut head = [0u8; 512];
    let mut file = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        let read = file.read(&mut head[n..])?;
        if read == 0 {
            break;
        }
        n += read;
    }
    Ok(kind_of(&head[..n]))
}

fn kind_of(head: &[u8]) -> Kind {
    if head.starts_with(&[0x1f, 0x8b]) {
        Kind::Gzip
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Kind::Zip
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Kind::Tar
    } else {
        Kind::Plain
    }
}

/// Extracts `upload` (its original name `name`) into `dest`, which must exist and be empty
/// or private to the job. A plain file is listed as it is, without copying.
pub fn extract(
    upload: &Path,
    name: &str,
    dest: &Path,
    limits: Limits,
) -> Result<Vec<Extracted>, ExtractError> {
    extract_until(upload, name, dest, limits, &CancellationToken::new())
}

/// `extract` that stops with `ExtractError::Cancelled` soon after `stop` is cancelled.
pub fn extract_until(
    upload: &Path,
    name: &str,
    dest: &Path,
    limits: Limits,
    stop: &CancellationToken,
) -> Result<Vec<Extracted>, ExtractError> {
    let mut budget = Budget::new(limits, stop.clone());
    let mut out = Vec::new();
    extract_into(upload, name, dest, 0, &mut budget, &mut out)?;
    Ok(out)
}

fn extract_into(
    file: &Path,
    name: &str,
    dest: &Path,
    nesting: usize,
    budget: &mut Budget,
    out: &mut Vec<Extracted>,
) -> Result<(), ExtractError> {
    let kind = sniff(file)?;
    if kind == Kind::Plain {
        let bytes = std::fs::metadata(file)?.len();
        if nesting == 0 {
            budget.add_entry(name)?;
            budget.add_bytes(bytes)?;
        }
        out.push(Extracted {
            path: file.to_path_buf(),
            original: name.to_string(),
            bytes,
        });
        return Ok(());
    }
    if nesting >= budget.limits.max_nesting {
        return Err(ExtractError::NestedTooDeep {
            name: name.to_string(),
            limit: budget.limits.max_nesting,
        });
    }
    let dir = names::unique_dir(dest, name)?;
    // Every byte taken from this file is counted, for the decompression ratio.
    let read = Arc::new(AtomicU64::new(0));
    let input = CountingReader::new(File::open(file)?, read.clone());
    let previous = budget.read_from(read);
    let written = match kind {
        Kind::Zip => zip_format::extract(input, name, &dir, budget),
        Kind::Tar => tar_format::extract(BufReader::new(input), name, &dir, budget),
        Kind::Gzip => gunzip(file, input, name, &dir, budget),
        Kind::Plain => Ok(Vec::new()),
    };
    budget.restore_source(previous);
    let written = written?;
    // Archives inside: extract each in place of itself (its file is removed afterwards).
    for entry in written {
        let inner_name = format!("{name}/{}", entry.original);
        if sniff(&entry.path)? == Kind::Plain {
            out.push(Extracted {
                original: inner_name,
                ..entry
            });
        } else {
            let parent = entry.path.parent().unwrap_or(&dir).to_path_buf();
            extract_into(&entry.path, &inner_name, &parent, nesting + 1, budget, out)?;
            std::fs::remove_file(&entry.path)?;
        }
    }
    Ok(())
}

/// A gzip holds either a tar (`.tar.gz`) or one file (`x.gz` → `x`). Multi-member gzip is
/// read whole.
fn gunzip(
    file: &Path,
    input: CountingReader<File>,
    name: &str,
    dir: &Path,
    budget: &mut Budget,
) -> Result<Vec<Extracted>, ExtractError> {
    let mut head = Vec::with_capacity(512);
    MultiGzDecoder::new(File::open(file)?)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| ExtractError::corrupt(name, "gzip", e))?;
    let decoder = BufReader::new(MultiGzDecoder::new(input));
    if kind_of(&head) == Kind::Tar {
        return tar_format::extract(decoder, name, dir, budget);
    }
    let inner = names::strip_gz(name);
    budget.add_entry(&inner)?;
    let path = dir.join(
        names::sanitise_path(&inner, budget.limits.max_path_depth)?
            .last()
            .cloned()
            .unwrap_or_default(),
    );
    let bytes = budget.copy(decoder, &path, &inner, "gzip")?;
    Ok(vec![Extracted {
        path,
        original: inner,
        bytes,
    }])
}

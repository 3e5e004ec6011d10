//! Counting entries and real decompressed bytes across a whole upload, the ratio of what a
//! compressed stream gives to what it took, and the job's cancellation.

use super::{ExtractError, Limits};
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_util::sync::CancellationToken;

/// Below this much output the ratio is not judged: a small file may compress very well.
pub const RATIO_FLOOR_BYTES: u64 = 8 * 1024 * 1024;

pub struct Budget {
    pub limits: Limits,
    entries: u64,
    bytes: u64,
    source: Option<Source>,
    stop: CancellationToken,
}

/// The compressed stream being read: how many of its bytes were taken so far, and the
/// output count when it started.
#[derive(Clone)]
pub struct Source {
    read: Arc<AtomicU64>,
    bytes_at_start: u64,
}

impl Budget {
    pub fn new(limits: Limits, stop: CancellationToken) -> Self {
        Self {
            limits,
            entries: 0,
            bytes: 0,
            source: None,
            stop,
        }
    }

    /// From now on output is judged against the bytes counted by `read`; returns the source
    /// judged before, to give back to `restore_source` once this stream is done.
    pub fn read_from(&mut self, read: Arc<AtomicU64>) -> Option<Source> {
        let source = Source {
            read,
            bytes_at_start: self.bytes,
        };
        self.source.replace(source)
    }

    pub fn restore_source(&mut self, previous: Option<Source>) {
        self.source = previous;
    }

    pub fn add_entry(&mut self, name: &str) -> Result<(), ExtractError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ExtractError::TooManyEntries {
                name: name.to_string(),
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    pub fn add_bytes(&mut self, n: u64) -> Result<(), ExtractError> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.limits.max_total_bytes {
            return Err(ExtractError::TooLarge {
                name: String::new(),
                limit: self.limits.max_total_bytes,
            });
        }
        Ok(())
    }

    fn check_ratio(&self, name: &str) -> Result<(), ExtractError> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        let out = self.bytes - source.bytes_at_start;
        if out < RATIO_FLOOR_BYTES {
            return Ok(());
        }
        let input = source.read.load(Ordering::Relaxed).max(1);
        let ratio = out / input;
        if ratio > self.limits.max_ratio {
            return Err(ExtractError::TooCompressed {
                name: name.to_string(),
                ratio,
                limit: self.limits.max_ratio,
            });
        }
        Ok(())
    }

    /// Streams `reader` into a new file at `path`, stopping as soon as the upload's byte
    /// budget is spent or the stream expands more than a real export does (whatever sizes
    /// the archive claims), or the job is cancelled.
    pub fn copy(
        &mut self,
        mut reader: impl Read,
        path: &Path,
        name: &str,
        format: &'static str,
    ) -> Result<u64, ExtractError> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        let mut buffer = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            if self.stop.is_cancelled() {
                return Err(ExtractError::Cancelled);
            }
            let n = reader
                .read(&mut buffer)
                .map_err(|e| ExtractError::corrupt(name, format, e))?;
            if n == 0 {
                break;
            }
            self.bytes += n as u64;
            if self.bytes > self.limits.max_total_bytes {
                return Err(ExtractError::TooLarge {
                    name: name.to_string(),
                    limit: self.limits.max_total_bytes,
                });
            }
            self.check_ratio(name)?;
            file.write_all(&buffer[..n])?;
            written += n as u64;
        }
        Ok(written)
    }
}

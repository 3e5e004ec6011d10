//! Counting entries and real decompressed bytes across a whole upload.

use super::{ExtractError, Limits};
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;

pub struct Budget {
    pub limits: Limits,
    entries: u64,
    bytes: u64,
}

impl Budget {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            entries: 0,
            bytes: 0,
        }
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
        self.bytes += n;
        if self.bytes > self.limits.max_total_bytes {
            return Err(ExtractError::TooLarge {
                name: String::new(),
                limit: self.limits.max_total_bytes,
            });
        }
        Ok(())
    }

    /// Streams `reader` into a new file at `path`, stopping as soon as the upload's byte
    /// budget is spent (whatever sizes the archive claims).
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
            file.write_all(&buffer[..n])?;
            written += n as u64;
        }
        Ok(written)
    }
}

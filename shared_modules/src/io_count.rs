//! A reader that counts the bytes taken from it, readable from another thread: how far a
//! parser got in its file (job progress), how much compressed input a decompressor used
//! (the archive ratio guard).

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> CountingReader<R> {
    pub fn new(inner: R, count: Arc<AtomicU64>) -> Self {
        Self { inner, count }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Seeking (a zip's central directory) moves without counting: only bytes read count.
impl<R: Seek> Seek for CountingReader<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_was_read() {
        let count = Arc::new(AtomicU64::new(0));
        let mut reader = CountingReader::new(&b"hello world"[..], count.clone());
        let mut first = [0u8; 5];
        reader.read_exact(&mut first).unwrap_or_default();
        assert_eq!(count.load(Ordering::Relaxed), 5);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap_or_default();
        assert_eq!(count.load(Ordering::Relaxed), 11);
    }
}

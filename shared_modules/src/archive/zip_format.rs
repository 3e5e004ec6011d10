use super::budget::Budget;
use super::names::{place, sanitise_path};
use super::{ExtractError, Extracted};
use std::io::{Read, Seek};
use std::path::Path;

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

pub fn extract<R: Read + Seek>(
    input: R,
    archive: &str,
    dir: &Path,
    budget: &mut Budget,
) -> Result<Vec<Extracted>, ExtractError> {
    let mut zip =
        zip::ZipArchive::new(input).map_err(|e| ExtractError::corrupt(archive, "zip", e))?;
    check_overlaps(&mut zip, archive)?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let entry = zip
            .by_index(i)
            .map_err(|e| ExtractError::corrupt(archive, "zip", e))?;
        let raw = String::from_utf8_lossy(entry.name_raw()).to_string();
        budget.add_entry(&raw)?;
        let parts = sanitise_path(&raw, budget.limits.max_path_depth)?;
        let kind = entry.unix_mode().map(|m| m & S_IFMT).unwrap_or(0);
        match kind {
            S_IFLNK => return Err(ExtractError::Symlink(raw)),
            0 | S_IFREG | S_IFDIR => {}
            _ => return Err(ExtractError::SpecialFile(raw)),
        }
        if entry.is_dir() || kind == S_IFDIR || parts.is_empty() {
            continue;
        }
        let path = place(dir, &parts)?;
        let bytes = budget.copy(entry, &path, &raw, "zip")?;
        out.push(Extracted {
            path,
            original: raw,
            bytes,
        });
    }
    Ok(out)
}

/// Entries whose byte ranges overlap (the classic zip-bomb trick) refuse the archive.
fn check_overlaps<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    archive: &str,
) -> Result<(), ExtractError> {
    let mut ranges = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| ExtractError::corrupt(archive, "zip", e))?;
        let end = entry.data_start().saturating_add(entry.compressed_size());
        ranges.push((entry.header_start(), end, entry.name().to_string()));
    }
    ranges.sort();
    for pair in ranges.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(ExtractError::OverlappingEntries(
                pair[0].2.clone(),
                pair[1].2.clone(),
            ));
        }
    }
    Ok(())
}

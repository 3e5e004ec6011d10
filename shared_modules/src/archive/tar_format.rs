use super::budget::Budget;
use super::names::{place, sanitise_path};
use super::{ExtractError, Extracted};
use std::io::Read;
use std::path::Path;
use tar::EntryType;

pub fn extract(
    reader: impl Read,
    archive: &str,
    dir: &Path,
    budget: &mut Budget,
) -> Result<Vec<Extracted>, ExtractError> {
    let mut tar = tar::Archive::new(reader);
    let entries = tar
        .entries()
        .map_err(|e| ExtractError::corrupt(archive, "tar", e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ExtractError::corrupt(archive, "tar", e))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).to_string();
        budget.add_entry(&raw)?;
        let parts = sanitise_path(&raw, budget.limits.max_path_depth)?;
        match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => {}
            EntryType::Directory => continue,
            EntryType::Symlink => return Err(ExtractError::Symlink(raw)),
            EntryType::Link => return Err(ExtractError::HardLink(raw)),
            _ => return Err(ExtractError::SpecialFile(raw)),
        }
        if parts.is_empty() {
            continue;
        }
        let path = place(dir, &parts)?;
        let bytes = budget.copy(entry, &path, &raw, "tar")?;
        out.push(Extracted {
            path,
            original: raw,
            bytes,
        });
    }
    Ok(out)
}

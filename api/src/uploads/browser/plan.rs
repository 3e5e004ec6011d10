//! What a browser's upload will be: its key, part size and number of parts, from what the
//! customer asked for, checked before anything is started.

use crate::error::ApiError;
use serde::Deserialize;
use shared_modules::paths::{normalise_segment, sanitise_file_name};

/// S3's largest object, and its most parts.
pub const MAX_SIZE: u64 = 5 * 1024 * 1024 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;
/// Small enough for progress to move and a dropped connection to lose little, large
/// enough for a 40 GB export to fit S3's 10,000 parts.
pub const MIN_PART_SIZE: u64 = 8 * 1024 * 1024;

/// `POST /api/1.0/uploads`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartUpload {
    pub customer: String,
    pub grid: String,
    pub file_name: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub customer: String,
    pub grid: String,
    pub file_name: String,
    pub key: String,
    pub size: u64,
    pub part_size: u64,
}

pub fn parts_of(size: u64, part_size: u64) -> i32 {
    size.div_ceil(part_size).max(1) as i32
}

/// The bytes part `number` (1-based) must hold.
pub fn part_length(size: u64, part_size: u64, number: i32) -> u64 {
    let start = (number as u64 - 1) * part_size;
    size.saturating_sub(start).min(part_size)
}

pub fn plan(request: StartUpload) -> Result<Plan, ApiError> {
    let bad = |m: String| ApiError::BadRequest(m);
    let customer =
        normalise_segment("customer", &request.customer).map_err(|e| bad(e.to_string()))?;
    let grid = normalise_segment("grid", &request.grid).map_err(|e| bad(e.to_string()))?;
    let lower = request.file_name.to_ascii_lowercase();
    if ![".tar.gz", ".tgz", ".zip"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        return Err(bad(format!(
            "file_name `{}` is not a NetBackup export: a .tar.gz, .tgz or .zip file",
            request
                .file_name
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect::<String>()
        )));
    }
    let file_name = sanitise_file_name(&request.file_name);
    if request.size == 0 || request.size > MAX_SIZE {
        return Err(bad("size must be between 1 byte and 5 TiB".into()));
    }
    let part_size = request
        .size
        .div_ceil(MAX_PARTS)
        .next_multiple_of(1024 * 1024)
        .max(MIN_PART_SIZE);
    Ok(Plan {
        key: format!("{customer}/{grid}/{file_name}"),
        customer,
        grid,
        file_name,
        size: request.size,
        part_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(file_name: &str, size: u64) -> StartUpload {
        StartUpload {
            customer: "Bobs Burgers".into(),
            grid: "fryer_grid".into(),
            file_name: file_name.into(),
            size,
        }
    }

    #[test]
    fn a_plan_names_the_contract_key_and_fits_s3s_parts() {
        let p = plan(ask("../../nbu dump.tar.gz", 40 * 1024 * 1024)).unwrap();
        assert_eq!(p.key, "bobs_burgers/fryer_grid/nbu_dump.tar.gz");
        assert_eq!(
            (p.part_size, parts_of(p.size, p.part_size)),
            (MIN_PART_SIZE, 5)
        );
        assert_eq!(part_length(p.size, p.part_size, 5), 8 * 1024 * 1024);
        let huge = plan(ask("x.zip", MAX_SIZE)).unwrap();
        assert!(
            parts_of(huge.size, huge.part_size) <= 10_000
                && huge.part_size.is_multiple_of(1024 * 1024)
        );
        assert_eq!(part_length(10, 8, 2), 2);
    }

    #[test]
    fn what_cannot_be_an_export_is_refused() {
        assert!(plan(ask("report.pdf", 10)).is_err());
        assert!(plan(ask("x.tar.gz", 0)).is_err());
        assert!(plan(ask("x.tar.gz", MAX_SIZE + 1)).is_err());
        let mut other = ask("x.tgz", 10);
        other.grid = "../etc".into();
        assert!(plan(other).is_err());
    }
}

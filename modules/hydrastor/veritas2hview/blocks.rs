//! The `-U` outputs of `nbdevquery` (`-listdv`, `-listdp`, `-liststs`) and `bpstulist`:
//! `Label : value` lines in records; `Flag` may repeat. A record starts at its first label
//! (`Disk Pool Name`, `Storage Server`, `Label`) or after a blank line.

use std::collections::BTreeMap;

/// One record: labels (lower case, single spaces) → values; repeated labels keep every value.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Block {
    pub line: usize,
    pub fields: BTreeMap<String, Vec<String>>,
}

impl Block {
    pub fn get(&self, label: &str) -> Option<String> {
        self.fields
            .get(label)
            .and_then(|v| v.first())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "*NULL*")
    }

    pub fn any(&self, labels: &[&str]) -> Option<String> {
        labels.iter().find_map(|l| self.get(l))
    }
}

fn label_value(line: &str) -> Option<(String, String)> {
    let (label, value) = line.split_once(':')?;
    let label = label
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    (!label.is_empty()).then(|| (label, value.trim().to_string()))
}

/// Splits `lines` (1-based numbers) into blocks; a block starts on a blank line or on a
/// repeated `first_label`.
pub fn blocks<'a>(lines: impl Iterator<Item = (usize, &'a str)>, first_label: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut current = Block::default();
    for (number, line) in lines {
        let Some((label, value)) = label_value(line) else {
            if !current.fields.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        };
        if label == first_label && current.fields.contains_key(first_label) {
            out.push(std::mem::take(&mut current));
        }
        if current.fields.is_empty() {
            current.line = number;
        }
        current.fields.entry(label).or_default().push(value);
    }
    if !current.fields.is_empty() {
        out.push(current);
    }
    out
}

/// `9777.56` GB (NetBackup's GB are 1024³ bytes) → bytes.
pub fn gigabytes(text: &str) -> Result<Option<i64>, String> {
    let t = text.trim();
    if t.is_empty() || t == "-" {
        return Ok(None);
    }
    let gb: f64 = t
        .parse()
        .map_err(|_| format!("`{t}` is not a number of GB"))?;
    Ok(Some((gb * 1024f64.powi(3)).round() as i64))
}

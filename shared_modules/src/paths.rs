//! Path segments and file names: nothing from a mail or an archive reaches a path raw.
//!
//! Layout: `<root>/{inbox,tmp,archive}/<customer>/<category>/<type>/<group>/<YYYYMMDD_HHMMSS>/`.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{kind} `{shown}` is not allowed: after lower-casing and spaces to `_` it must match ^[a-z0-9][a-z0-9_.-]{{0,63}}$"
)]
pub struct SegmentError {
    pub kind: String,
    pub shown: String,
}

/// Lower-cases, turns spaces into `_`, and checks the result against
/// `^[a-z0-9][a-z0-9_.-]{0,63}$` (so `.`, `..` and anything with `/` are refused).
pub fn normalise_segment(kind: &str, raw: &str) -> Result<String, SegmentError> {
    let normal: String = raw.trim().to_lowercase().replace(' ', "_");
    let mut chars = normal.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && normal.len() <= 64 {
        Ok(normal)
    } else {
        let shown: String = raw
            .chars()
            .take(80)
            .flat_map(char::escape_default)
            .collect();
        Err(SegmentError {
            kind: kind.to_string(),
            shown,
        })
    }
}

/// Where one delivery lives, relative to an area (`inbox`, `tmp`, `archive`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLocation {
    pub customer: String,
    pub category: String,
    pub job_type: String,
    pub group: String,
}

impl JobLocation {
    /// Checks and normalises every segment before any path is built.
    pub fn new(
        customer: &str,
        category: &str,
        job_type: &str,
        group: &str,
    ) -> Result<Self, SegmentError> {
        Ok(Self {
            customer: normalise_segment("customer", customer)?,
            category: normalise_segment("category", category)?,
            job_type: normalise_segment("type", job_type)?,
            group: normalise_segment("group", group)?,
        })
    }

    /// `<customer>/<category>/<type>/<group>`
    pub fn relative(&self) -> PathBuf {
        [&self.customer, &self.category, &self.job_type, &self.group]
            .iter()
            .collect()
    }
}

pub fn inbox_root(root: &Path) -> PathBuf {
    root.join("inbox")
}

pub fn tmp_root(root: &Path) -> PathBuf {
    root.join("tmp")
}

/// Maps a path under `inbox/` to the same place under another area (`tmp`, `archive`).
pub fn sibling_area(root: &Path, inbox_path: &Path, area: &str) -> Option<PathBuf> {
    let relative = inbox_path.strip_prefix(inbox_root(root)).ok()?;
    Some(root.join(area).join(relative))
}

/// The directory name for a delivery received at `at` (receive time, UTC).
pub fn datetime_dir_name(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y%m%d_%H%M%S").to_string()
}

/// `base`, then `base_2`, `base_3`, … for deliveries of the same second.
pub fn numbered(base: &str, n: u32) -> String {
    if n == 1 {
        base.to_string()
    } else {
        format!("{base}_{n}")
    }
}

/// A file name safe to create inside a directory we own: no separators, no NUL or control
/// characters, no leading dot, at most 100 bytes, never empty. The original stays metadata.
pub fn sanitise_file_name(raw: &str) -> String {
    // Keep only the last component of anything that looks like a path (`C:\x\boot.ini`, `../a`).
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let mut clean: String = last
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    clean = clean.trim_start_matches(['.', '_']).to_string();
    if clean.len() > 100 {
        clean = truncate_keeping_extension(&clean, 100);
    }
    if clean.is_empty() || clean.chars().all(|c| c == '.') {
        clean = "unnamed".to_string();
    }
    clean
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if ext.len() <= 10 && !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    let mut keep = max.saturating_sub(ext.len());
    while !stem.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{}", &stem[..keep], ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_normalised_or_refused() {
        assert_eq!(
            normalise_segment("customer", "Bobs Burgers").unwrap(),
            "bobs_burgers"
        );
        assert_eq!(normalise_segment("group", "sn002").unwrap(), "sn002");
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "_x",
            "-x",
            "x\0",
            "ä",
            &"a".repeat(65),
        ] {
            assert!(
                normalise_segment("group", bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(normalise_segment("group", &"a".repeat(64)).is_ok());
    }

    #[test]
    fn hostile_file_names_become_safe_names() {
        let long = "x".repeat(300) + ".txt";
        let cases = [
            ("../../etc/passwd", "passwd"),
            ("C:\\boot.ini", "boot.ini"),
            ("report 1.txt", "report_1.txt"),
            ("a\0b.txt", "a_b.txt"),
            ("..", "unnamed"),
            ("", "unnamed"),
            (".hidden", "hidden"),
            (long.as_str(), ""),
        ];
        for (raw, want) in cases {
            let got = sanitise_file_name(raw);
            assert!(!got.contains('/') && !got.contains('\\') && !got.contains('\0'));
            assert!(
                !got.starts_with('.') && got.len() <= 100 && !got.is_empty(),
                "{raw:?} -> {got:?}"
            );
            if !want.is_empty() {
                assert_eq!(got, want);
            }
        }
        assert!(sanitise_file_name(&long).ends_with(".txt"));
    }

    #[test]
    fn areas_mirror_the_inbox() {
        let root = Path::new("/m");
        let inbox = Path::new("/m/inbox/c/hydrastor/alert/sn1/20230113_120000");
        assert_eq!(
            sibling_area(root, inbox, "tmp").unwrap(),
            Path::new("/m/tmp/c/hydrastor/alert/sn1/20230113_120000")
        );
        assert_eq!(sibling_area(root, Path::new("/elsewhere"), "tmp"), None);
    }
}

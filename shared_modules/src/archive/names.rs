//! Entry names: checked against traversal, then stored component by component under
//! sanitised names.

use super::ExtractError;
use crate::paths::sanitise_file_name;
use std::path::{Path, PathBuf};

/// The sanitised components of an entry's path; refuses absolute paths, `..`, drive letters
/// and backslash traversal, and paths deeper than `max_depth`.
pub fn sanitise_path(raw: &str, max_depth: usize) -> Result<Vec<String>, ExtractError> {
    let shown = raw.chars().take(200).collect::<String>();
    if raw.starts_with('/') {
        return Err(ExtractError::AbsolutePath(shown));
    }
    let bytes = raw.as_bytes();
    if raw.starts_with('\\')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
    {
        return Err(ExtractError::WindowsPath(shown));
    }
    let mut parts = Vec::new();
    for part in raw.split(['/', '\\']) {
        match part {
            "" | "." => continue,
            ".." if raw.contains('\\') => return Err(ExtractError::WindowsPath(shown)),
            ".." => return Err(ExtractError::ParentTraversal(shown)),
            _ => parts.push(sanitise_file_name(part)),
        }
    }
    if parts.len() > max_depth {
        return Err(ExtractError::TooDeep {
            name: shown,
            depth: parts.len(),
            limit: max_depth,
        });
    }
    Ok(parts)
}

/// `dump.tar.gz` → `dump.tar`, `x.gz` → `x`, `x.tgz` → `x.tar`.
pub fn strip_gz(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    if lower.ends_with(".tgz") {
        format!("{}.tar", &base[..base.len() - 4])
    } else if lower.ends_with(".gz") && base.len() > 3 {
        base[..base.len() - 3].to_string()
    } else {
        format!("{base}.out")
    }
}

/// A new directory for an archive's contents beside it: `<name>_extracted`, `_2`, …
pub fn unique_dir(parent: &Path, archive_name: &str) -> std::io::Result<PathBuf> {
    let base = sanitise_file_name(archive_name.rsplit('/').next().unwrap_or(archive_name));
    std::fs::create_dir_all(parent)?;
    for n in 1.. {
        let dir = parent.join(if n == 1 {
            format!("{base}_extracted")
        } else {
            format!("{base}_extracted_{n}")
        });
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("an unbounded range always yields a name")
}

/// Creates the directories of `parts` under `root` and returns a file path there that no
/// earlier entry took (`name`, `name_2`, …).
pub fn place(root: &Path, parts: &[String]) -> std::io::Result<PathBuf> {
    let (file, dirs) = parts
        .split_last()
        .map(|(f, d)| (f.clone(), d))
        .unwrap_or(("unnamed".into(), &[]));
    let dir = dirs.iter().fold(root.to_path_buf(), |p, d| p.join(d));
    std::fs::create_dir_all(&dir)?;
    let mut candidate = dir.join(&file);
    let mut n = 2;
    while candidate.exists() {
        candidate = dir.join(format!("{file}_{n}"));
        n += 1;
    }
    Ok(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused_and_others_sanitised() {
        assert!(matches!(
            sanitise_path("/etc/passwd", 8),
            Err(ExtractError::AbsolutePath(_))
        ));
        assert!(matches!(
            sanitise_path("a/../../x", 8),
            Err(ExtractError::ParentTraversal(_))
        ));
        assert!(matches!(
            sanitise_path("C:\\boot.ini", 8),
            Err(ExtractError::WindowsPath(_))
        ));
        assert!(matches!(
            sanitise_path("a\\..\\..\\x", 8),
            Err(ExtractError::WindowsPath(_))
        ));
        assert!(matches!(
            sanitise_path("\\\\server\\share", 8),
            Err(ExtractError::WindowsPath(_))
        ));
        assert!(matches!(
            sanitise_path("a/b/c/d", 3),
            Err(ExtractError::TooDeep { depth: 4, .. })
        ));
        assert_eq!(
            sanitise_path("./dir/.hidden report.txt", 8).unwrap(),
            ["dir", "hidden_report.txt"]
        );
        assert_eq!(strip_gz("dump.tar.gz"), "dump.tar");
        assert_eq!(strip_gz("jobs.txt.GZ"), "jobs.txt");
        assert_eq!(strip_gz("x.tgz"), "x.tar");
    }
}

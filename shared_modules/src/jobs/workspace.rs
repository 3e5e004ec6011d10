//! A job's files: its inbox directory (never modified), the tmp copy the module works on,
//! and the archive copy kept when the job is done (if archiving is on for its type).

use crate::config::Config;
use crate::paths::sibling_area;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Workspace {
    pub inbox: PathBuf,
    pub tmp: PathBuf,
    pub archive: Option<PathBuf>,
}

impl Workspace {
    /// None for a job without an inbox directory; Err when its inbox path lies outside the
    /// configured inbox (it was not made by the DataProcessor).
    pub fn plan(
        config: &Config,
        inbox_path: Option<&str>,
        category: &str,
        job_type: &str,
    ) -> Result<Option<Workspace>, String> {
        let Some(inbox) = inbox_path.map(PathBuf::from) else {
            return Ok(None);
        };
        let root = &config.paths.root;
        let tmp = sibling_area(root, &inbox, "tmp").ok_or_else(|| {
            format!(
                "inbox path {} is not under {}",
                inbox.display(),
                root.join("inbox").display()
            )
        })?;
        let archive = config
            .type_config(category, job_type)
            .archive
            .then(|| sibling_area(root, &inbox, "archive"))
            .flatten();
        Ok(Some(Workspace {
            inbox,
            tmp,
            archive,
        }))
    }

    /// Copies the inbox directory to tmp (replacing what an earlier attempt left there).
    pub fn copy_to_tmp(&self) -> io::Result<()> {
        if !self.inbox.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("inbox directory {} is missing", self.inbox.display()),
            ));
        }
        if self.tmp.exists() {
            fs::remove_dir_all(&self.tmp)?;
        }
        copy_tree(&self.inbox, &self.tmp)
    }

    /// Copies the inbox directory to the archive, replacing an earlier archive copy at once
    /// (written beside it, then renamed over it).
    pub fn archive(&self) -> io::Result<()> {
        let Some(archive) = &self.archive else {
            return Ok(());
        };
        let partial = archive.with_extension(format!("partial-{}", std::process::id()));
        if partial.exists() {
            fs::remove_dir_all(&partial)?;
        }
        copy_tree(&self.inbox, &partial)?;
        if archive.exists() {
            fs::remove_dir_all(archive)?;
        }
        fs::rename(&partial, archive)
    }

    pub fn cleanup(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Copies regular files and directories; anything else (links, devices) is refused: the
/// inbox only ever holds what the DataProcessor wrote.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)?;
        } else {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                entry.path().display()
            )));
        }
    }
    Ok(())
}

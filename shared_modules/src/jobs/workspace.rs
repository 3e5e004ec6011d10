//! A job's files: its inbox directory (never modified), the tmp tree the module works on
//! (hard links), and the archive the inbox directory moves to when the job is done (if
//! archiving is on for its type).

use super::model::Job;
use crate::config::Config;
use crate::paths::{numbered, sibling_area};
use rustix::fs::{CWD, RenameFlags, renameat_with};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Workspace {
    pub inbox: PathBuf,
    pub tmp: PathBuf,
    /// The archive's name for the files (`archive_target` adds `_2`, … when it is taken);
    /// None when archiving is off for the type.
    pub archive: Option<PathBuf>,
    /// Where an earlier run of the job moved them (its recorded `archive_path`).
    archived: Option<PathBuf>,
}

impl Workspace {
    /// None for a job without an inbox directory; Err when its inbox path lies outside the
    /// configured inbox (it was not made by the DataProcessor).
    pub fn plan(config: &Config, job: &Job) -> Result<Option<Workspace>, String> {
        let Some(inbox) = job.inbox_path.as_deref().map(PathBuf::from) else {
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
            .type_config(&job.category, &job.job_type)
            .archive
            .then(|| sibling_area(root, &inbox, "archive"))
            .flatten();
        Ok(Some(Workspace {
            inbox,
            tmp,
            archive,
            archived: job.archive_path.as_deref().map(PathBuf::from),
        }))
    }

    /// Where the job's files are now: the inbox directory, or the archive recorded on the
    /// job once a run moved them there (a reprocess, or a retry after a crash between the
    /// move and the commit of `done`).
    pub fn source(&self) -> io::Result<&Path> {
        if self.inbox.is_dir() {
            return Ok(&self.inbox);
        }
        self.archived().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("inbox directory {} is missing", self.inbox.display()),
            )
        })
    }

    /// Gives the module its own tree in tmp (replacing what an earlier attempt left there)
    /// without copying bytes: hard links to the job's files, which are never modified in
    /// place (a module writes new files only). Where links are impossible (another
    /// filesystem), the files are copied.
    pub fn link_to_tmp(&self) -> io::Result<()> {
        let source = self.source()?;
        if self.tmp.exists() {
            fs::remove_dir_all(&self.tmp)?;
        }
        link_tree(source, &self.tmp)
    }

    /// Where the job's directory will move when it is done: the archive's name for it, or
    /// the next free `_2`, `_3`, … (a delivery of the same second archived earlier; another
    /// delivery's archive is never replaced). None when archiving is off for the type, or
    /// the files are already archived (a reprocess: they stay where they are).
    pub fn archive_target(&self) -> Option<PathBuf> {
        let archive = self.archive.as_ref()?;
        if !self.inbox.is_dir() {
            return None;
        }
        let parent = archive.parent()?;
        let base = archive.file_name()?.to_string_lossy().to_string();
        (1..10_000u32)
            .map(|n| parent.join(numbered(&base, n)))
            .find(|target| !target.exists())
    }

    /// Where an earlier run archived the files (a reprocess), if it did.
    pub fn archived(&self) -> Option<&Path> {
        self.archived.as_deref().filter(|p| p.is_dir())
    }

    /// Moves the job's directory from the inbox to `target` (a rename: no bytes copied) and
    /// makes the move durable. The caller has recorded `target` on the job first, so a crash
    /// right after the rename still finds the files. Fails if `target` was taken meanwhile.
    pub fn archive_to(&self, target: &Path) -> io::Result<()> {
        let parent = target.parent().unwrap_or(Path::new("/"));
        fs::create_dir_all(parent)?;
        renameat_with(CWD, &self.inbox, CWD, target, RenameFlags::NOREPLACE)?;
        crate::inbox::fsync_dir(parent)
    }

    /// Puts an archived directory back into the inbox when the job's `done` did not commit.
    pub fn unarchive(&self, archived: &Path) -> io::Result<()> {
        renameat_with(CWD, archived, CWD, &self.inbox, RenameFlags::NOREPLACE)?;
        Ok(())
    }

    pub fn cleanup(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Links (or, across filesystems, copies) regular files and directories; anything else
/// (symlinks, devices) is refused: the inbox only ever holds what the DataProcessor wrote.
fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            link_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            if fs::hard_link(entry.path(), &target).is_err() {
                fs::copy(entry.path(), &target)?;
            }
        } else {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                entry.path().display()
            )));
        }
    }
    Ok(())
}

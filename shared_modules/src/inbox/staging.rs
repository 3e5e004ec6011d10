use super::ticket::{self, Ticket, tickets_dir};
use super::{PENDING_DIR, STAGING_DIR, at_path};
use crate::paths::{datetime_dir_name, numbered, sibling_area};
use chrono::{DateTime, Utc};
use rustix::fs::{CWD, FlockOperation, RenameFlags, flock, renameat_with};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A private directory on the same filesystem as `inbox/`, filled before it becomes visible.
/// Dropped without `promote`: it is removed. While it exists its writer holds an exclusive
/// `flock` on it, so the sweeper never removes a delivery still being written, however
/// long a download takes.
pub struct Staging {
    root: PathBuf,
    dir: PathBuf,
    promoted: bool,
    _lock: File,
}

pub struct Promoted {
    /// The directory under `inbox/` that now holds the delivery.
    pub path: PathBuf,
    intent: PathBuf,
}

pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // Time first: ticket names sort oldest first.
    format!(
        "{nanos:020}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

impl Staging {
    pub fn new(root: &Path) -> io::Result<Staging> {
        let parent = root.join(STAGING_DIR);
        fs::create_dir_all(&parent).map_err(|e| at_path(&parent, e))?;
        let dir = parent.join(unique_name());
        fs::create_dir(&dir).map_err(|e| at_path(&dir, e))?;
        let lock = File::open(&dir)?;
        flock(&lock, FlockOperation::NonBlockingLockExclusive)?;
        Ok(Staging {
            root: root.to_path_buf(),
            dir,
            promoted: false,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `relative` (already a safe name; `sub/name` allowed); `promote` fsyncs every
    /// file and directory once before the rename. Never overwrites: an existing name is an
    /// error.
    pub fn write_file(&self, relative: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.dir.join(relative);
        if let Some(parent) = path.parent().filter(|p| *p != self.dir) {
            fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(bytes)?;
        Ok(path)
    }

    /// Creates an empty file to be filled by the caller (a streamed download); the caller
    /// must `sync_all` it before `promote`.
    pub fn create_file(&self, relative: &str) -> io::Result<(PathBuf, File)> {
        let path = self.dir.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((path, file))
    }

    /// Makes the delivery visible as `<parent>/<YYYYMMDD_HHMMSS>` (or `_2`, `_3`, … when a
    /// delivery in the same second got there first). `key` identifies the delivery (its
    /// dedupe key) in the intent file until `Promoted::committed` is called.
    pub fn promote(mut self, parent: &Path, at: DateTime<Utc>, key: &str) -> io::Result<Promoted> {
        fsync_tree(&self.dir)?;
        create_dir_all_synced(parent)?;
        let base = datetime_dir_name(at);
        let pending = self.root.join(PENDING_DIR);
        fs::create_dir_all(&pending).map_err(|e| at_path(&pending, e))?;
        // One intent per attempt: a redelivery must not overwrite the intent of an earlier
        // attempt whose directory is still waiting for the sweeper.
        let staged_name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let key_hash = hex::encode(&Sha256::digest(key.as_bytes())[..16]);
        let intent = pending.join(format!("{key_hash}-{staged_name}.json"));
        for target in free_names(&self.root, parent, &base) {
            write_intent(&intent, key, &target).map_err(|e| at_path(&intent, e))?;
            match renameat_with(CWD, &self.dir, CWD, &target, RenameFlags::NOREPLACE) {
                Ok(()) => {
                    fsync_dir(parent)?;
                    self.promoted = true;
                    return Ok(Promoted {
                        path: target,
                        intent,
                    });
                }
                Err(e) if e == rustix::io::Errno::EXIST => continue,
                Err(e) => return Err(at_path(&target, e.into())),
            }
        }
        Err(no_free_name(parent, &base))
    }

    /// Makes the delivery visible under `parent` like `promote`, announced by a ticket
    /// instead of a job row. The ticket, holding `raw` and naming the directory, is written
    /// and fsynced before the rename: it is the commit point, and the only fsync'd file.
    /// Nothing else is fsynced (the ingester puts back from the ticket what a crash loses).
    /// Returns the directory.
    pub fn promote_ticketed(
        mut self,
        parent: &Path,
        at: DateTime<Utc>,
        mut ticket: Ticket,
        raw: &[u8],
    ) -> io::Result<PathBuf> {
        fs::create_dir_all(parent).map_err(|e| at_path(parent, e))?;
        let tickets = tickets_dir(&self.root);
        create_dir_all_synced(&tickets)?;
        let staged_name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let ticket_path = ticket::path_for(&self.root, &staged_name);
        let base = datetime_dir_name(at);
        let mut names = free_names(&self.root, parent, &base);
        let no_name = || no_free_name(parent, &base);
        let mut target = names.next().ok_or_else(no_name)?;
        ticket.target = target.clone();
        ticket::write_new(&ticket_path, &ticket, raw)?;
        loop {
            match renameat_with(CWD, &self.dir, CWD, &target, RenameFlags::NOREPLACE) {
                Ok(()) => {
                    self.promoted = true;
                    return Ok(target);
                }
                // Taken meanwhile by a delivery of the same second: the ticket names the
                // next free name before the next try.
                Err(e) if e == rustix::io::Errno::EXIST => {
                    target = names.next().ok_or_else(no_name)?;
                    ticket.target = target.clone();
                    ticket::replace(&ticket_path, &ticket, raw)?;
                }
                Err(e) => {
                    let _ = fs::remove_file(&ticket_path);
                    return Err(at_path(&target, e.into()));
                }
            }
        }
    }

    /// Moves the staged directory to `<parent>/<base>` (or the next free `_n`), with no
    /// intent nor ticket: for a delivery put back from its ticket, whose ticket then names
    /// the directory it got.
    pub fn promote_named(mut self, parent: &Path, base: &str) -> io::Result<PathBuf> {
        fs::create_dir_all(parent).map_err(|e| at_path(parent, e))?;
        for target in free_names(&self.root, parent, base) {
            match renameat_with(CWD, &self.dir, CWD, &target, RenameFlags::NOREPLACE) {
                Ok(()) => {
                    self.promoted = true;
                    return Ok(target);
                }
                Err(e) if e == rustix::io::Errno::EXIST => continue,
                Err(e) => return Err(at_path(&target, e.into())),
            }
        }
        Err(no_free_name(parent, base))
    }
}

/// `<parent>/<base>`, `<parent>/<base>_2`, … that are not taken yet, starting near the
/// first free number, found in O(log n) looks: the numbers of a busy
/// second are taken from 1 up, so doubling then bisecting finds the end of the run.
fn free_names<'a>(
    root: &'a Path,
    parent: &'a Path,
    base: &'a str,
) -> impl Iterator<Item = PathBuf> + 'a {
    let is_taken = move |n: u32| taken(root, &parent.join(numbered(base, n)));
    let start = if is_taken(1) {
        let (mut low, mut high) = (1u32, 2u32);
        while high < MAX_NAMES && is_taken(high) {
            low = high;
            high = (high * 2).min(MAX_NAMES);
        }
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if is_taken(middle) {
                low = middle;
            } else {
                high = middle;
            }
        }
        high
    } else {
        1
    };
    (start..MAX_NAMES)
        .map(move |n| parent.join(numbered(base, n)))
        .filter(move |target| !taken(root, target))
}

/// How many deliveries one second of one group can hold.
const MAX_NAMES: u32 = 100_000;

fn no_free_name(parent: &Path, base: &str) -> io::Error {
    io::Error::other(format!(
        "no free directory name for {base} under {}",
        parent.display()
    ))
}

/// Whether a name is already used, in the inbox or (a delivery archived since) in the
/// archive: the inbox and the archive keep one name per delivery. Looked at before the
/// intent or ticket is written, so a busy second costs a few `stat`s, not an fsync per
/// name taken; the rename (`RENAME_NOREPLACE`) still decides a race.
fn taken(root: &Path, target: &Path) -> bool {
    target.exists()
        || sibling_area(root, target, "archive").is_some_and(|archived| archived.exists())
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.promoted {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Promoted {
    /// The job's commit could not be confirmed either way (the connection broke around it):
    /// keep the directory and its intent; `sweep` decides once the database answers again.
    pub fn undecided(self) {
        tracing::warn!(path = %self.path.display(), "job commit unconfirmed; leaving the delivery to the sweeper");
    }

    /// The job row is committed: the delivery no longer needs its intent file.
    pub fn committed(self) {
        let _ = fs::remove_file(&self.intent);
    }

    /// The job row could not be committed: take the directory out of `inbox/` again.
    pub fn abandon(self, root: &Path) {
        discard_promoted(root, &self.path);
        let _ = fs::remove_file(&self.intent);
    }
}

/// Removes a directory from `inbox/` without it ever looking half-deleted: it is first
/// renamed back into `.staging/`, then removed.
pub fn discard_promoted(root: &Path, dir: &Path) {
    let graveyard = root
        .join(STAGING_DIR)
        .join(format!("discard-{}", unique_name()));
    match fs::rename(dir, &graveyard) {
        Ok(()) => {
            let _ = fs::remove_dir_all(&graveyard);
        }
        Err(_) => {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn write_intent(intent: &Path, key: &str, target: &Path) -> io::Result<()> {
    let body = serde_json::json!({ "key": key, "target": target, "at": Utc::now() });
    let tmp = intent.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(body.to_string().as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, intent)?;
    if let Some(parent) = intent.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

fn fsync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            fsync_tree(&entry.path())?;
        } else {
            File::open(entry.path())?.sync_all()?;
        }
    }
    fsync_dir(dir)
}

/// `create_dir_all` that also fsyncs each directory it creates' parent, so the new path
/// survives a power cut.
fn create_dir_all_synced(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all_synced(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(at_path(dir, e)),
    }
    if let Some(parent) = dir.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// True while some process still writes into the staging directory `dir` (it holds the
/// lock `Staging` takes).
pub fn in_use(dir: &Path) -> bool {
    let Ok(handle) = File::open(dir) else {
        return false;
    };
    match flock(&handle, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => false,
        Err(e) => e == rustix::io::Errno::WOULDBLOCK,
    }
}

//! `docker exec` runs dpctl as root. Everything it writes (a mail it injects, a release)
//! must belong to the service user, or the service would later be refused its own inbox
//! folders: so dpctl, started as root, first becomes `paths.service_user` by running itself
//! again through util-linux's `setpriv`.

use shared_modules::config::Config;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The effective user: `/proc/self` belongs to it.
fn effective_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Returns only when there is nothing to do; Err when the switch failed.
pub fn become_service_user(config: &Config) -> Result<(), String> {
    let Some(user) = config.paths.service_user.as_deref() else {
        return Ok(());
    };
    if user.is_empty() || user == "root" || effective_uid() != Some(0) {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find dpctl itself: {e}"))?;
    let error = Command::new("setpriv")
        .args(["--reuid", user, "--regid", user, "--init-groups", "--"])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(format!(
        "cannot become the service user `{user}` (paths.service_user) with setpriv: {error}"
    ))
}

//! Tests that drive the machine's Postfix leave it as they found it.

use std::path::PathBuf;

/// The machine's Postfix configuration (`main.cf`, `master.cf`) and running state, put back
/// when dropped: for tests that drive the machine's Postfix.
pub struct PostfixAsItWas {
    files: Vec<(std::path::PathBuf, Option<Vec<u8>>)>,
    was_running: bool,
}

impl PostfixAsItWas {
    pub fn save() -> Self {
        let out = std::process::Command::new("postconf")
            .args(["-h", "config_directory"])
            .output()
            .expect("postconf is required: run scripts/services.sh postfix");
        assert!(
            out.status.success(),
            "postconf failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        // The backups scripts/local-postfix.sh leaves are put back as they were too.
        let files = [
            "main.cf",
            "master.cf",
            "main.cf.hview-backup",
            "master.cf.hview-backup",
        ]
        .iter()
        .map(|name| {
            let path = conf.join(name);
            let bytes = std::fs::read(&path).ok();
            (path, bytes)
        })
        .collect();
        let was_running = std::process::Command::new("postfix")
            .arg("status")
            .output()
            .is_ok_and(|o| o.status.success());
        Self { files, was_running }
    }
}

impl Drop for PostfixAsItWas {
    fn drop(&mut self) {
        let _ = std::process::Command::new("postfix").arg("stop").output();
        for (path, bytes) in &self.files {
            let _ = match bytes {
                Some(bytes) => std::fs::write(path, bytes),
                None => std::fs::remove_file(path),
            };
        }
        if self.was_running {
            let _ = std::process::Command::new("postfix").arg("start").output();
        }
    }
}

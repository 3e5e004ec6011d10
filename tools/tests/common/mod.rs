//! Running the real `dpctl` binary the way an operator does.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_dpctl");

/// (exit code, stdout, stderr) of `dpctl --config CONFIG ARGS…`.
pub fn dpctl(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

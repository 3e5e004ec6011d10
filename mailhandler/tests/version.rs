//! `mailhandler --version` prints the version and the commit it was built from, and exits 0
//! without reading a message or a config.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

#[test]
fn the_mailhandler_says_its_version_and_commit() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailhandler"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "mailhandler {} (commit {})",
            build_info::VERSION,
            build_info::COMMIT
        )
    );
}

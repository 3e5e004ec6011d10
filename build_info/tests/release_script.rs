//! `scripts/release.sh X.Y.Z` rehearsed in a clone of this repository (suite and image
//! skipped): it refuses a version without a changelog section and a dirty tree, and
//! otherwise sets the version, records the migrations' checksums, commits and tags.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("RELEASE_SKIP_TESTS", "1")
        .env("RELEASE_SKIP_IMAGE", "1")
        .env("GIT_AUTHOR_NAME", "release test")
        .env("GIT_AUTHOR_EMAIL", "release@test.invalid")
        .env("GIT_COMMITTER_NAME", "release test")
        .env("GIT_COMMITTER_EMAIL", "release@test.invalid")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_release_is_refused_without_its_changelog_section_or_with_a_dirty_tree_then_made() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let scratch = tempfile::tempdir().unwrap();
    let clone = scratch.path().join("repo");
    let cloned = run(
        scratch.path(),
        "git",
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    assert!(cloned.status.success(), "{}", text(&cloned));
    let (release, major) = build_info::release_and_major(build_info::VERSION).unwrap();
    let minor: u64 = build_info::VERSION
        .rsplit('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let next = format!("{release}.{major}.{}", minor + 1);

    let refused = run(&clone, "scripts/release.sh", &[&next]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("CHANGELOG.md has no"),
        "{}",
        text(&refused)
    );

    let changelog = clone.join("CHANGELOG.md");
    let old = std::fs::read_to_string(&changelog).unwrap();
    let new = old.replacen(
        "## [Unreleased]\n",
        &format!("## [Unreleased]\n\n## [{next}] - 2026-12-08\n\n### Fixed\n- A rehearsal.\n"),
        1,
    );
    std::fs::write(&changelog, new).unwrap();
    let dirty = run(&clone, "scripts/release.sh", &[&next]);
    assert!(!dirty.status.success());
    assert!(text(&dirty).contains("not clean"), "{}", text(&dirty));

    let committed = run(&clone, "git", &["commit", "-qam", "changelog"]);
    assert!(committed.status.success(), "{}", text(&committed));
    let made = run(&clone, "scripts/release.sh", &[&next]);
    assert!(made.status.success(), "{}", text(&made));
    let cargo = std::fs::read_to_string(clone.join("Cargo.toml")).unwrap();
    assert!(cargo.contains(&format!("version = \"{next}\"")), "{cargo}");
    let compose = std::fs::read_to_string(clone.join("docker-compose.yml")).unwrap();
    assert!(
        compose.contains(&format!("HVIEW_VERSION:-{next}}}")),
        "{compose}"
    );
    let tag = run(&clone, "git", &["tag", "--list", &format!("v{next}")]);
    assert_eq!(
        String::from_utf8_lossy(&tag.stdout).trim(),
        format!("v{next}")
    );
    assert!(text(&made).contains(&format!("docker push hview/dataprocessor:{next}")));
    let clean = run(&clone, "git", &["status", "--porcelain"]);
    assert_eq!(
        String::from_utf8_lossy(&clean.stdout).trim(),
        "",
        "all committed"
    );
}

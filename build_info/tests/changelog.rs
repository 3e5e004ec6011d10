//! The workspace's version is the changelog's newest release: a release is never cut
//! without its section, and the binaries never claim a version the changelog does not have.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

#[test]
fn the_changelogs_newest_release_is_the_workspaces_version() {
    let changelog =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../CHANGELOG.md")).unwrap();
    let newest = changelog
        .lines()
        .filter_map(|l| l.strip_prefix("## ["))
        .filter_map(|l| l.split_once(']'))
        .map(|(version, _)| version)
        .find(|version| *version != "Unreleased")
        .expect("a released version in CHANGELOG.md");
    assert_eq!(newest, build_info::VERSION);
    assert!(
        changelog.contains("## [Unreleased]"),
        "an Unreleased section for what comes next"
    );
}

#[test]
fn compose_runs_the_workspaces_version_by_default() {
    let compose = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docker-compose.yml"
    ))
    .unwrap();
    let wanted = format!(
        "hview/dataprocessor:${{HVIEW_VERSION:-{}}}",
        build_info::VERSION
    );
    assert!(
        compose.contains(&wanted),
        "docker-compose.yml should name {wanted}"
    );
}

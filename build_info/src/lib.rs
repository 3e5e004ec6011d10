//! What a DataProcessor binary is: its version (the workspace's, in the seed's
//! `RELEASE.MAJOR.MINOR` scheme, see CHANGELOG.md) and the git commit it was built from.

/// `1.0.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit's short hash, or `unknown` when built outside git without `DP_GIT_COMMIT`.
pub const COMMIT: &str = env!("DP_GIT_COMMIT");
/// `1.0.0 (commit 0123456789ab)`, as `--version` prints it after the binary's name.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DP_GIT_COMMIT"),
    ")"
);

/// A version's `(RELEASE, MAJOR)`: within one pair the database schema only grows (new
/// tables and columns), so binaries of the same pair share a database.
pub fn release_and_major(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.trim().split('.');
    let release = parts.next()?.parse().ok()?;
    let major = parts.next()?.parse().ok()?;
    Some((release, major))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_three_numbers_and_the_commit_is_known_in_a_checkout() {
        assert!(release_and_major(VERSION).is_some(), "{VERSION}");
        assert_eq!(VERSION.split('.').count(), 3, "{VERSION}");
        assert!(LONG_VERSION.starts_with(VERSION));
        assert!(!COMMIT.is_empty());
    }

    #[test]
    fn release_and_major_read_the_first_two_numbers() {
        assert_eq!(release_and_major("1.2.3"), Some((1, 2)));
        assert_eq!(release_and_major("10.0.7"), Some((10, 0)));
        assert_eq!(release_and_major("x.1.2"), None);
        assert_eq!(release_and_major("1"), None);
    }
}

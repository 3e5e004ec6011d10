//! A released migration is never edited: databases in the field ran it as it was, and an
//! edit would not run again there. Each one's checksum is in `released_migrations.sha256`.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use sha2::{Digest, Sha256};
use std::path::Path;

#[test]
fn no_released_migration_was_edited_or_removed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed = std::fs::read_to_string(root.join("released_migrations.sha256")).unwrap();
    let mut checked = 0;
    for line in listed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (expected, path) = line
            .split_once("  ")
            .expect("sha256sum format: <hex>  <path>");
        let file = root.join(path);
        let bytes = std::fs::read(&file).unwrap_or_else(|e| {
            panic!("released migration {path} is gone ({e}): released migrations are never removed")
        });
        let actual = hex::encode(Sha256::digest(&bytes));
        assert_eq!(
            actual, expected,
            "released migration {path} was edited: put the change in a new migration instead"
        );
        checked += 1;
    }
    assert!(checked >= 2, "no released migration was checked");
}

#[test]
fn every_migration_listed_is_one_diesel_embeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed = std::fs::read_to_string(root.join("released_migrations.sha256")).unwrap();
    for line in listed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let path = line.split_once("  ").unwrap().1;
        assert!(
            path.starts_with("migrations/")
                && (path.ends_with("/up.sql") || path.ends_with("/down.sql")),
            "{path}"
        );
    }
}

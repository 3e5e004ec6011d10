//! The embedded S3 store's files: a replaced object leaves no blob behind, a delete leaves
//! no folder, keys that cannot be paths or that clash are refused, multipart ETags are
//! S3's, a wrong part ETag is refused, and what a crash or an abandoned upload leaves is
//! cleared.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use md5::{Digest, Md5};
use shared_modules::object_store::DiskStore;
use shared_modules::object_store::disk::{
    CommitError, CompleteError, KeyError, ObjectMeta, UploadInfo, check_key,
};
use std::path::Path;
use std::time::Duration;

fn put(store: &DiskStore, key: &str, bytes: &[u8]) -> Result<ObjectMeta, CommitError> {
    let mut blob = store.new_blob().unwrap();
    blob.write(bytes).unwrap();
    store.commit(key, blob.finish().unwrap(), None)
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn store() -> (tempfile::TempDir, DiskStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::new(dir.path(), "veritas2hview");
    assert!(store.create().unwrap(), "created now");
    assert!(!store.create().unwrap(), "already there");
    (dir, store)
}

#[test]
fn objects_are_replaced_read_listed_and_deleted_without_leftovers() {
    let (_dir, store) = store();
    let first = put(&store, "c/g/dump.tar.gz", b"first").unwrap();
    assert_eq!(first.etag, hex::encode(Md5::digest(b"first")));
    let second = put(&store, "c/g/dump.tar.gz", b"second!").unwrap();
    assert_eq!(second.size, 7);
    let (meta, mut file) = store.open_object("c/g/dump.tar.gz").unwrap().unwrap();
    assert_eq!(meta, second);
    let mut read = String::new();
    std::io::Read::read_to_string(&mut file, &mut read).unwrap();
    assert_eq!(read, "second!");
    assert_eq!(
        count(&store.dir().join("blobs")),
        1,
        "the replaced blob is gone"
    );

    put(&store, "c/h/other", b"x").unwrap();
    put(&store, "d/one", b"y").unwrap();
    let keys = |prefix: &str| -> Vec<String> {
        store
            .list(prefix)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(keys(""), ["c/g/dump.tar.gz", "c/h/other", "d/one"]);
    assert_eq!(keys("c/"), ["c/g/dump.tar.gz", "c/h/other"]);
    assert_eq!(keys("c/g/du"), ["c/g/dump.tar.gz"]);
    assert!(keys("e/").is_empty());

    assert!(store.delete("c/g/dump.tar.gz").unwrap());
    assert!(!store.delete("c/g/dump.tar.gz").unwrap());
    assert!(store.meta("c/g/dump.tar.gz").unwrap().is_none());
    assert!(
        !store.dir().join("keys/c/g").exists(),
        "the emptied folder is gone"
    );
    assert!(store.dir().join("keys/c/h").exists());
    assert_eq!(count(&store.dir().join("blobs")), 2);
}

#[test]
fn keys_that_are_not_safe_paths_or_that_clash_are_refused() {
    for bad in [
        "",
        "/abs",
        "a//b",
        "a/./b",
        "../x",
        "a/..",
        "trailing/",
        "back\\slash",
        "nul\0",
    ] {
        assert!(check_key(bad).is_err(), "{bad:?} accepted");
    }
    assert!(check_key(&"a".repeat(256)).is_err());
    assert!(check_key("bobs_burgers/fryer grid/dump (1).tar.gz").is_ok());
    let (_dir, store) = store();
    put(&store, "a/b", b"1").unwrap();
    assert!(matches!(
        put(&store, "a", b"2"),
        Err(CommitError::Key(KeyError::Clash(_)))
    ));
    assert!(matches!(
        put(&store, "a/b/c", b"3"),
        Err(CommitError::Key(KeyError::Clash(_)))
    ));
    assert_eq!(
        count(&store.dir().join("blobs")),
        1,
        "refused blobs are removed"
    );
}

#[test]
fn multipart_uploads_join_their_parts_with_s3s_etag() {
    let (_dir, store) = store();
    let info = UploadInfo {
        key: "c/g/big.bin".into(),
        owner: "me".into(),
        content_type: None,
    };
    let id = store.create_upload(&info).unwrap();
    let parts: [&[u8]; 3] = [&[1u8; 1000], &[2u8; 1000], b"tail"];
    let mut listed = Vec::new();
    // Sent out of order, and part 2 sent twice (the second one counts).
    for (number, bytes) in [
        (2, &b"stale"[..]),
        (3, parts[2]),
        (1, parts[0]),
        (2, parts[1]),
    ] {
        let mut writer = store.part_writer(&id).unwrap();
        writer.write(bytes).unwrap();
        let part = writer.finish().unwrap();
        if !(number == 2 && bytes == b"stale") {
            listed.push((number, format!("\"{}\"", part.etag)));
        }
        store.commit_part(&id, number, part).unwrap();
    }
    listed.sort();
    let wrong: Vec<(i32, String)> = vec![(1, listed[0].1.clone()), (2, "\"0123\"".into())];
    assert!(matches!(
        store.complete_upload(&id, "c/g/big.bin", &wrong),
        Err(CompleteError::InvalidPart(_))
    ));
    let meta = store.complete_upload(&id, "c/g/big.bin", &listed).unwrap();
    let mut digests = Md5::new();
    for part in parts {
        digests.update(Md5::digest(part));
    }
    assert_eq!(meta.etag, format!("{}-3", hex::encode(digests.finalize())));
    assert_eq!(meta.size, 2004);
    assert!(
        store.upload(&id).unwrap().is_none(),
        "the upload is gone once complete"
    );
    assert!(matches!(
        store.complete_upload(&id, "c/g/big.bin", &listed),
        Err(CompleteError::NoSuchUpload(_))
    ));
    let aborted = store.create_upload(&info).unwrap();
    assert!(store.abort_upload(&aborted).unwrap());
    assert!(!store.abort_upload(&aborted).unwrap());
    assert_eq!(
        count(&store.dir().join("blobs")),
        1,
        "only the object's blob"
    );
}

#[test]
fn recovery_clears_what_a_crash_left_but_not_what_is_in_use() {
    let (_dir, store) = store();
    put(&store, "c/g/kept", b"kept").unwrap();
    let orphan = store.new_blob().unwrap();
    let orphan = orphan.finish().unwrap();
    std::fs::write(store.dir().join("tmp/half-written-meta"), b"{").unwrap();
    assert_eq!(
        store.recover(Duration::from_secs(3600)).unwrap(),
        0,
        "too young to judge"
    );
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(store.recover(Duration::from_millis(1)).unwrap(), 2);
    assert!(!orphan.path.exists());
    assert_eq!(store.open_object("c/g/kept").unwrap().unwrap().0.size, 4);
}

#[test]
fn recovery_drops_multipart_uploads_abandoned_for_a_week_and_keeps_the_others() {
    let (_dir, store) = store();
    let info = UploadInfo {
        key: "c/g/big.bin".into(),
        owner: "me".into(),
        content_type: None,
    };
    let upload_with_a_part = |store: &DiskStore| {
        let id = store.create_upload(&info).unwrap();
        let mut writer = store.part_writer(&id).unwrap();
        writer.write(b"part one").unwrap();
        store.commit_part(&id, 1, writer.finish().unwrap()).unwrap();
        id
    };
    let abandoned = upload_with_a_part(&store);
    let active = upload_with_a_part(&store);
    let folder = store.dir().join("uploads").join(&abandoned);
    let eight_days_ago = std::time::SystemTime::now() - Duration::from_secs(8 * 24 * 3600);
    std::fs::File::open(&folder)
        .unwrap()
        .set_modified(eight_days_ago)
        .unwrap();
    assert_eq!(store.recover(Duration::from_millis(1)).unwrap(), 1);
    assert!(
        store.upload(&abandoned).unwrap().is_none(),
        "dropped with its parts"
    );
    assert!(!folder.exists());
    assert!(
        store.upload(&active).unwrap().is_some(),
        "kept: a part came today"
    );
}

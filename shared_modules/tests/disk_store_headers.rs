//! The embedded store beside the bytes: headers and user metadata kept with an object (and
//! a 1.0.0 store's metadata still read), copies that link the blob instead of copying bytes,
//! write conditions judged at the commit, multipart objects that know their parts, and a
//! part sent again with other bytes while the first copy was in flight.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use md5::{Digest, Md5};
use shared_modules::object_store::DiskStore;
use shared_modules::object_store::disk::{
    CommitError, MIN_PART_SIZE, ObjectMeta, Precondition, PreconditionError, StoredHeaders,
    UploadInfo,
};
use std::os::unix::fs::MetadataExt;

fn store() -> (tempfile::TempDir, DiskStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::new(dir.path(), "veritas2hview");
    store.create().unwrap();
    (dir, store)
}

fn put_with(
    store: &DiskStore,
    key: &str,
    bytes: &[u8],
    headers: StoredHeaders,
    precondition: &Precondition,
) -> Result<ObjectMeta, CommitError> {
    let mut blob = store.new_blob().unwrap();
    blob.write(bytes).unwrap();
    store.commit_if(key, blob.finish().unwrap(), headers, precondition)
}

fn headers(mtime: &str) -> StoredHeaders {
    StoredHeaders {
        content_type: Some("application/gzip".into()),
        cache_control: Some("no-cache".into()),
        expires: Some("Wed, 21 Oct 2037 07:28:00 GMT".into()),
        metadata: [("mtime".to_string(), mtime.to_string())].into(),
        ..Default::default()
    }
}

fn blobs(store: &DiskStore) -> usize {
    std::fs::read_dir(store.dir().join("blobs"))
        .unwrap()
        .count()
}

#[test]
fn headers_and_metadata_are_kept_with_the_object() {
    let (_dir, store) = store();
    let meta = put_with(
        &store,
        "c/g/a.tgz",
        b"bytes",
        headers("1700000000"),
        &Precondition::Always,
    )
    .unwrap();
    assert_eq!(store.meta("c/g/a.tgz").unwrap().unwrap(), meta);
    assert_eq!(meta.headers, headers("1700000000"));
}

#[test]
fn a_store_written_by_1_0_0_is_read_after_the_upgrade() {
    // What 1.0.0 left: metadata at keys/<key> (no key inside, only the content type),
    // blobs as today, and an empty folder a delete left.
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("s3/veritas2hview");
    for sub in ["keys/c/g/sub", "keys/c/empty", "blobs", "uploads", "tmp"] {
        std::fs::create_dir_all(bucket.join(sub)).unwrap();
    }
    let released = |key: &str, blob: &str, bytes: &[u8]| {
        std::fs::write(bucket.join("blobs").join(blob), bytes).unwrap();
        let etag = hex::encode(Md5::digest(bytes));
        std::fs::write(
            bucket.join("keys").join(key),
            format!(r#"{{"blob":"{blob}","etag":"{etag}","size":{},"last_modified":"2026-11-01T10:00:00Z","content_type":"application/x-tar"}}"#, bytes.len()),
        )
        .unwrap();
    };
    released("c/g/old.tgz", "1-1-1", b"old");
    released("c/g/sub/deep.tgz", "1-1-2", b"deeper");
    released("top", "1-1-3", b"t");
    let store = DiskStore::new(dir.path(), "veritas2hview");
    assert!(!store.create().unwrap(), "not a new bucket");
    assert!(!bucket.join("keys").exists(), "moved, the old tree gone");
    let listed: Vec<String> = store
        .list("")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(listed, ["c/g/old.tgz", "c/g/sub/deep.tgz", "top"]);
    let old = store.meta("c/g/old.tgz").unwrap().unwrap();
    assert_eq!(old.key, "c/g/old.tgz");
    assert_eq!(
        old.headers.content_type.as_deref(),
        Some("application/x-tar")
    );
    assert!(old.headers.metadata.is_empty() && old.part_sizes.is_empty());
    let (_, file) = store.open_object("c/g/sub/deep.tgz").unwrap().unwrap();
    assert_eq!(file.metadata().unwrap().len(), 6);
    // Now `c/g/old.tgz/x` may be beside `c/g/old.tgz`, which 1.0.0 refused.
    let mut blob = store.new_blob().unwrap();
    blob.write(b"x").unwrap();
    store
        .commit(
            "c/g/old.tgz/x",
            blob.finish().unwrap(),
            StoredHeaders::default(),
        )
        .unwrap();
    assert_eq!(store.list("c/g/old").unwrap().len(), 2);

    // A start cut short after moving one file: the next start moves the rest.
    std::fs::create_dir_all(bucket.join("keys/again")).unwrap();
    released("again/one", "1-1-4", b"1");
    released("again/two", "1-1-5", b"2");
    std::fs::remove_file(bucket.join("keys/again/one")).unwrap();
    let one = serde_json::json!({"key": "again/one", "blob": "1-1-4", "etag": hex::encode(Md5::digest(b"1")), "size": 1, "last_modified": "2026-11-01T10:00:00Z"});
    std::fs::create_dir_all(bucket.join("objects/dagain")).unwrap();
    std::fs::write(bucket.join("objects/dagain/oone"), one.to_string()).unwrap();
    let restarted = DiskStore::new(dir.path(), "veritas2hview");
    restarted.create().unwrap();
    assert_eq!(restarted.list("again/").unwrap().len(), 2);
    assert!(!bucket.join("keys").exists());
}

#[test]
fn a_copy_links_the_blob_keeps_or_replaces_the_metadata_and_outlives_its_source() {
    let (_dir, store) = store();
    let source = put_with(
        &store,
        "c/g/a.tgz",
        b"the bytes",
        headers("1"),
        &Precondition::Always,
    )
    .unwrap();
    let copy = store
        .copy("c/g/a.tgz", "c/g/b.tgz", None, |_| true)
        .unwrap()
        .unwrap();
    assert_eq!((copy.etag.as_str(), copy.size), (source.etag.as_str(), 9));
    assert_eq!(copy.headers, source.headers, "COPY keeps the metadata");
    assert_ne!(copy.blob, source.blob);
    let inode = |meta: &ObjectMeta| {
        std::fs::metadata(store.dir().join("blobs").join(&meta.blob))
            .unwrap()
            .ino()
    };
    assert_eq!(inode(&copy), inode(&source), "a hard link: no bytes copied");

    // Onto itself with new metadata: the same bytes, one blob for it still.
    let before = blobs(&store);
    let changed = store
        .copy("c/g/a.tgz", "c/g/a.tgz", Some(headers("2")), |_| true)
        .unwrap()
        .unwrap();
    assert_eq!(changed.headers.metadata["mtime"], "2");
    assert_eq!(changed.etag, source.etag);
    assert_eq!(
        blobs(&store),
        before,
        "the old link went with the old metadata"
    );

    // The source gone, the copy still reads its bytes.
    assert!(store.delete("c/g/a.tgz").unwrap());
    let (_, mut file) = store.open_object("c/g/b.tgz").unwrap().unwrap();
    let mut read = String::new();
    std::io::Read::read_to_string(&mut file, &mut read).unwrap();
    assert_eq!(read, "the bytes");
    assert!(
        store
            .copy("c/g/a.tgz", "c/g/c.tgz", None, |_| true)
            .unwrap()
            .is_none(),
        "no source, no copy"
    );
    let refused = store.copy("c/g/b.tgz", "c/g/c.tgz", None, |_| false);
    assert!(matches!(
        refused,
        Err(CommitError::Precondition(PreconditionError::SourceRefused))
    ));
    assert!(store.meta("c/g/c.tgz").unwrap().is_none());
    assert_eq!(blobs(&store), 1, "nothing left of refused copies");
}

#[test]
fn write_conditions_are_judged_at_the_commit() {
    let (_dir, store) = store();
    let first = put_with(
        &store,
        "c/g/a",
        b"one",
        StoredHeaders::default(),
        &Precondition::Absent,
    )
    .unwrap();
    let exists = put_with(
        &store,
        "c/g/a",
        b"two",
        StoredHeaders::default(),
        &Precondition::Absent,
    );
    assert!(matches!(
        exists,
        Err(CommitError::Precondition(PreconditionError::Exists))
    ));
    let stale = Precondition::ETag(Some("0123".into()));
    assert!(matches!(
        put_with(&store, "c/g/a", b"two", StoredHeaders::default(), &stale),
        Err(CommitError::Precondition(PreconditionError::Changed))
    ));
    assert_eq!(store.meta("c/g/a").unwrap().unwrap().etag, first.etag);
    assert_eq!(blobs(&store), 1, "refused blobs are removed");
    let current = Precondition::ETag(Some(first.etag.clone()));
    put_with(&store, "c/g/a", b"two", StoredHeaders::default(), &current).unwrap();
    assert!(matches!(
        store.delete_if("c/g/a", &current),
        Err(CommitError::Precondition(PreconditionError::Changed))
    ));
    assert!(matches!(
        store.delete_if("c/g/none", &Precondition::ETag(None)),
        Err(CommitError::Precondition(PreconditionError::Missing))
    ));
    assert!(store.delete_if("c/g/a", &Precondition::ETag(None)).unwrap());
}

#[test]
fn a_part_sent_again_while_the_first_was_in_flight_completes_with_the_copy_listed() {
    let (_dir, store) = store();
    let info = UploadInfo {
        key: "c/g/big.bin".into(),
        owner: "me".into(),
        headers: headers("7"),
        ..Default::default()
    };
    let id = store.create_upload(&info, 10).unwrap();
    let md5 = |bytes: &[u8]| hex::encode(Md5::digest(bytes));
    let first_part = vec![b'a'; MIN_PART_SIZE as usize];
    let resent = vec![b'b'; MIN_PART_SIZE as usize];
    // The first copy starts, the client gives up on it and sends the part again; the
    // second finishes first, the first last.
    let mut slow = store.part_writer(&id).unwrap();
    slow.write(&first_part).unwrap();
    let mut fast = store.part_writer(&id).unwrap();
    fast.write(&resent).unwrap();
    store.commit_part(&id, 1, fast.finish().unwrap()).unwrap();
    store.commit_part(&id, 1, slow.finish().unwrap()).unwrap();
    let mut last = store.part_writer(&id).unwrap();
    last.write(b"tail").unwrap();
    store.commit_part(&id, 2, last.finish().unwrap()).unwrap();
    let listed = store.list_parts(&id).unwrap().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");

    let meta = store
        .complete_upload(&id, "c/g/big.bin", &[(1, md5(&resent)), (2, md5(b"tail"))])
        .unwrap();
    assert_eq!(meta.part_sizes, vec![MIN_PART_SIZE, 4]);
    assert_eq!(meta.size, MIN_PART_SIZE + 4);
    assert_eq!(meta.headers, headers("7"), "the upload's metadata");
    let (_, mut file) = store.open_object("c/g/big.bin").unwrap().unwrap();
    let mut start = [0u8; 1];
    std::io::Read::read_exact(&mut file, &mut start).unwrap();
    assert_eq!(start[0], b'b', "the copy the client listed");
    assert_eq!(blobs(&store), 1);
}

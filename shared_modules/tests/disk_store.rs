//! The embedded S3 store's files: a replaced object leaves no blob behind, a delete leaves
//! no folder, keys as S3 has them are taken (`a` beside `a/b`, `folder/`, `..` parts) and
//! keys that would display as another name are refused, multipart ETags are S3's, a wrong part ETag or a part under 5 MiB is
//! refused, an access key's open uploads are limited and listed, and what a crash, a
//! killed upload or an abandoned upload leaves is cleared, periodically and never while it
//! is being written.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use md5::{Digest, Md5};
use shared_modules::object_store::DiskStore;
use shared_modules::object_store::disk::{
    CommitError, CompleteError, CreateUploadError, KeyError, MIN_PART_SIZE, ObjectMeta, SweepAges,
    UploadInfo, check_key,
};
use std::path::Path;
use std::time::Duration;

fn put(store: &DiskStore, key: &str, bytes: &[u8]) -> Result<ObjectMeta, CommitError> {
    let mut blob = store.new_blob().unwrap();
    blob.write(bytes).unwrap();
    store.commit(key, blob.finish().unwrap(), Default::default())
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
        !store.dir().join("objects/dc/dg").exists(),
        "the emptied folder is gone"
    );
    assert!(store.dir().join("objects/dc/dh").exists());
    assert_eq!(count(&store.dir().join("blobs")), 2);
}

#[test]
fn keys_as_s3_has_them_are_taken_whatever_they_look_like_as_paths() {
    for bad in ["", "back\\slash", "nul\0", &"a".repeat(1025)] {
        assert!(check_key(bad).is_err(), "{bad:?} accepted");
    }
    let (_dir, store) = store();
    let keys = [
        "a/b",
        "a",
        "a/b/c",
        "a/",
        "a/b/",
        "/abs",
        "a//b",
        "a/./b",
        "../x",
        "a/..",
        "bobs_burgers/fryer grid/dump (1).tar.gz",
    ];
    let long = format!("{}/{}", "l".repeat(300), "f".repeat(600));
    for (i, key) in keys.iter().copied().chain([long.as_str()]).enumerate() {
        put(&store, key, format!("{i}").as_bytes()).unwrap();
    }
    for (i, key) in keys.iter().copied().chain([long.as_str()]).enumerate() {
        let (meta, mut file) = store.open_object(key).unwrap().expect(key);
        let mut read = String::new();
        std::io::Read::read_to_string(&mut file, &mut read).unwrap();
        assert_eq!((meta.key.as_str(), read), (key, i.to_string()));
    }
    let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sorted.push(long.clone());
    sorted.sort();
    let listed: Vec<String> = store
        .list("")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(listed, sorted);
    let under_a: Vec<String> = store
        .list("a/")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        under_a,
        ["a/", "a/..", "a/./b", "a//b", "a/b", "a/b/", "a/b/c"]
    );
    // Everything is inside the bucket's folder, nothing beside it.
    let beside: Vec<_> = std::fs::read_dir(store.dir().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, [std::ffi::OsString::from("veritas2hview")]);
    for key in keys.iter().copied().chain([long.as_str()]) {
        assert!(store.delete(key).unwrap(), "{key}");
    }
    assert_eq!(count(&store.dir().join("objects")), 0, "no folder left");
    assert_eq!(count(&store.dir().join("blobs")), 0);
}

#[test]
fn multipart_uploads_join_their_parts_with_s3s_etag() {
    let (_dir, store) = store();
    let info = UploadInfo {
        key: "c/g/big.bin".into(),
        owner: "me".into(),
        ..Default::default()
    };
    let id = store.create_upload(&info, 100).unwrap();
    let (first, second) = (
        vec![1u8; MIN_PART_SIZE as usize],
        vec![2u8; MIN_PART_SIZE as usize],
    );
    let parts: [&[u8]; 3] = [&first, &second, b"tail"];
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
    assert_eq!(meta.size, 2 * MIN_PART_SIZE + 4);
    assert!(
        store.upload(&id).unwrap().is_none(),
        "the upload is gone once complete"
    );
    assert!(matches!(
        store.complete_upload(&id, "c/g/big.bin", &listed),
        Err(CompleteError::NoSuchUpload(_))
    ));
    let aborted = store.create_upload(&info, 100).unwrap();
    assert!(store.abort_upload(&aborted).unwrap());
    assert!(!store.abort_upload(&aborted).unwrap());
    assert_eq!(
        count(&store.dir().join("blobs")),
        1,
        "only the object's blob"
    );
}

/// The sweep as crash recovery: orphans older than `grace`, uploads untouched for a week.
fn recovery(grace: Duration) -> SweepAges {
    SweepAges {
        orphan_grace: grace,
        abandoned_upload: Duration::from_secs(7 * 24 * 3600),
    }
}

#[test]
fn recovery_clears_what_a_crash_left_but_not_what_is_in_use() {
    let (_dir, store) = store();
    put(&store, "c/g/kept", b"kept").unwrap();
    // What a killed process leaves: a blob no key names, metadata never renamed.
    let orphan = store.dir().join("blobs/00000000000000000001-1-1");
    std::fs::write(&orphan, b"half an upload").unwrap();
    std::fs::write(store.dir().join("tmp/half-written-meta"), b"{").unwrap();
    assert_eq!(
        store
            .sweep(&recovery(Duration::from_secs(3600)))
            .unwrap()
            .total(),
        0,
        "too young to judge"
    );
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        store
            .sweep(&recovery(Duration::from_millis(1)))
            .unwrap()
            .total(),
        2
    );
    assert!(!orphan.exists());
    assert_eq!(store.open_object("c/g/kept").unwrap().unwrap().0.size, 4);
}

#[test]
fn recovery_drops_multipart_uploads_abandoned_for_a_week_and_keeps_the_others() {
    let (_dir, store) = store();
    let info = UploadInfo {
        key: "c/g/big.bin".into(),
        owner: "me".into(),
        ..Default::default()
    };
    let upload_with_a_part = |store: &DiskStore| {
        let id = store.create_upload(&info, 100).unwrap();
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
    assert_eq!(
        store
            .sweep(&recovery(Duration::from_millis(1)))
            .unwrap()
            .total(),
        1
    );
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

fn backdate(path: &Path, by: Duration) {
    let file = std::fs::File::open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - by)
        .unwrap();
}

const HOUR: Duration = Duration::from_secs(3600);

fn ages() -> SweepAges {
    SweepAges {
        orphan_grace: HOUR,
        abandoned_upload: 24 * HOUR,
    }
}

#[test]
fn keys_that_would_display_as_another_name_or_break_lines_are_refused() {
    for bad in [
        "bobs_burgers/g/invoice\u{202E}fdp.exe",
        "a\u{202A}b",
        "a\u{2066}b",
        "a\u{2069}b",
        "a\u{200E}b",
        "a\u{200F}b",
        "a\u{061C}b",
        "line\u{2028}separator",
        "paragraph\u{2029}separator",
        "c1\u{0085}control",
    ] {
        assert!(
            matches!(check_key(bad), Err(KeyError::Invalid(..))),
            "{bad:?} accepted"
        );
    }
    assert!(check_key("bobs_burgers/grid/Bericht für März – ½.tar.gz").is_ok());
    assert!(check_key("bobs_burgers/grid/تقرير.zip").is_ok());
}

#[test]
fn upload_ids_not_shaped_as_this_store_makes_them_name_no_upload() {
    let (_dir, store) = store();
    for id in [
        "1".repeat(5000),
        "abc".into(),
        "1-2".into(),
        "1-2-3-4".into(),
        "../1-2-3".into(),
        "".into(),
    ] {
        assert!(store.upload(&id).unwrap().is_none(), "{id}");
        assert!(store.list_parts(&id).unwrap().is_none(), "{id}");
        assert!(!store.abort_upload(&id).unwrap(), "{id}");
        assert!(matches!(
            store.complete_upload(&id, "c/k", &[(1, "x".into())]),
            Err(CompleteError::NoSuchUpload(_))
        ));
        assert_eq!(
            store.part_writer(&id).err().map(|e| e.kind()),
            Some(std::io::ErrorKind::NotFound)
        );
    }
}

#[test]
fn a_sweep_removes_leftovers_but_never_a_blob_still_being_written() {
    let (_dir, store) = store();
    put(&store, "c/g/kept", b"kept").unwrap();
    // A killed PUT's bytes, untouched for two hours.
    let orphan = store.dir().join("blobs/00000000000000000001-1-1");
    std::fs::write(&orphan, vec![7u8; 4096]).unwrap();
    backdate(&orphan, 2 * HOUR);
    // A slow upload in this process, its last write two hours ago; and one fully received
    // but not yet committed.
    let mut slow = store.new_blob().unwrap();
    slow.write(b"first half ").unwrap();
    let received = {
        let mut blob = store.new_blob().unwrap();
        blob.write(b"received").unwrap();
        blob.finish().unwrap()
    };
    for entry in std::fs::read_dir(store.dir().join("blobs")).unwrap() {
        backdate(&entry.unwrap().path(), 2 * HOUR);
    }
    let swept = store.sweep(&ages()).unwrap();
    assert_eq!((swept.blobs, swept.blob_bytes), (1, 4096), "{swept:?}");
    assert!(!orphan.exists());
    assert_eq!(store.open_object("c/g/kept").unwrap().unwrap().0.size, 4);

    slow.write(b"second half").unwrap();
    store
        .commit("c/g/slow", slow.finish().unwrap(), Default::default())
        .unwrap();
    store
        .commit("c/g/received", received, Default::default())
        .unwrap();
    assert_eq!(store.meta("c/g/slow").unwrap().unwrap().size, 22);
    assert_eq!(store.meta("c/g/received").unwrap().unwrap().size, 8);
    assert_eq!(store.sweep(&ages()).unwrap().total(), 0);
    assert_eq!(count(&store.dir().join("blobs")), 3);
}

#[test]
fn a_blob_dropped_without_a_commit_is_removed_at_once() {
    let (_dir, store) = store();
    let mut blob = store.new_blob().unwrap();
    blob.write(b"bytes whose digest did not match").unwrap();
    let finished = blob.finish().unwrap();
    let path = finished.path.clone();
    assert!(path.exists());
    drop(finished);
    assert!(!path.exists());
    assert_eq!(count(&store.dir().join("blobs")), 0);
}

#[test]
fn a_sweep_drops_uploads_abandoned_for_the_configured_age_but_not_one_receiving_a_part() {
    let (_dir, store) = store();
    let info = UploadInfo {
        key: "c/g/big.bin".into(),
        owner: "me".into(),
        ..Default::default()
    };
    let abandoned = store.create_upload(&info, 100).unwrap();
    let receiving = store.create_upload(&info, 100).unwrap();
    let fresh = store.create_upload(&info, 100).unwrap();
    let mut part = store.part_writer(&receiving).unwrap();
    part.write(b"a slow part").unwrap();
    for id in [&abandoned, &receiving] {
        backdate(&store.dir().join("uploads").join(id), 25 * HOUR);
    }
    let swept = store.sweep(&ages()).unwrap();
    assert_eq!(swept.uploads, 1, "{swept:?}");
    assert!(store.upload(&abandoned).unwrap().is_none());
    assert!(store.upload(&fresh).unwrap().is_some());
    store
        .commit_part(&receiving, 1, part.finish().unwrap())
        .unwrap();
    assert_eq!(store.list_parts(&receiving).unwrap().unwrap().len(), 1);
}

#[test]
fn an_access_key_may_have_only_so_many_uploads_open() {
    let (_dir, store) = store();
    let by = |owner: &str| UploadInfo {
        key: "c/g/big.bin".into(),
        owner: owner.into(),
        ..Default::default()
    };
    let ids: Vec<String> = (0..3)
        .map(|_| store.create_upload(&by("bob"), 3).unwrap())
        .collect();
    assert!(matches!(
        store.create_upload(&by("bob"), 3),
        Err(CreateUploadError::TooMany { open: 3 })
    ));
    // Another key is not held back; an aborted upload frees a place.
    store.create_upload(&by("alice"), 3).unwrap();
    assert!(store.abort_upload(&ids[0]).unwrap());
    let again = store.create_upload(&by("bob"), 3).unwrap();
    assert!(store.create_upload(&by("bob"), 3).is_err());
    // A swept upload too; and a fresh store (serve restarted) counts what is on disk.
    backdate(&store.dir().join("uploads").join(&again), 25 * HOUR);
    assert_eq!(store.sweep(&ages()).unwrap().uploads, 1);
    store.create_upload(&by("bob"), 3).unwrap();
    let restarted = DiskStore::new(
        store.dir().parent().unwrap().parent().unwrap(),
        "veritas2hview",
    );
    assert!(matches!(
        restarted.create_upload(&by("bob"), 3),
        Err(CreateUploadError::TooMany { open: 3 })
    ));
}

fn upload_part(store: &DiskStore, id: &str, number: i32, bytes: &[u8]) -> String {
    let mut writer = store.part_writer(id).unwrap();
    writer.write(bytes).unwrap();
    let part = writer.finish().unwrap();
    let etag = part.etag.clone();
    store.commit_part(id, number, part).unwrap();
    etag
}

#[test]
fn every_part_but_the_last_has_at_least_5_mib() {
    let (_dir, store) = store();
    let info = UploadInfo {
        key: "c/g/parts".into(),
        owner: "me".into(),
        ..Default::default()
    };
    let id = store.create_upload(&info, 100).unwrap();
    let small: Vec<(i32, String)> = (1..=3)
        .map(|n| (n, upload_part(&store, &id, n, b"5 bytes")))
        .collect();
    assert!(matches!(
        store.complete_upload(&id, "c/g/parts", &small),
        Err(CompleteError::TooSmall { number: 1, size: 7 })
    ));
    let big = upload_part(&store, &id, 1, &vec![0u8; MIN_PART_SIZE as usize]);
    let listed = vec![(1, big), small[2].clone()];
    let meta = store.complete_upload(&id, "c/g/parts", &listed).unwrap();
    assert_eq!(meta.size, MIN_PART_SIZE + 7);
    let completed = store.completed(&id).unwrap().unwrap();
    assert_eq!(
        (completed.key, completed.etag),
        ("c/g/parts".into(), meta.etag)
    );
}

#[test]
fn open_uploads_and_their_parts_are_listed() {
    let (_dir, store) = store();
    let upload = |key: &str| {
        let info = UploadInfo {
            key: key.into(),
            owner: "me".into(),
            ..Default::default()
        };
        store.create_upload(&info, 100).unwrap()
    };
    let b1 = upload("c/b");
    let a = upload("c/a");
    let b2 = upload("c/b");
    upload("d/x");
    let listed: Vec<(String, String)> = store
        .list_uploads("c/")
        .unwrap()
        .into_iter()
        .map(|(id, info)| (info.key, id))
        .collect();
    assert_eq!(
        listed,
        [
            ("c/a".to_string(), a.clone()),
            ("c/b".to_string(), b1),
            ("c/b".to_string(), b2)
        ]
    );
    assert!(
        store
            .list_uploads("c/")
            .unwrap()
            .iter()
            .all(|(_, i)| i.initiated.is_some())
    );
    let etags: Vec<String> = [3, 1]
        .iter()
        .map(|&n| upload_part(&store, &a, n, &[n as u8; 10]))
        .collect();
    let parts = store.list_parts(&a).unwrap().unwrap();
    assert_eq!(parts.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(parts[0].etag, etags[1]);
    assert_eq!(parts[1].size, 10);
}

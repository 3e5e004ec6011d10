//! Object keys as the embedded S3 endpoint receives them (untrusted: any client with a key):
//! an accepted key's metadata is only ever a path below the bucket's folder (whatever the
//! key: `..`, `a//b`, `folder/`), it reads back as itself, and storing, listing (with any
//! prefix) and deleting it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared_modules::object_store::DiskStore;
use shared_modules::object_store::disk::check_key;
use shared_modules::object_store::disk::layout::object_path;
use std::path::Component;
use std::sync::OnceLock;

fn store() -> &'static DiskStore {
    static STORE: OnceLock<(tempfile::TempDir, DiskStore)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let store = DiskStore::new(dir.path(), "veritas2hview");
            store.create().expect("the bucket's folders");
            (dir, store)
        })
        .1
}

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let (key, prefix) = text.split_once('\n').unwrap_or((&text, ""));
    if check_key(key).is_err() {
        return;
    }
    assert!(
        object_path(key)
            .components()
            .all(|c| matches!(c, Component::Normal(_))),
        "an accepted key escapes its folder: {key:?}"
    );
    let store = store();
    let Ok(mut blob) = store.new_blob() else { return };
    let _ = blob.write(key.as_bytes());
    if let Ok(blob) = blob.finish()
        && store.commit(key, blob, Default::default()).is_ok()
    {
        let meta = store.meta(key).ok().flatten();
        assert_eq!(meta.map(|m| m.key), Some(key.to_string()), "{key:?} reads back");
    }
    let _ = store.list(prefix);
    let _ = store.delete(key);
});

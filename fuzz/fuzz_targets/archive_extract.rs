//! An uploaded archive (tar, tar.gz, zip, gz or plain), extracted under small limits into a
//! fresh directory: refused or extracted, never a panic, never a write outside it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared_modules::archive::{Limits, extract};

fuzz_target!(|bytes: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let upload = dir.path().join("upload.bin");
    let dest = dir.path().join("out");
    if std::fs::write(&upload, bytes).is_err() || std::fs::create_dir(&dest).is_err() {
        return;
    }
    let limits = Limits {
        max_entries: 64,
        max_total_bytes: 4 * 1024 * 1024,
        max_path_depth: 8,
        max_nesting: 3,
        max_ratio: 100,
    };
    if let Ok(files) = extract(&upload, "upload.bin", &dest, limits) {
        for file in files {
            assert!(
                file.path.starts_with(&dest) || file.path == upload,
                "extracted outside its directory: {}",
                file.path.display()
            );
        }
    }
});

//! The first line of an uploaded file, as the upload module reads it to pick a format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let line = String::from_utf8_lossy(bytes);
    let _ = modules::hydrastor::veritas2hview::sniff::sniff(&line);
});

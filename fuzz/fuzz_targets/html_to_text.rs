//! An HTML mail body turned into the text the report parsers read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let html = String::from_utf8_lossy(bytes);
    let _ = modules::hydrastor::html::to_text(&html);
});

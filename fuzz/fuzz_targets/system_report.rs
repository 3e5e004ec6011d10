//! A HYDRAstor system report's text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modules::hydrastor::system_report::parse;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    if parse::looks_like_report(&text) {
        let _ = parse::parse(&text, modules::hydrastor::grid_zone());
    }
    let _ = parse::parse(&text, modules::hydrastor::grid_zone());
});

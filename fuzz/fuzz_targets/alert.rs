//! A HYDRAstor alert mail's text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modules::hydrastor::alert::parse;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let _ = parse::looks_like_alert(&text);
    let _ = parse::parse(&text, modules::hydrastor::grid_zone());
});

//! A raw message as Postfix hands it over: parsed into parts, then routed (customer,
//! sender, subject rules) with the shipped config.
#![no_main]

use libfuzzer_sys::fuzz_target;
mod shipped_config;

use shipped_config::CONFIG;

fuzz_target!(|raw: &[u8]| {
    let _ = mailhandler::parts::extract(raw);
    let _ = mailhandler::deliver::route(
        &CONFIG,
        "hs@grid.example",
        "bobs_burgers@ingest.hview.example",
        raw,
    );
});

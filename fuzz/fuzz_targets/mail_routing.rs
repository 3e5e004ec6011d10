//! A raw message as Postfix hands it over: parsed into parts, then routed (customer,
//! sender, subject rules) with the shipped config.
#![no_main]

use libfuzzer_sys::fuzz_target;
mod shipped_config;

use shipped_config::CONFIG;

fuzz_target!(|raw: &[u8]| {
    let _ = shared_modules::mail::parts::extract(raw);
    let mail = shared_modules::mail::Envelope::now(
        raw,
        "hs@grid.example",
        "bobs_burgers@ingest.hview.example",
    );
    let _ = shared_modules::mail::route(&CONFIG, &mail);
});

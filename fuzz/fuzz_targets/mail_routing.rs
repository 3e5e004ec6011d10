//! A raw message as Postfix hands it over: parsed into parts, then routed (customer,
//! sender, subject rules) with the shipped config.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static CONFIG: LazyLock<shared_modules::config::Config> = LazyLock::new(|| {
    shared_modules::config::load_from_str(
        include_str!("../../config.json"),
        std::path::Path::new("config.json"),
        &[],
    )
    .expect("the shipped config loads")
});

fuzz_target!(|raw: &[u8]| {
    let _ = mailhandler::parts::extract(raw);
    let _ = mailhandler::deliver::route(&CONFIG, "hs@grid.example", "bobs_burgers@ingest.hview.example", raw);
});

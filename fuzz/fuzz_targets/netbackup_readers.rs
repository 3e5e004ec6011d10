//! Every NetBackup reader over an uploaded file: the first byte picks the format, the rest
//! is the file. Batches are drained as the store would take them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modules::hydrastor::veritas2hview::reader;
use modules::hydrastor::veritas2hview::sniff::Format;

const FORMATS: [Format; 7] = [
    Format::BpdbjobsReport,
    Format::BpdbjobsSummary,
    Format::Bpimagelist,
    Format::NbdevqueryDisk,
    Format::NbdevqueryStorageServer,
    Format::Bpstulist,
    Format::BperrorBackstat,
];

fuzz_target!(|bytes: &[u8]| {
    let Some((&selector, file)) = bytes.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(selector) % FORMATS.len()];
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let drain = std::thread::spawn(move || while rx.blocking_recv().is_some() {});
    let _ = reader::read(std::io::Cursor::new(file), "fuzz.txt", format, tx);
    let _ = drain.join();
});

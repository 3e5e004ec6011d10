//! Reads one NetBackup export as the upload job does, without a database, and prints how
//! long it took: the parsing side of the upload benchmark, alone.
//! `cargo run --release -p modules --example read_export -- FILE`

use modules::hydrastor::veritas2hview::{reader, sniff};
use std::io::{BufRead, BufReader};
use std::time::Instant;

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: read_export FILE");
        std::process::exit(2);
    };
    let mut first = String::new();
    BufReader::new(std::fs::File::open(&path)?).read_line(&mut first)?;
    let Some(format) = sniff::sniff(first.trim()) else {
        eprintln!("{path}: not a recognised NetBackup export");
        std::process::exit(1);
    };
    let start = Instant::now();
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<modules::hydrastor::veritas2hview::columns::Batch>(2);
    let drain = std::thread::spawn(move || {
        let mut rows = 0;
        while let Some(batch) = rx.blocking_recv() {
            rows += batch.len;
        }
        rows
    });
    let file = BufReader::with_capacity(256 * 1024, std::fs::File::open(&path)?);
    let report = reader::read(file, &path, format, tx);
    let rows = drain.join().unwrap_or(0);
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{} records, {} bad, {rows} rows in {seconds:.2} s: {:.0} records/s",
        report.records,
        report.bad_records,
        report.records as f64 / seconds
    );
    Ok(())
}

//! Recognising an export by its content (first non-empty line), whatever its file name.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    BpdbjobsReport,
    BpdbjobsSummary,
    Bpimagelist,
    NbdevqueryDisk,
    NbdevqueryStorageServer,
    Bpstulist,
    BperrorBackstat,
}

pub fn sniff(first_line: &str) -> Option<Format> {
    let line = first_line.trim_start_matches('\u{feff}').trim();
    let starts = |prefix: &str| {
        line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    if super::bpdbjobs::starts_record(line) {
        Some(Format::BpdbjobsReport)
    } else if starts("IMAGE ") {
        Some(Format::Bpimagelist)
    } else if starts("Disk Pool Name") {
        Some(Format::NbdevqueryDisk)
    } else if starts("Storage Server") {
        Some(Format::NbdevqueryStorageServer)
    } else if starts("Label") && line.contains(':') {
        Some(Format::Bpstulist)
    } else if starts("STATUS CLIENT") {
        Some(Format::BperrorBackstat)
    } else if starts("Summary of jobs on") {
        Some(Format::BpdbjobsSummary)
    } else {
        None
    }
}

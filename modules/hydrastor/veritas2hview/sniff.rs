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
    // `get`, not indexing: the prefix's length may fall inside a multi-byte character.
    let starts = |prefix: &str| {
        line.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_line_of_non_ascii_text_is_not_recognised_and_does_not_panic() {
        for line in [
            "ääää Bericht",
            "Lab€ x: y",
            "Storage Serve€",
            "€",
            "IMAGÉ x",
        ] {
            assert_eq!(sniff(line), None, "{line}");
        }
        assert_eq!(sniff("Label: stu1"), Some(Format::Bpstulist));
    }
}

//! Where the report text is in a stored mail: a `.txt` or `.gz` attachment or one sent as
//! `text/plain` or gzip whatever its name, the text body, or the HTML body, whichever first
//! reads as a report. Quoted-printable, base64 and
//! charsets were already decoded by the mailhandler when it stored the parts.

use super::html;
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::Path;

/// A decompressed attachment larger than this is not a report: refuse it rather than fill memory.
const MAX_TEXT_BYTES: u64 = 64 * 1024 * 1024;

pub struct ReportText {
    /// The file it came from, relative to the delivery (for error messages).
    pub source: String,
    pub text: String,
}

/// Candidates in order of preference; `looks_right` picks the first that reads as the
/// wanted document (`what`, for the error, which lists what was looked at).
pub fn find(
    dir: &Path,
    what: &str,
    looks_right: impl Fn(&str) -> bool,
) -> Result<ReportText, String> {
    let mut looked = Vec::new();
    let text_typed = text_typed_attachments(dir);
    let mut candidates: Vec<String> = std::fs::read_dir(dir.join("attachments"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| format!("attachments/{}", e.file_name().to_string_lossy()))
                .filter(|n| {
                    let lower = n.to_ascii_lowercase();
                    lower.ends_with(".txt") || lower.ends_with(".gz") || text_typed.contains(n)
                })
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    candidates.extend(["body.txt".to_string(), "body.html".to_string()]);
    for name in candidates {
        let path = dir.join(&name);
        if !path.is_file() {
            continue;
        }
        let text = read(&path, &name)?;
        if looks_right(&text) {
            return Ok(ReportText { source: name, text });
        }
        looked.push(name);
    }
    Err(if looked.is_empty() {
        "the mail has no text body and no .txt attachment".to_string()
    } else {
        format!(
            "no {what} found in the mail (looked at {})",
            looked.join(", ")
        )
    })
}

/// Attachments the mail declared as `text/plain` or gzip (in `meta.json`), by stored name.
fn text_typed_attachments(dir: &Path) -> Vec<String> {
    let meta: serde_json::Value = std::fs::read_to_string(dir.join("meta.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let Some(attachments) = meta["attachments"].as_array() else {
        return Vec::new();
    };
    attachments
        .iter()
        .filter(|a| {
            let ct = a["content_type"]
                .as_str()
                .unwrap_or("")
                .to_ascii_lowercase();
            ct == "text/plain" || ct.ends_with("/gzip") || ct.ends_with("/x-gzip")
        })
        .filter_map(|a| a["stored_as"].as_str().map(str::to_string))
        .collect()
}

/// Gzip by its magic bytes, whatever the attachment is called.
fn is_gzip(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == [0x1f, 0x8b]
}

fn read(path: &Path, name: &str) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let mut bytes = Vec::new();
    let lower = name.to_ascii_lowercase();
    let result = if is_gzip(path) {
        MultiGzDecoder::new(file)
            .take(MAX_TEXT_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        file.take(MAX_TEXT_BYTES + 1).read_to_end(&mut bytes)
    };
    result.map_err(|e| format!("{name}: cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_TEXT_BYTES {
        return Err(format!(
            "{name}: larger than {} MiB",
            MAX_TEXT_BYTES / 1024 / 1024
        ));
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(if lower.ends_with(".html") {
        html::to_text(&text)
    } else {
        text
    })
}

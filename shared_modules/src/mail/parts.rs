//! What is kept of a mail: the raw bytes (`message.eml`), the first text and HTML bodies as
//! the mail has them (`body.txt`, `body.html`), and every attachment under `attachments/`
//! with a sanitised, unique name; the original names go to the job's metadata. The
//! mailhandler routes on the headers alone; `derive` writes the parts into the delivery.

use crate::paths::sanitise_file_name;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::Serialize;

use std::collections::HashSet;

pub struct StoredPart {
    /// Path relative to the delivery directory.
    pub relative: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentMeta {
    pub stored_as: String,
    pub original_name: Option<String>,
    pub content_type: Option<String>,
    pub size: usize,
}

pub struct Extracted {
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub parts: Vec<StoredPart>,
    pub attachments: Vec<AttachmentMeta>,
}

/// What routing and the job need of a message before its parts: its headers.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    pub subject: Option<String>,
    pub message_id: Option<String>,
}

/// Parses the headers of `raw` only (the mailhandler: the parts are serve's work); None
/// when it is not a message at all.
pub fn headers(raw: &[u8]) -> Option<Headers> {
    let message = MessageParser::default().parse_headers(raw)?;
    Some(Headers {
        subject: message.subject().map(str::to_string),
        message_id: message.message_id().map(str::to_string),
    })
}

impl Extracted {
    pub fn headers(&self) -> Headers {
        Headers {
            subject: self.subject.clone(),
            message_id: self.message_id.clone(),
        }
    }
}

/// Parses `raw`; None when it is not a message at all (kept raw and quarantined).
pub fn extract(raw: &[u8]) -> Option<Extracted> {
    let message = MessageParser::default().parse(raw)?;
    let mut parts = Vec::new();
    // mail-parser also renders HTML as text when a mail has no text part; keep only a real
    // text body (the modules convert HTML themselves, keeping <pre> and table layout).
    let has_text = message
        .text_part(0)
        .is_some_and(|part| matches!(part.body, PartType::Text(_)));
    if let Some(text) = message.body_text(0).filter(|_| has_text) {
        parts.push(StoredPart {
            relative: "body.txt".into(),
            bytes: text.as_bytes().to_vec(),
        });
    }
    // mail-parser renders text as HTML when a mail has none; keep only a real HTML body.
    let has_html = message.html_part(0).is_some_and(|part| part.is_text_html());
    if let Some(html) = message.body_html(0).filter(|_| has_html) {
        parts.push(StoredPart {
            relative: "body.html".into(),
            bytes: html.as_bytes().to_vec(),
        });
    }
    let mut taken: HashSet<String> = HashSet::new();
    let mut attachments = Vec::new();
    for (index, part) in message.attachments().enumerate() {
        let original = part.attachment_name().map(str::to_string);
        let fallback = format!("attachment_{}", index + 1);
        let name = unique(
            &mut taken,
            sanitise_file_name(original.as_deref().unwrap_or(&fallback)),
        );
        let bytes = attachment_bytes(part);
        attachments.push(AttachmentMeta {
            stored_as: format!("attachments/{name}"),
            original_name: original,
            content_type: part.content_type().map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            }),
            size: bytes.len(),
        });
        parts.push(StoredPart {
            relative: format!("attachments/{name}"),
            bytes,
        });
    }
    Some(Extracted {
        subject: message.subject().map(str::to_string),
        message_id: message.message_id().map(str::to_string),
        parts,
        attachments,
    })
}

/// An attached message (message/rfc822) is kept as its raw bytes; other parts decoded.
fn attachment_bytes(part: &mail_parser::MessagePart<'_>) -> Vec<u8> {
    match part.message() {
        Some(inner) => inner.raw_message().to_vec(),
        None => part.contents().to_vec(),
    }
}

/// `name`, or `name_2.ext`, `name_3.ext`… when an earlier attachment took it.
fn unique(taken: &mut HashSet<String>, name: String) -> String {
    let mut candidate = name.clone();
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
        _ => (name.clone(), String::new()),
    };
    let mut n = 2;
    while !taken.insert(candidate.to_ascii_lowercase()) {
        candidate = format!("{stem}_{n}{ext}");
        n += 1;
    }
    candidate
}

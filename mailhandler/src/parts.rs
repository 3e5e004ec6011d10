//! What is kept of a message: the raw bytes (`message.eml`), the first text and HTML bodies
//! as the mail has them (`body.txt`, `body.html`), and every attachment under `attachments/`
//! with a sanitised, unique name; the original names go to the job's metadata. The parsing
//! lives in `shared_modules::inbox::mail_parts`: the worker of `dataprocessor serve` derives
//! these parts again when a delivery lacks them.

pub use shared_modules::inbox::mail_parts::{
    AttachmentMeta, Extracted, Headers, StoredPart, extract, headers,
};

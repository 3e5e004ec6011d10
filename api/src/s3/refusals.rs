//! How S3 answers that are not successes are logged: a refusal (4xx: a bad signature,
//! AccessDenied, NoSuchKey, BadDigest …; and SlowDown, the 503 of a key past its limit of
//! open uploads) is the client's fault, one line at info with its code and reason; a
//! failure of ours (other 5xx) one line at error. s3s writes its own ERROR
//! line (two, for a refused signature) for every error it answers; its calls run under
//! `without_s3s_errors`, a dispatcher that passes everything else on unchanged.

use s3s::Body;
use std::sync::OnceLock;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Subscriber, span};

/// Logs the answer `status`/`body` to `method path` when it is an error.
pub fn log_answer(method: &str, path: &str, status: http::StatusCode, body: &Body) {
    if !(status.is_client_error() || status.is_server_error()) {
        return;
    }
    let xml = body.bytes().unwrap_or_default();
    let xml = String::from_utf8_lossy(&xml);
    let code = element(&xml, "Code").unwrap_or("-");
    let reason = element(&xml, "Message").unwrap_or("-");
    let status = status.as_u16();
    if status >= 500 && code != "SlowDown" {
        tracing::error!(method, path, status, code, reason, "S3 request failed");
    } else {
        tracing::info!(method, path, status, code, reason, "S3 request refused");
    }
}

/// The text of the first `<name>…</name>` in an S3 error document.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..end])
}

/// The process's dispatcher minus s3s's ERROR events (made once, at the first S3 request,
/// around the dispatcher then in force).
pub fn without_s3s_errors() -> Dispatch {
    static QUIET: OnceLock<Dispatch> = OnceLock::new();
    QUIET
        .get_or_init(|| {
            let inner = tracing::dispatcher::get_default(Dispatch::clone);
            Dispatch::new(WithoutS3sErrors {
                inner,
                max: LevelFilter::current(),
            })
        })
        .clone()
}

struct WithoutS3sErrors {
    inner: Dispatch,
    max: LevelFilter,
}

fn s3s_error(metadata: &Metadata<'_>) -> bool {
    metadata.is_event() && *metadata.level() == Level::ERROR && metadata.target().starts_with("s3s")
}

impl Subscriber for WithoutS3sErrors {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if s3s_error(metadata) {
            // Outside our calls the process's dispatcher still decides.
            Interest::sometimes()
        } else {
            self.inner.register_callsite(metadata)
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        !s3s_error(metadata) && self.inner.enabled(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, span: &span::Attributes<'_>) -> span::Id {
        self.inner.new_span(span)
    }

    fn record(&self, span: &span::Id, values: &span::Record<'_>) {
        self.inner.record(span, values);
    }

    fn record_follows_from(&self, span: &span::Id, follows: &span::Id) {
        self.inner.record_follows_from(span, follows);
    }

    fn event(&self, event: &Event<'_>) {
        if !s3s_error(event.metadata()) {
            self.inner.event(event);
        }
    }

    fn enter(&self, span: &span::Id) {
        self.inner.enter(span);
    }

    fn exit(&self, span: &span::Id) {
        self.inner.exit(span);
    }

    fn clone_span(&self, id: &span::Id) -> span::Id {
        self.inner.clone_span(id)
    }

    fn try_close(&self, id: span::Id) -> bool {
        self.inner.try_close(id)
    }
}

#[cfg(test)]
mod tests {
    use super::element;

    #[test]
    fn the_code_and_reason_are_read_from_the_error_document() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Signature is required</Message></Error>";
        assert_eq!(element(xml, "Code"), Some("AccessDenied"));
        assert_eq!(element(xml, "Message"), Some("Signature is required"));
        assert_eq!(element("<Error/>", "Code"), None);
    }
}

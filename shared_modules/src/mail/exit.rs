//! Postfix defers only on 75 (EX_TEMPFAIL), 71 or a signal; any other non-zero code bounces
//! the mail back to the sender. So the mailhandler only ever exits 0 or 75.

use std::process::ExitCode;

/// Stored in the inbox with its ticket (routed or quarantined).
pub const DELIVERED: u8 = 0;
/// Anything else: Postfix keeps the mail and retries.
pub const TEMPFAIL: u8 = 75;

pub fn code(ok: bool) -> ExitCode {
    ExitCode::from(if ok { DELIVERED } else { TEMPFAIL })
}

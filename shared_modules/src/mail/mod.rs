//! Mail intake, shared by the binaries: the mailhandler's database-free `accept`, serve's
//! `derive` (the files a mail's job reads, written from its raw message), and the deliveries
//! that commit their job themselves (`commit`: `dpctl mail inject`, a release from
//! quarantine).
//!
//! - `envelope`: a message as it arrived (raw bytes, sender, recipient, time) and its key.
//! - `decide`: where a mail goes (a customer's inbox folder) or why it is quarantined.
//! - `prepare`: the job and staging shared by every delivery.
//! - `accept`: the mailhandler's delivery, ended by a ticket.
//! - `commit`: deliveries that write their job row, and `ingest_now`.
//! - `parts` / `derive`: the bodies and attachments kept of a mail.
//! - `release`: routing a quarantined mail again.
//! - `exit`: the exit-code contract with Postfix.

mod accept;
mod commit;
mod decide;
mod derive;
mod envelope;
mod error;
pub mod exit;
pub mod parts;
mod prepare;
mod release;

pub use accept::{Accepted, accept};
pub use commit::{Delivered, Keyed, deliver_keyed, deliver_now, ingest_now};
pub use decide::route;
pub use derive::{META_FILE, RAW_FILE, complete_before_run, derive, derive_into, incomplete};
pub use envelope::{Envelope, dedupe_key};
pub use error::DeliveryError;
pub use release::{ReleaseError, release_quarantined};

//! The mailhandler: takes one message from Postfix (pipe(8)) and stores it in the inbox
//! durably with a ticket (routed, or quarantined with the reason); `dataprocessor serve`
//! makes its job. It needs no database. Never loses a mail: whatever it cannot finish is
//! a temporary failure, and Postfix tries again.
//!
//! - `parts`: what is stored from a message (raw, bodies, attachments under safe names).
//! - `deliver`: routing, storing, the ticket (or, for a release, the job row).
//! - `exit`: the exit-code contract with Postfix.

pub mod deliver;
pub mod exit;
pub mod parts;
pub mod release;

pub use deliver::{
    Accepted, Delivered, DeliveryError, Keyed, RAW_FILE, accept, deliver_keyed, deliver_now,
    derive, ingest_now, route,
};
pub use release::{ReleaseError, release_quarantined};

//! The mailhandler: takes one message from Postfix (pipe(8)), stores it in the inbox
//! durably and queues its job, or quarantines it with the reason. Never loses a mail:
//! whatever it cannot finish is a temporary failure, and Postfix tries again.
//!
//! - `parts`: what is stored from a message (raw, bodies, attachments under safe names).
//! - `deliver`: routing, storing, queueing, dedupe.
//! - `exit`: the exit-code contract with Postfix.

pub mod deliver;
pub mod exit;
pub mod parts;

pub use deliver::{Delivered, DeliveryError, Keyed, deliver, deliver_keyed, route};

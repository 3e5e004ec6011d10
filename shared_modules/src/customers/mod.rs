//! Customers as users: each customer's credentials (an API key and an S3 key limited to
//! `<customer>/`) live in Postgres, so every node knows them and a revocation reaches every
//! node at its next request. `Principal` is who a request acts as: the operator (a key of
//! `api.keys`, every customer) or one customer.

mod credentials;
mod principal;
mod registry;
mod server_key;

pub use credentials::{API_KEY_PREFIX, NewCredentials, S3_ACCESS_KEY_PREFIX};
pub use principal::Principal;
pub use registry::{
    CredentialRow, CustomerRow, RegistryError, add_customer, customer_exists, find_api_key,
    find_s3_key, key_is_valid, list_customers, revoke, rotate,
};
pub use server_key::{KeySource, SERVER_KEY_ENV, SERVER_KEY_FILE_ENV, ServerKey, ServerKeyError};

/// Names no customer may have: `unknown` holds the mail no customer receives (quarantined),
/// which only the operator sees.
pub const RESERVED_NAMES: &[&str] = &["unknown"];

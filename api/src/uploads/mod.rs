//! Uploads that start their own jobs: the embedded endpoint announces every completed
//! object (`auto_trigger`), and `reconcile` lists the bucket every so often for objects
//! no trigger ever came for. Both queue through the curl's own path, so the same object
//! (bucket, key, ETag) is the same job however many of them fire.

mod auto_trigger;
mod reconcile;

pub use auto_trigger::spawn_auto_trigger;
pub use reconcile::spawn_reconciler;

use crate::http::veritas2hview::UpdateRequest;

/// What the last reconciliation found: objects overdue without a job, and how old the
/// oldest object without a job is.
#[derive(Debug, Clone, Copy)]
pub struct UntriggeredSummary {
    pub overdue: usize,
    pub oldest: Option<std::time::Duration>,
}

/// An object the embedded endpoint has just stored.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub key: String,
    pub etag: String,
    pub size: u64,
}

/// The trigger a key laid out as the upload contract says (`<customer>/<grid>/<file…>`)
/// stands for; None for a key of another shape (it can only be reported).
pub fn request_for_key(key: &str, uid: &str) -> Option<UpdateRequest> {
    let mut parts = key.splitn(3, '/');
    let (customer, grid, file) = (parts.next()?, parts.next()?, parts.next()?);
    (!file.is_empty()).then(|| UpdateRequest {
        uid: uid.to_string(),
        customer: customer.to_string(),
        grid: grid.to_string(),
        s3_path: key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::request_for_key;

    #[test]
    fn keys_of_the_contract_name_customer_and_grid() {
        let request =
            request_for_key("bobs_burgers/fryer_grid/dump.tar.gz", "auto").expect("a contract key");
        assert_eq!(
            (
                request.customer.as_str(),
                request.grid.as_str(),
                request.s3_path.as_str()
            ),
            (
                "bobs_burgers",
                "fryer_grid",
                "bobs_burgers/fryer_grid/dump.tar.gz"
            )
        );
        let nested = request_for_key("c/g/a/b.tgz", "auto").expect("a nested file");
        assert_eq!(nested.s3_path, "c/g/a/b.tgz");
        assert!(request_for_key("dump.tar.gz", "auto").is_none());
        assert!(request_for_key("c/dump.tar.gz", "auto").is_none());
    }
}

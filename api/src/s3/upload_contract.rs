//! What the bucket takes: the upload contract's keys, `<customer>/<grid>/<file>` for a
//! configured customer, or the customer a signer is limited to (a key `dpctl customers add`
//! made, whose customer the database knows). Anything else would be stored with a 200 and never become a job, so
//! the endpoint refuses it at once, saying the shape and the customers the signer may use
//! (`s3.contract_keys_only`, on by default; off for a bucket that also holds other files).
//! A folder a desktop tool makes in a customer's folder (`customer/`, `customer/grid/`) is
//! taken: it is stored, and never becomes a job.

use s3s::{S3Result, s3_error};
use shared_modules::config::Config;
use shared_modules::paths::normalise_segment;

#[derive(Clone, Debug)]
pub struct UploadContract {
    enforced: bool,
    customers: Vec<String>,
}

impl UploadContract {
    pub fn from_config(config: &Config) -> Self {
        Self {
            enforced: config.s3.contract_keys_only,
            customers: config.customers.iter().map(|c| c.name.clone()).collect(),
        }
    }

    /// Ok when `key` is one a trigger can make a job of; `prefix` is the signer's limit.
    pub fn check(&self, key: &str, prefix: Option<&str>) -> S3Result<()> {
        let own = prefix
            .and_then(|p| p.strip_suffix('/'))
            .filter(|c| !c.contains('/'));
        if !self.enforced || self.follows(key, own) {
            return Ok(());
        }
        let mine: Vec<&str> = self
            .customers
            .iter()
            .map(String::as_str)
            .filter(|c| prefix.is_none_or(|p| format!("{c}/").starts_with(p)))
            .collect();
        let customers = if mine.is_empty() {
            "none is configured for this key".to_string()
        } else {
            mine.join(", ")
        };
        Err(s3_error!(
            InvalidArgument,
            "`{key}` is not an upload this bucket takes: keys are <customer>/<grid>/<file>, the customer one of: {customers}"
        ))
    }

    fn follows(&self, key: &str, own: Option<&str>) -> bool {
        let known =
            |customer: &str| own == Some(customer) || self.customers.iter().any(|c| c == customer);
        if shared_modules::object_store::is_folder_marker(key) {
            return known(key.split('/').next().unwrap_or(""));
        }
        let mut parts = key.splitn(3, '/');
        let (Some(customer), Some(grid), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        known(customer)
            && normalise_segment("grid", grid).is_ok()
            && !file.is_empty()
            && !file.ends_with('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> UploadContract {
        UploadContract {
            enforced: true,
            customers: vec!["bobs_burgers".into(), "alice".into()],
        }
    }

    #[test]
    fn contract_keys_pass_and_others_are_refused_naming_the_shape_and_the_customers() {
        let contract = contract();
        assert!(
            contract
                .check("bobs_burgers/fryer_grid/dump.tar.gz", None)
                .is_ok()
        );
        assert!(contract.check("alice/g/sub/dir/x.zip", None).is_ok());
        for folder in ["alice/", "alice/g/", "bobs_burgers/fryer_grid/sub/"] {
            assert!(contract.check(folder, None).is_ok(), "{folder}");
        }
        for key in [
            "dump.tar.gz",
            "bobs_burgers/dump.tar.gz",
            "carol/g/x.tgz",
            "carol/",
            "folder/",
            "alice//x",
        ] {
            let refusal = contract.check(key, None).expect_err(key).to_string();
            assert!(refusal.contains("<customer>/<grid>/<file>"), "{refusal}");
            assert!(refusal.contains("bobs_burgers, alice"), "{refusal}");
        }
        let limited = contract
            .check("alice/x", Some("alice/"))
            .expect_err("refused")
            .to_string();
        assert!(
            limited.contains("one of: alice") && !limited.contains("bobs_burgers"),
            "{limited}"
        );
    }

    #[test]
    fn off_it_takes_any_key() {
        let mut contract = contract();
        contract.enforced = false;
        assert!(contract.check("anything/at/all", None).is_ok());
        assert!(contract.check("flat", None).is_ok());
    }
}

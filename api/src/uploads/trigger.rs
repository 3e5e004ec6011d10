//! What asks for an upload's job (`Trigger`) and what it names (`UploadRequest`): the
//! customer, the grid and the object's key, checked before anything is fetched.

use super::TriggerError;
use serde::Deserialize;
use shared_modules::paths::{JobLocation, normalise_segment};

/// Who asked for the job; recorded as `triggered_by` in the job's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The customer's curl to `POST /api/1.0/veritas2hview/update`.
    Curl,
    /// The embedded endpoint, as an upload completed.
    AutoTrigger,
    /// A reconciliation pass, for an object no trigger came for.
    Reconciliation,
    /// A browser's upload completed through `POST /api/1.0/uploads/{id}/complete`.
    UploadApi,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Curl => "curl",
            Trigger::AutoTrigger => "auto_trigger",
            Trigger::Reconciliation => "reconciliation",
            Trigger::UploadApi => "upload_api",
        }
    }

    /// The `uid` a trigger gives the uploads it names itself (a curl brings its own).
    fn uid(self) -> &'static str {
        match self {
            Trigger::Curl => "curl",
            Trigger::AutoTrigger => "s3-auto-trigger",
            Trigger::Reconciliation => "reconciliation",
            Trigger::UploadApi => "upload-api",
        }
    }
}

/// The curl's JSON body, `{uid, customer, grid, s3_path}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    pub uid: String,
    pub customer: String,
    pub grid: String,
    pub s3_path: String,
}

impl UploadRequest {
    /// The request a key laid out as the upload contract says (`<customer>/<grid>/<file…>`)
    /// stands for; None for a key of another shape (it can only be reported).
    pub fn for_key(key: &str, trigger: Trigger) -> Option<UploadRequest> {
        let mut parts = key.splitn(3, '/');
        let (customer, grid, file) = (parts.next()?, parts.next()?, parts.next()?);
        (!file.is_empty()).then(|| UploadRequest {
            uid: trigger.uid().to_string(),
            customer: customer.to_string(),
            grid: grid.to_string(),
            s3_path: key.to_string(),
        })
    }
}

/// A request whose every field was checked: where its job goes and which object it names.
#[derive(Debug)]
pub struct ValidUpload {
    pub uid: String,
    pub location: JobLocation,
    pub key: String,
}

/// A curl's body as the route reads it: JSON, then every field checked. The fuzz target
/// `api_requests` drives this.
pub fn parse_request(body: &[u8]) -> Result<ValidUpload, TriggerError> {
    let request: UploadRequest = serde_json::from_slice(body)
        .map_err(|e| TriggerError::Invalid(format!("invalid JSON body: {e}")))?;
    validate(request)
}

/// Checks every field but whether the customer is known (configured or added with
/// `dpctl customers add`), which needs the database: `queue_upload` asks that.
pub fn validate(request: UploadRequest) -> Result<ValidUpload, TriggerError> {
    let bad = TriggerError::Invalid;
    let uid = request.uid.trim();
    if uid.is_empty() || uid.len() > 128 || uid.chars().any(char::is_control) {
        return Err(bad("uid must be 1 to 128 printable characters".into()));
    }
    let customer =
        normalise_segment("customer", &request.customer).map_err(|e| bad(e.to_string()))?;
    let grid = normalise_segment("grid", &request.grid).map_err(|e| bad(e.to_string()))?;
    let key = request.s3_path.as_str();
    let shown = || key.chars().take(200).collect::<String>();
    let hostile = key.is_empty()
        || key.len() > 1024
        || key.starts_with('/')
        || key.contains('\\')
        || key.chars().any(char::is_control)
        || key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if hostile {
        return Err(bad(format!(
            "s3_path `{}` must be a key inside the bucket: no leading `/`, no `..`, `.` or empty parts, no backslash",
            shown()
        )));
    }
    // A customer's uploads are under its own folder: naming another's object is refused.
    if key.split_once('/').map(|(folder, _)| folder) != Some(customer.as_str()) {
        return Err(bad(format!(
            "s3_path `{}` must lie under the customer's folder `{customer}/`",
            shown()
        )));
    }
    let location = JobLocation::new(&customer, "hydrastor", "veritas2hview", &grid)
        .map_err(|e| bad(e.to_string()))?;
    Ok(ValidUpload {
        uid: uid.to_string(),
        location,
        key: key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::{Trigger, UploadRequest};

    #[test]
    fn keys_of_the_contract_name_customer_and_grid() {
        let request =
            UploadRequest::for_key("bobs_burgers/fryer_grid/dump.tar.gz", Trigger::AutoTrigger)
                .expect("a contract key");
        assert_eq!(
            (
                request.customer.as_str(),
                request.grid.as_str(),
                request.s3_path.as_str(),
                request.uid.as_str()
            ),
            (
                "bobs_burgers",
                "fryer_grid",
                "bobs_burgers/fryer_grid/dump.tar.gz",
                "s3-auto-trigger"
            )
        );
        let nested =
            UploadRequest::for_key("c/g/a/b.tgz", Trigger::Reconciliation).expect("a nested file");
        assert_eq!(nested.s3_path, "c/g/a/b.tgz");
        assert!(UploadRequest::for_key("dump.tar.gz", Trigger::AutoTrigger).is_none());
        assert!(UploadRequest::for_key("c/dump.tar.gz", Trigger::AutoTrigger).is_none());
    }
}

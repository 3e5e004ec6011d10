//! Where a mail goes: the inbox folder of the customer it was sent to, by the routing rule
//! its subject matches; or quarantine, with the reason an operator reads.

use super::Envelope;
use super::parts::{Headers, headers};
use crate::config::{Config, RouteError};
use crate::paths::JobLocation;

pub(super) enum Decision {
    Route { location: JobLocation },
    Quarantine { customer: String, reason: String },
}

pub(super) fn decide(
    config: &Config,
    sender: &str,
    recipient: &str,
    headers: Option<&Headers>,
) -> Decision {
    let Some(customer) = config.customer_for_recipient(recipient) else {
        return Decision::Quarantine {
            customer: "unknown".into(),
            reason: format!("no customer receives mail at <{recipient}>"),
        };
    };
    let quarantine = |reason: String| Decision::Quarantine {
        customer: customer.name.clone(),
        reason,
    };
    if !customer.sender_allowed(sender) {
        return quarantine(format!(
            "sender <{sender}> is not allowed for customer {}",
            customer.name
        ));
    }
    let Some(headers) = headers else {
        return quarantine("not a parseable e-mail message".into());
    };
    let subject = headers.subject.as_deref().unwrap_or("");
    match config.route_subject(subject) {
        Ok(route) => match JobLocation::new(
            &customer.name,
            &route.category,
            &route.job_type,
            &route.group,
        ) {
            Ok(location) => Decision::Route { location },
            Err(e) => quarantine(e.to_string()),
        },
        Err(RouteError::NoRule) => {
            let shown: String = subject.chars().take(120).collect();
            quarantine(format!("no routing rule matches the subject \"{shown}\""))
        }
        Err(e) => quarantine(e.to_string()),
    }
}

/// Where a mail would go under the current config: its inbox location, or why it would be
/// quarantined.
pub fn route(config: &Config, mail: &Envelope) -> Result<JobLocation, String> {
    match decide(
        config,
        mail.sender,
        mail.recipient,
        headers(mail.raw).as_ref(),
    ) {
        Decision::Route { location } => Ok(location),
        Decision::Quarantine { reason, .. } => Err(reason),
    }
}

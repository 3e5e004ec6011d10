//! Subject routing rules: which category, type and group a mail belongs to.

use crate::paths::normalise_segment;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// One rule: a mail whose subject matches `subject` is of `category`/`type`, and its group is
/// the regex's named capture `group`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    pub subject: String,
    pub category: String,
    #[serde(rename = "type")]
    pub job_type: String,
    /// `subject` compiled once: a case-insensitive Unicode regex costs a good part of a
    /// mailhandler run to compile.
    #[serde(skip)]
    compiled: std::sync::OnceLock<Regex>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub category: String,
    pub job_type: String,
    pub group: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("no routing rule matches the subject")]
    NoRule,
    #[error(
        "the subject matched a rule for {category}/{job_type} but its group is unusable: {reason}"
    )]
    BadGroup {
        category: String,
        job_type: String,
        reason: String,
    },
}

impl RoutingRule {
    pub fn defaults() -> Vec<RoutingRule> {
        vec![
            RoutingRule {
                subject: r"(?i)^\s*\[HYDRAstor\]\s*System Report:\s*(?P<group>[^\s(]+)".into(),
                category: "hydrastor".into(),
                job_type: "system_report".into(),
                compiled: Default::default(),
            },
            RoutingRule {
                subject: r"(?i)^\s*\[HYDRAstor\]\s*Alert:\s*[^-]+-\s*[^/\s]+/(?P<group>[^\s]+)\s*-"
                    .into(),
                category: "hydrastor".into(),
                job_type: "alert".into(),
                compiled: Default::default(),
            },
        ]
    }

    fn regex(&self) -> Result<&Regex, regex::Error> {
        if let Some(regex) = self.compiled.get() {
            return Ok(regex);
        }
        let regex = Regex::new(&self.subject)?;
        Ok(self.compiled.get_or_init(|| regex))
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        let regex = self
            .regex()
            .map_err(|e| format!("`subject` is not a valid regex: {e}"))?;
        if !regex.capture_names().flatten().any(|n| n == "group") {
            return Err("`subject` needs a named capture `(?P<group>…)`".into());
        }
        normalise_segment("category", &self.category).map_err(|e| e.to_string())?;
        normalise_segment("type", &self.job_type).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The first rule whose regex matches `subject` decides; rules were checked at start.
pub fn route(rules: &[RoutingRule], subject: &str) -> Result<Route, RouteError> {
    for rule in rules {
        let Ok(regex) = rule.regex() else {
            continue;
        };
        let Some(captures) = regex.captures(subject) else {
            continue;
        };
        let raw_group = captures.name("group").map(|m| m.as_str()).unwrap_or("");
        let bad = |reason: String| RouteError::BadGroup {
            category: rule.category.clone(),
            job_type: rule.job_type.clone(),
            reason,
        };
        let group = normalise_segment("group", raw_group).map_err(|e| bad(e.to_string()))?;
        return Ok(Route {
            category: rule.category.clone(),
            job_type: rule.job_type.clone(),
            group,
        });
    }
    Err(RouteError::NoRule)
}

impl crate::config::Config {
    pub fn route_subject(&self, subject: &str) -> Result<Route, RouteError> {
        route(&self.routing, subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_route_both_hydrastor_subjects() {
        let rules = RoutingRule::defaults();
        let report = route(
            &rules,
            "[HYDRAstor] System Report: icecream_machine (2023/01/13 12:00:00)",
        )
        .unwrap();
        assert_eq!(
            (
                report.category.as_str(),
                report.job_type.as_str(),
                report.group.as_str()
            ),
            ("hydrastor", "system_report", "icecream_machine")
        );
        let alert = route(
            &rules,
            "[HYDRAstor] Alert: Error - icecream_machine/sn002 - Disk failure",
        )
        .unwrap();
        assert_eq!(
            (alert.job_type.as_str(), alert.group.as_str()),
            ("alert", "sn002")
        );
        assert_eq!(route(&rules, "Re: lunch?"), Err(RouteError::NoRule));
    }

    #[test]
    fn a_group_that_is_no_safe_path_segment_is_refused() {
        let rules = RoutingRule::defaults();
        let err = route(
            &rules,
            "[HYDRAstor] System Report: ../etc (2023/01/13 12:00:00)",
        )
        .unwrap_err();
        assert!(matches!(err, RouteError::BadGroup { .. }), "{err:?}");
    }
}

//! `[HYDRAstor] Alert` text → alerts. One mail may carry several: each block starts with an
//! `Event ID` line; a `Message` may continue on indented lines. Unknown labels are kept.

use crate::hydrastor::sections::{ParseError, key_value, lines, normalise_label};
use crate::hydrastor::values;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

pub const SEVERITIES: [&str; 5] = ["Info", "Notice", "Warning", "Error", "Critical"];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alert {
    pub event_id: String,
    pub severity: String,
    pub grid_name: String,
    pub node_name: String,
    pub component: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub message: Option<String>,
    pub extra: Map<String, Value>,
}

const KNOWN: [&str; 10] = [
    "event id",
    "severity",
    "grid name",
    "grid",
    "node",
    "node name",
    "component",
    "occurred",
    "occurred at",
    "message",
];

pub fn looks_like_alert(text: &str) -> bool {
    lines(text)
        .iter()
        .any(|l| key_value(l.text).is_some_and(|(k, _, _)| k == "event id"))
}

struct Block {
    line: usize,
    fields: Vec<(String, String, String, usize)>,
}

pub fn parse(text: &str, zone: FixedOffset) -> Result<Vec<Alert>, ParseError> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut continuing = false;
    for line in lines(text) {
        if line.text.trim().is_empty() {
            continuing = false;
            continue;
        }
        let indented = line.text.starts_with([' ', '\t']);
        let field =
            key_value(line.text).filter(|(key, _, _)| !indented || KNOWN.contains(&key.as_str()));
        match (field, blocks.last_mut()) {
            (Some((key, label, value)), _) if key == "event id" => {
                blocks.push(Block {
                    line: line.number,
                    fields: vec![(key, label, value, line.number)],
                });
                continuing = true;
            }
            (Some((key, label, value)), Some(block)) if continuing => {
                block.fields.push((key, label, value, line.number));
            }
            (None, Some(block)) if continuing && indented => {
                if let Some(last) = block.fields.last_mut() {
                    last.2 = format!("{}\n{}", last.2, line.text.trim());
                }
            }
            // Text outside a block (a greeting, a footer) is not an alert.
            _ => continuing = false,
        }
    }
    if blocks.is_empty() {
        return Err(ParseError::at(1, "no alert found (no `Event ID` line)"));
    }
    blocks.iter().map(|b| alert(b, zone)).collect()
}

fn alert(block: &Block, zone: FixedOffset) -> Result<Alert, ParseError> {
    let find = |names: &[&str]| {
        block
            .fields
            .iter()
            .find(|(k, ..)| names.contains(&k.as_str()))
    };
    let required = |names: &[&str], what: &str| {
        find(names)
            .filter(|(_, _, v, _)| !v.is_empty() && v != "-")
            .ok_or_else(|| {
                ParseError::at(block.line, format!("the alert starting here has no {what}"))
            })
    };
    let severity_field = required(&["severity"], "Severity")?;
    let severity = SEVERITIES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(severity_field.2.trim()))
        .ok_or_else(|| {
            ParseError::at(
                severity_field.3,
                format!(
                    "Severity `{}` is not one of {}",
                    severity_field.2,
                    SEVERITIES.join(", ")
                ),
            )
        })?;
    let occurred = required(&["occurred", "occurred at"], "Occurred")?;
    let occurred_at = values::time(&occurred.2, zone)
        .map_err(|m| ParseError::at(occurred.3, format!("Occurred: {m}")))?;
    let optional = |names: &[&str]| {
        find(names)
            .map(|f| f.2.clone())
            .filter(|v| !v.is_empty() && v != "-")
    };
    let extra: Map<String, Value> = block
        .fields
        .iter()
        .filter(|(k, ..)| !KNOWN.contains(&normalise_label(k).as_str()))
        .map(|(_, label, value, _)| (label.clone(), Value::String(value.clone())))
        .collect();
    Ok(Alert {
        event_id: required(&["event id"], "Event ID")?.2.clone(),
        severity: severity.to_string(),
        grid_name: required(&["grid name", "grid"], "Grid Name")?.2.clone(),
        node_name: required(&["node", "node name"], "Node")?.2.clone(),
        component: optional(&["component"]),
        occurred_at,
        message: optional(&["message"]),
        extra,
    })
}

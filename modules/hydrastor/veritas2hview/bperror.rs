//! `bperror -U -backstat`: a header `STATUS CLIENT POLICY SCHED SERVER TIME COMPLETED`, then
//! one row per backup (`status client policy sched server MM/DD/YYYY HH:MM:SS`), each
//! possibly followed by its status text in parentheses on the next line.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Backstat {
    pub status: i32,
    pub client: String,
    pub policy: String,
    pub schedule: String,
    pub server: String,
    pub completed_at: DateTime<Utc>,
    pub status_text: Option<String>,
}

/// A row, or Ok(None) for the header and blank lines.
pub fn row(line: &str) -> Result<Option<Backstat>, String> {
    let t: Vec<&str> = line.split_whitespace().collect();
    if t.is_empty() || t[0] == "STATUS" {
        return Ok(None);
    }
    if t.len() != 7 {
        return Err(format!("a backstat row has 7 fields, this one {}", t.len()));
    }
    let status = t[0]
        .parse()
        .map_err(|_| format!("status `{}` is not a number", t[0]))?;
    let when = format!("{} {}", t[5], t[6]);
    // The master's locale decides; MM/DD/YYYY (or two-digit year) is the US default.
    let completed = NaiveDateTime::parse_from_str(&when, "%m/%d/%Y %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(&when, "%m/%d/%y %H:%M:%S"))
        .map_err(|_| format!("`{when}` is not a time like 09/23/2025 16:00:27"))?;
    Ok(Some(Backstat {
        status,
        client: t[1].to_string(),
        policy: t[2].to_string(),
        schedule: t[3].to_string(),
        server: t[4].to_string(),
        completed_at: completed.and_utc(),
        status_text: None,
    }))
}

/// `(the requested operation was successfully completed)` → the text inside.
pub fn status_text(line: &str) -> Option<String> {
    let t = line.trim();
    t.strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .map(str::to_string)
}

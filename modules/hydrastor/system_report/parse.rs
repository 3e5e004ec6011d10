//! `[HYDRAstor] System Report` text → `SystemReport`. Sections in any order; labels
//! case-insensitive; unknown sections and labels kept in `extra`, never fatal.

use crate::hydrastor::sections::{
    Line, ParseError, Table, is_key_value_block, key_value, lines, split_sections, table,
};
use crate::hydrastor::values;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SystemReport {
    pub report_time: Option<DateTime<Utc>>,
    pub grid_name: Option<String>,
    pub serial_number: Option<String>,
    pub model: Option<String>,
    pub software_version: Option<String>,
    pub status: Option<String>,
    pub physical_capacity_bytes: Option<i64>,
    pub physical_used_bytes: Option<i64>,
    pub physical_free_bytes: Option<i64>,
    pub logical_used_bytes: Option<i64>,
    pub dedup_ratio: Option<f64>,
    pub nodes: Vec<Node>,
    pub filesystems: Vec<FileSystem>,
    /// Sections and labels the contract does not name, as reported.
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Node {
    pub name: String,
    pub role: Option<String>,
    pub status: Option<String>,
    pub physical_capacity_bytes: Option<i64>,
    pub physical_used_bytes: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileSystem {
    pub name: String,
    pub fs_type: Option<String>,
    pub status: Option<String>,
    pub logical_used_bytes: Option<i64>,
    pub dedup_ratio: Option<f64>,
}

/// Whether a text reads as a system report (used to pick it among a mail's parts).
pub fn looks_like_report(text: &str) -> bool {
    let all = lines(text);
    let (_, sections) = split_sections(&all);
    sections
        .iter()
        .any(|s| s.key == "system" || s.key == "capacity")
}

/// `zone` is the grid's zone for times written without an offset.
pub fn parse(text: &str, zone: FixedOffset) -> Result<SystemReport, ParseError> {
    let all = lines(text);
    let (preamble, sections) = split_sections(&all);
    let mut report = SystemReport::default();
    for line in &preamble {
        read_label(&mut report, line, zone, None)?;
    }
    for section in &sections {
        match section.key.as_str() {
            "system" | "capacity" => {
                for line in &section.lines {
                    read_label(&mut report, line, zone, Some(&section.title))?;
                }
            }
            "nodes" => report.nodes = nodes(&table(&section.lines)?)?,
            "file systems" | "filesystems" | "file system" => {
                report.filesystems = filesystems(&table(&section.lines)?)?
            }
            // Known labels count wherever they stand; the rest is kept under the section's title.
            _ if is_key_value_block(&section.lines) => {
                for line in &section.lines {
                    read_label(&mut report, line, zone, Some(&section.title))?;
                }
            }
            _ => {
                report
                    .extra
                    .insert(section.title.clone(), table(&section.lines)?.to_json());
            }
        }
    }
    if report.grid_name.is_none() && sections.is_empty() {
        return Err(ParseError::at(
            1,
            "not a HYDRAstor system report: no [System] or [Capacity] section",
        ));
    }
    Ok(report)
}

fn read_label(
    report: &mut SystemReport,
    line: &Line<'_>,
    zone: FixedOffset,
    section: Option<&str>,
) -> Result<(), ParseError> {
    let Some((key, label, value)) = key_value(line.text) else {
        return Ok(());
    };
    let at = |message: String| ParseError::at(line.number, format!("{label}: {message}"));
    let text = || (!value.is_empty() && value != "-").then(|| value.clone());
    match key.as_str() {
        "generated" | "report time" | "generated at" => {
            report.report_time = Some(values::time(&value, zone).map_err(at)?)
        }
        "grid name" | "grid" => report.grid_name = text(),
        "serial number" | "serial" => report.serial_number = text(),
        "model" => report.model = text(),
        "software version" | "version" => report.software_version = text(),
        "status" => report.status = text(),
        "physical capacity" => {
            report.physical_capacity_bytes = values::bytes(&value).map_err(at)?
        }
        "physical used" => report.physical_used_bytes = values::bytes(&value).map_err(at)?,
        "physical free" => report.physical_free_bytes = values::bytes(&value).map_err(at)?,
        "logical used" => report.logical_used_bytes = values::bytes(&value).map_err(at)?,
        "deduplication ratio" | "dedup ratio" => {
            report.dedup_ratio = values::ratio(&value).map_err(at)?
        }
        _ => {
            let bucket = section.unwrap_or("preamble").to_string();
            let entry = report
                .extra
                .entry(bucket)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = entry {
                map.insert(label, Value::String(value));
            }
        }
    }
    Ok(())
}

fn cell(row: &[Option<String>], column: Option<usize>) -> Option<String> {
    column.and_then(|c| row.get(c).cloned().flatten())
}

fn required_name(
    table: &Table,
    line: usize,
    row: &[Option<String>],
    what: &str,
) -> Result<String, ParseError> {
    cell(row, table.column(&["name"]))
        .ok_or_else(|| ParseError::at(line, format!("{what} row has no Name")))
}

fn nodes(table: &Table) -> Result<Vec<Node>, ParseError> {
    let (role, status) = (table.column(&["role"]), table.column(&["status"]));
    let (capacity, used) = (
        table.column(&["physical capacity"]),
        table.column(&["physical used"]),
    );
    table
        .rows
        .iter()
        .map(|(line, row)| {
            let at = |m: String| ParseError::at(*line, m);
            Ok(Node {
                name: required_name(table, *line, row, "node")?,
                role: cell(row, role).map(|r| r.to_uppercase()),
                status: cell(row, status),
                physical_capacity_bytes: values::bytes(&cell(row, capacity).unwrap_or_default())
                    .map_err(at)?,
                physical_used_bytes: values::bytes(&cell(row, used).unwrap_or_default())
                    .map_err(at)?,
            })
        })
        .collect()
}

fn filesystems(table: &Table) -> Result<Vec<FileSystem>, ParseError> {
    let (fs_type, status) = (table.column(&["type"]), table.column(&["status"]));
    let (used, ratio) = (
        table.column(&["logical used"]),
        table.column(&["dedup ratio", "deduplication ratio"]),
    );
    table
        .rows
        .iter()
        .map(|(line, row)| {
            let at = |m: String| ParseError::at(*line, m);
            Ok(FileSystem {
                name: required_name(table, *line, row, "file system")?,
                fs_type: cell(row, fs_type),
                status: cell(row, status),
                logical_used_bytes: values::bytes(&cell(row, used).unwrap_or_default())
                    .map_err(at)?,
                dedup_ratio: values::ratio(&cell(row, ratio).unwrap_or_default()).map_err(at)?,
            })
        })
        .collect()
}

//! The text structure of a HYDRAstor report: `[Section]` headers, `Label : value` lines
//! (labels matched case-insensitively, any spacing around the colon) and tables (a header
//! line, then rows; columns separated by two or more spaces).

use regex::Regex;
use serde_json::{Map, Value};
use std::sync::LazyLock;

/// A failure at a line of the report text (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    pub number: usize,
    pub text: &'a str,
}

pub struct Section<'a> {
    /// As written, e.g. `File Systems`.
    pub title: String,
    /// Normalised for matching: lower case, single spaces (`file systems`).
    pub key: String,
    pub lines: Vec<Line<'a>>,
}

/// Lower case with runs of white space made one space: how labels and titles are compared.
pub fn normalise_label(label: &str) -> String {
    label
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Numbered lines with CR removed (LF and CRLF both work).
pub fn lines(text: &str) -> Vec<Line<'_>> {
    text.split('\n')
        .enumerate()
        .map(|(i, t)| Line {
            number: i + 1,
            text: t.strip_suffix('\r').unwrap_or(t),
        })
        .collect()
}

/// The lines before the first `[Section]`, and each section with its lines.
pub fn split_sections<'a>(all: &[Line<'a>]) -> (Vec<Line<'a>>, Vec<Section<'a>>) {
    static HEADER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\s*\[([^\]]+)\]\s*$").unwrap_or_else(|e| panic!("section regex: {e}"))
    });
    let mut preamble = Vec::new();
    let mut sections: Vec<Section<'a>> = Vec::new();
    for line in all {
        if let Some(caps) = HEADER.captures(line.text) {
            let title = caps[1].trim().to_string();
            sections.push(Section {
                key: normalise_label(&title),
                title,
                lines: Vec::new(),
            });
        } else if let Some(section) = sections.last_mut() {
            section.lines.push(*line);
        } else {
            preamble.push(*line);
        }
    }
    (preamble, sections)
}

/// `Label : value` → (normalised label, label as written, value).
pub fn key_value(text: &str) -> Option<(String, String, String)> {
    let (label, value) = text.split_once(':')?;
    let label = label.trim();
    if label.is_empty() || label.len() > 60 {
        return None;
    }
    Some((
        normalise_label(label),
        label.to_string(),
        value.trim().to_string(),
    ))
}

/// Whether the non-empty lines read as `Label : value` pairs (rather than a table).
pub fn is_key_value_block(lines: &[Line<'_>]) -> bool {
    let filled: Vec<_> = lines.iter().filter(|l| !l.text.trim().is_empty()).collect();
    !filled.is_empty() && filled.iter().all(|l| key_value(l.text).is_some())
}

pub struct Table {
    /// Normalised header names.
    pub headers: Vec<String>,
    pub titles: Vec<String>,
    /// (line number, cells); `-` and missing trailing cells are None.
    pub rows: Vec<(usize, Vec<Option<String>>)>,
}

impl Table {
    pub fn column(&self, names: &[&str]) -> Option<usize> {
        self.headers
            .iter()
            .position(|h| names.contains(&h.as_str()))
    }

    /// The table as a JSON array of objects keyed by the titles as written.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|(_, cells)| {
                    let object: Map<String, Value> = self
                        .titles
                        .iter()
                        .zip(cells)
                        .map(|(t, c)| {
                            (
                                t.clone(),
                                c.clone().map(Value::String).unwrap_or(Value::Null),
                            )
                        })
                        .collect();
                    Value::Object(object)
                })
                .collect(),
        )
    }
}

fn cells(text: &str) -> Vec<String> {
    static GAP: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\s{2,}|\t").unwrap_or_else(|e| panic!("gap regex: {e}")));
    GAP.split(text.trim())
        .map(str::to_string)
        .filter(|c| !c.is_empty())
        .collect()
}

/// Reads a table; a row with more cells than the header is an error at its line.
pub fn table(lines: &[Line<'_>]) -> Result<Table, ParseError> {
    let mut filled = lines.iter().filter(|l| !l.text.trim().is_empty());
    let Some(header) = filled.next() else {
        return Ok(Table {
            headers: Vec::new(),
            titles: Vec::new(),
            rows: Vec::new(),
        });
    };
    let titles = cells(header.text);
    let headers = titles
        .iter()
        .map(|t| normalise_label(t))
        .collect::<Vec<_>>();
    let mut rows = Vec::new();
    for line in filled {
        let mut row: Vec<Option<String>> = cells(line.text)
            .into_iter()
            .map(|c| if c == "-" { None } else { Some(c) })
            .collect();
        if row.len() > headers.len() {
            return Err(ParseError::at(
                line.number,
                format!(
                    "{} cells but the table has {} columns ({})",
                    row.len(),
                    headers.len(),
                    titles.join(", ")
                ),
            ));
        }
        row.resize(headers.len(), None);
        rows.push((line.number, row));
    }
    Ok(Table {
        headers,
        titles,
        rows,
    })
}

/// A block of `Label : value` lines as a JSON object (labels as written).
pub fn key_values_json(lines: &[Line<'_>]) -> Value {
    let object: Map<String, Value> = lines
        .iter()
        .filter_map(|l| key_value(l.text))
        .map(|(_, label, value)| (label, Value::String(value)))
        .collect();
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_labels_and_tables() {
        let text = "Title\r\n\r\n[ System ]\r\ngrid   NAME:x\r\n\r\n[Nodes]\r\nName   Role\r\nsn1    SN\r\nsn2    -\r\nsn3\r\n";
        let all = lines(text);
        let (preamble, sections) = split_sections(&all);
        assert_eq!(preamble.len(), 2);
        assert_eq!(sections[0].key, "system");
        assert_eq!(key_value(sections[0].lines[0].text).unwrap().0, "grid name");
        let t = table(&sections[1].lines).unwrap();
        assert_eq!(t.headers, ["name", "role"]);
        assert_eq!(t.rows[1], (9, vec![Some("sn2".into()), None]));
        assert_eq!(t.rows[2].1, vec![Some("sn3".into()), None]);
        let bad = lines("A  B\nx  y  z\n");
        assert_eq!(table(&bad).err().unwrap().line, 2);
    }
}

//! HTML bodies to the plain text the parsers read. A `<pre>` block is taken as it is; otherwise
//! headings become `[Section]` lines, table rows with `<th>` headers become table lines
//! (cells two spaces apart), and two-cell rows of tables without headers become
//! `Label : value` lines.

use regex::Regex;
use std::sync::LazyLock;

pub fn to_text(html: &str) -> String {
    static PRE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?is)<pre[^>]*>(.*?)</pre>").unwrap_or_else(|e| panic!("pre regex: {e}"))
    });
    if let Some(caps) = PRE.captures(html) {
        return decode_entities(&strip_tags(&caps[1]));
    }
    tables_and_headings(html)
}

fn strip_tags(html: &str) -> String {
    static TAG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?s)<[^>]*>").unwrap_or_else(|e| panic!("tag regex: {e}")));
    TAG.replace_all(html, "").to_string()
}

fn decode_entities(text: &str) -> String {
    static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"&(#x?[0-9a-fA-F]+|[a-zA-Z]+);").unwrap_or_else(|e| panic!("entity regex: {e}"))
    });
    ENTITY
        .replace_all(text, |caps: &regex::Captures<'_>| {
            let name = &caps[1];
            let decoded = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ if name.starts_with("#x") || name.starts_with("#X") => {
                    u32::from_str_radix(&name[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            decoded
                .map(String::from)
                .unwrap_or_else(|| caps[0].to_string())
        })
        .to_string()
}

fn clean_cell(html: &str) -> String {
    decode_entities(&strip_tags(html))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn tables_and_headings(html: &str) -> String {
    static BLOCK: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?is)<h[1-6][^>]*>(.*?)</h[1-6]>|<table[^>]*>(.*?)</table>|<(?:p|div)[^>]*>(.*?)</(?:p|div)>")
            .unwrap_or_else(|e| panic!("block regex: {e}"))
    });
    static ROW: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?is)<tr[^>]*>(.*?)</tr>").unwrap_or_else(|e| panic!("row regex: {e}"))
    });
    static CELL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?is)<(t[hd])[^>]*>(.*?)</t[hd]>")
            .unwrap_or_else(|e| panic!("cell regex: {e}"))
    });
    let mut out = Vec::new();
    for block in BLOCK.captures_iter(html) {
        if let Some(heading) = block.get(1) {
            let title = clean_cell(heading.as_str());
            let title = title.trim_start_matches('[').trim_end_matches(']');
            out.push(format!("[{title}]"));
            continue;
        } else if let Some(table) = block.get(2) {
            let rows: Vec<(bool, Vec<String>)> = ROW
                .captures_iter(table.as_str())
                .map(|row| {
                    let cells: Vec<_> = CELL.captures_iter(&row[1]).collect();
                    let is_header = cells.iter().any(|c| c[1].eq_ignore_ascii_case("th"));
                    let texts = cells.iter().map(|c| {
                        let text = clean_cell(&c[2]);
                        if text.is_empty() {
                            "-".to_string()
                        } else {
                            text
                        }
                    });
                    (is_header, texts.collect())
                })
                .collect();
            let has_header = rows.iter().any(|(h, _)| *h);
            for (_, cells) in rows {
                if !has_header && cells.len() == 2 {
                    out.push(format!("{} : {}", cells[0].trim_end_matches(':'), cells[1]));
                } else {
                    out.push(cells.join("  "));
                }
            }
        } else if let Some(paragraph) = block.get(3) {
            out.push(clean_cell(paragraph.as_str()));
        }
        out.push(String::new());
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_blocks_are_taken_verbatim_with_entities_decoded() {
        let html = "<html><body><p>Hi</p><pre>[System]\nGrid Name : a&amp;b\n</pre></body></html>";
        assert_eq!(to_text(html), "[System]\nGrid Name : a&b\n");
    }

    #[test]
    fn tables_become_labels_or_table_lines() {
        let html = "<h2>System</h2><table><tr><td>Grid Name:</td><td>g1</td></tr></table>\
                    <h2>[Nodes]</h2><table><tr><th>Name</th><th>Role</th></tr><tr><td>sn1</td><td></td></tr></table>";
        let text = to_text(html);
        assert!(text.contains("[System]\nGrid Name : g1"), "{text}");
        assert!(text.contains("[Nodes]\nName  Role\nsn1  -"), "{text}");
    }
}

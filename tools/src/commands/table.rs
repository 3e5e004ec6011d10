//! Tables for people: aligned whatever the values' widths, fitted to the terminal (160
//! columns when not on one), a value too long for its column cut with `…`.

use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Row, Table};
use std::io::IsTerminal;

pub fn new(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_truncation_indicator("…")
        .set_header(header.to_vec());
    if !std::io::stdout().is_terminal() {
        table.set_width(160);
    }
    table
}

/// A row of one line: what does not fit its column is cut, marked `…`.
pub fn add_row(table: &mut Table, cells: Vec<String>) {
    let mut row = Row::from(cells);
    row.max_height(1);
    table.add_row(row);
}

//! A batch of rows held column by column, each value as Postgres input text (or NULL), and a
//! digest of each row. The store sends a column as one text (values after a unit separator,
//! NULL as a record separator), so a batch is a few large parameters that Postgres splits,
//! casts and inserts. Parsing JSON rows in Postgres (`json_to_recordset`) cost more than
//! inserting them, and binding thousands of array elements one by one kept Postgres waiting
//! on the client.

use super::digest::{self, Digest};
pub use super::serialize::RowError;
use super::serialize::{RowSerializer, cell, typed};
use super::spec::TableSpec;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Rows per statement: larger batches spend less on round trips; memory stays a few MB.
pub const BATCH_ROWS: usize = 5000;

pub struct Columns {
    pub spec: &'static TableSpec,
    /// One vector per column of `spec.all_columns()`, all of the same length.
    values: Vec<Vec<Option<String>>>,
    /// Each row's digest when it was given (the record's it came from); the others are
    /// taken from the values when the batch is finished.
    digests: Vec<Option<Digest>>,
    /// Where each key has its row, so a key seen again replaces its row (the last wins, as
    /// one statement cannot update a row twice).
    rows_by_key: HashMap<Vec<Option<String>>, usize>,
}

impl Columns {
    pub fn new(spec: &'static TableSpec) -> Columns {
        Columns {
            spec,
            values: vec![Vec::with_capacity(BATCH_ROWS); spec.all_columns().count()],
            digests: Vec::with_capacity(BATCH_ROWS),
            rows_by_key: HashMap::with_capacity(BATCH_ROWS),
        }
    }

    pub fn len(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a row given as a struct whose field names are the spec's column names (fields
    /// without a column are ignored, columns without a field are NULL).
    pub fn push(&mut self, row: &impl Serialize) -> Result<(), RowError> {
        self.push_from(row, None)
    }

    /// As `push`, for a row written from a record of this digest.
    pub fn push_from(
        &mut self,
        row: &impl Serialize,
        record: Option<Digest>,
    ) -> Result<(), RowError> {
        let mut cells = vec![None; self.values.len()];
        row.serialize(RowSerializer {
            spec: self.spec,
            cells: &mut cells,
        })?;
        self.insert(cells, record);
        Ok(())
    }

    /// Adds a row given as a JSON object keyed by column names.
    pub fn push_object(&mut self, row: &Value) -> Result<(), RowError> {
        let mut cells = vec![None; self.values.len()];
        for (i, (name, sql_type)) in self.spec.all_columns().enumerate() {
            if let Some(value) = row.get(name) {
                cells[i] = cell(sql_type, value)?;
            }
        }
        self.insert(cells, None);
        Ok(())
    }

    /// The finished batch, each row's digest taken.
    pub fn finish(self) -> Batch {
        let len = self.len();
        let digests = (0..len)
            .map(|row| {
                self.digests[row].unwrap_or_else(|| {
                    digest::of_values(self.values.iter().map(|column| column[row].as_deref()))
                })
            })
            .collect();
        Batch {
            spec: self.spec,
            len,
            values: self.values,
            digests,
            changed_only: false,
        }
    }

    fn insert(&mut self, mut cells: Vec<Option<String>>, record: Option<Digest>) {
        // The separators (and NUL, which Postgres text cannot hold) would corrupt the
        // batch: they become U+FFFD, as invalid UTF-8 does, before keys are compared.
        for text in cells.iter_mut().flatten() {
            if text.contains([VALUE, NULL, '\0']) {
                *text = text.replace([VALUE, NULL, '\0'], "\u{FFFD}");
            }
        }
        let key = cells[..self.spec.key.len()].to_vec();
        match self.rows_by_key.get(&key) {
            Some(&row) => {
                for (column, value) in self.values.iter_mut().zip(cells) {
                    column[row] = value;
                }
                self.digests[row] = record;
            }
            None => {
                self.rows_by_key.insert(key, self.len());
                for (column, value) in self.values.iter_mut().zip(cells) {
                    column.push(value);
                }
                self.digests.push(record);
            }
        }
    }
}

/// Starts each value in a joined column.
pub const VALUE: char = '\u{1f}';
/// A value that is only this is NULL.
pub const NULL: char = '\u{1e}';

/// A finished batch: `values[i]` holds the values of `spec.all_columns()`'s i-th column,
/// `digests` each row's digest.
pub struct Batch {
    pub spec: &'static TableSpec,
    pub len: usize,
    values: Vec<Vec<Option<String>>>,
    digests: Vec<Digest>,
    /// Every row is known to be new or changed (the reader held every stored record's
    /// digest and these were not among them): storing skips the check.
    pub changed_only: bool,
}

impl Batch {
    /// The values of column `column` (of `spec.all_columns()`) in `rows`, as one text: each
    /// after a `VALUE` separator, NULL as `NULL`.
    pub fn joined(&self, column: usize, rows: &[usize]) -> String {
        let values = &self.values[column];
        join(rows.iter().map(|&row| values[row].as_deref()))
    }

    /// Each row's natural key, hashed with its table's name (see `NewRows`).
    pub fn key_hashes(&self) -> impl Iterator<Item = u64> + '_ {
        let key_columns = &self.values[..self.spec.key.len()];
        (0..self.len).map(move |row| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            self.spec.table.hash(&mut hasher);
            for column in key_columns {
                column[row].hash(&mut hasher);
            }
            hasher.finish()
        })
    }

    /// The digests of `rows` in hex, joined as `joined` does.
    pub fn joined_digests(&self, rows: &[usize]) -> String {
        let mut joined = String::with_capacity(rows.len() * 33);
        for &row in rows {
            joined.push(VALUE);
            digest::hex(&self.digests[row], &mut joined);
        }
        joined
    }

    /// The rows as the table gets them, typed back as JSON (numbers, lists, JSON, text;
    /// NULL as null): what the golden tests compare.
    pub fn rows(&self) -> Vec<Value> {
        (0..self.len)
            .map(|row| {
                let object = self
                    .spec
                    .all_columns()
                    .zip(&self.values)
                    .map(|((name, sql_type), column)| {
                        let value = match column[row].as_deref() {
                            None => Value::Null,
                            Some(text) => typed(sql_type, text),
                        };
                        (name.to_string(), value)
                    })
                    .collect();
                Value::Object(object)
            })
            .collect()
    }
}

fn join<'a>(values: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut joined = String::new();
    for value in values {
        joined.push(VALUE);
        joined.push_str(value.unwrap_or(NULL_TEXT));
    }
    joined
}

const NULL_TEXT: &str = "\u{1e}";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::hydrastor::veritas2hview::spec;
    use serde_json::json;

    #[derive(Serialize)]
    struct Row {
        backup_id: String,
        client: Option<String>,
        kbytes: Option<i64>,
        copies: Option<i32>,
        ignored: bool,
    }

    fn column<'a>(c: &'a Columns, name: &str) -> &'a [Option<String>] {
        let i = c.spec.all_columns().position(|(n, _)| n == name).unwrap();
        &c.values[i]
    }

    #[test]
    fn a_struct_fills_its_columns_and_leaves_the_others_null() {
        let mut c = Columns::new(&spec::IMAGES);
        c.push(&Row {
            backup_id: "b1".into(),
            client: Some("cl \"x\"".into()),
            kbytes: Some(-5),
            copies: None,
            ignored: true,
        })
        .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(column(&c, "backup_id"), [Some("b1".to_string())]);
        assert_eq!(column(&c, "client"), [Some("cl \"x\"".to_string())]);
        assert_eq!(column(&c, "kbytes"), [Some("-5".to_string())]);
        assert_eq!(column(&c, "copies"), [None]);
        assert_eq!(column(&c, "policy"), [None]);
    }

    #[test]
    fn a_key_seen_again_replaces_its_row() {
        let mut c = Columns::new(&spec::IMAGES);
        for (id, kb) in [("a", 1), ("b", 2), ("a", 3)] {
            c.push(&Row {
                backup_id: id.into(),
                client: None,
                kbytes: Some(kb),
                copies: None,
                ignored: false,
            })
            .unwrap();
        }
        assert_eq!(
            column(&c, "backup_id"),
            [Some("a".to_string()), Some("b".to_string())]
        );
        assert_eq!(
            column(&c, "kbytes"),
            [Some("3".to_string()), Some("2".to_string())]
        );
    }

    #[test]
    fn lists_become_array_literals_and_json_stays_json() {
        let mut c = Columns::new(&spec::STORAGE_SERVERS);
        c.push_object(&json!({ "storage_server": "s", "flags": ["a b", "q\"\\", "{x}"] }))
            .unwrap();
        assert_eq!(
            column(&c, "flags"),
            [Some(r#"{"a b","q\"\\","{x}"}"#.to_string())]
        );
        assert_eq!(
            c.finish().rows()[0]["flags"],
            json!(["a b", "q\"\\", "{x}"])
        );
        let mut jobs = Columns::new(&spec::JOBS);
        jobs.push_object(&json!({ "master_server": "m", "job_id": 7, "extra": { "k": [1, "v"] }, "dedup_ratio": 89.5 }))
            .unwrap();
        assert_eq!(
            column(&jobs, "extra"),
            [Some(r#"{"k":[1,"v"]}"#.to_string())]
        );
        assert_eq!(column(&jobs, "dedup_ratio"), [Some("89.5".to_string())]);
        assert_eq!(column(&jobs, "job_id"), [Some("7".to_string())]);
    }

    #[test]
    fn a_finished_batch_keeps_nulls_empty_texts_and_replaces_separators() {
        let mut c = Columns::new(&spec::IMAGES);
        let odd = format!("x{VALUE}y{NULL}z\0");
        c.push_object(&json!({ "backup_id": "a", "client": "", "policy": odd }))
            .unwrap();
        c.push_object(&json!({ "backup_id": "b", "client": null }))
            .unwrap();
        let batch = c.finish();
        assert_eq!(batch.len, 2);
        let rows = batch.rows();
        assert_eq!(rows[0]["client"], "");
        assert_eq!(rows[0]["policy"], "x\u{FFFD}y\u{FFFD}z\u{FFFD}");
        assert_eq!(rows[1]["client"], Value::Null);
        assert_eq!(rows[1]["backup_id"], "b");
    }

    #[test]
    fn a_value_that_does_not_fit_its_column_is_an_error_naming_what_it_is() {
        let mut c = Columns::new(&spec::IMAGES);
        let err = c
            .push_object(&json!({ "backup_id": "a", "client": { "nested": 1 } }))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("must be a number, a text or empty"),
            "{err}"
        );
        assert!(c.is_empty(), "nothing half-added");
    }
}

//! A batch of rows held column by column, each value as Postgres input text (or NULL).
//! `finish` joins each column into one text (values after a unit separator, NULL as a record
//! separator), so a batch is a few large parameters that Postgres splits, casts and inserts.
//! Parsing JSON rows in Postgres (`json_to_recordset`) cost more than inserting them, and
//! binding thousands of array elements one by one kept Postgres waiting on the client.

use super::reader::BATCH_ROWS;
use super::store::TableSpec;
use serde::Serialize;
use serde::ser::{self, Impossible, SerializeStruct};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Display;

pub struct Columns {
    pub spec: &'static TableSpec,
    /// One vector per column of `spec.all_columns()`, all of the same length.
    values: Vec<Vec<Option<String>>>,
    /// Where each key has its row, so a key seen again replaces its row (the last wins, as
    /// one statement cannot update a row twice).
    rows_by_key: HashMap<Vec<Option<String>>, usize>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RowError(String);

impl ser::Error for RowError {
    fn custom<T: Display>(msg: T) -> Self {
        RowError(msg.to_string())
    }
}

impl Columns {
    pub fn new(spec: &'static TableSpec) -> Columns {
        Columns {
            spec,
            values: vec![Vec::with_capacity(BATCH_ROWS); spec.all_columns().count()],
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
        let mut cells = vec![None; self.values.len()];
        row.serialize(RowSerializer {
            spec: self.spec,
            cells: &mut cells,
        })?;
        self.insert(cells);
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
        self.insert(cells);
        Ok(())
    }

    /// The batch as the store sends it: one text per column.
    pub fn finish(self) -> Batch {
        let len = self.len();
        let columns = self
            .values
            .into_iter()
            .map(|column| {
                let size = column.iter().flatten().map(|v| v.len() + 1).sum::<usize>() + len;
                let mut joined = String::with_capacity(size);
                for value in column {
                    joined.push(VALUE);
                    match value {
                        Some(text) => joined.push_str(&text),
                        None => joined.push(NULL),
                    }
                }
                joined
            })
            .collect();
        Batch {
            spec: self.spec,
            len,
            columns,
        }
    }

    fn insert(&mut self, mut cells: Vec<Option<String>>) {
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
            }
            None => {
                self.rows_by_key.insert(key, self.len());
                for (column, value) in self.values.iter_mut().zip(cells) {
                    column.push(value);
                }
            }
        }
    }
}

/// Starts each value in a joined column.
pub const VALUE: char = '\u{1f}';
/// A value that is only this is NULL.
pub const NULL: char = '\u{1e}';

/// A finished batch: `columns[i]` holds the values of `spec.all_columns()`'s i-th column,
/// each after a `VALUE` separator.
pub struct Batch {
    pub spec: &'static TableSpec,
    pub len: usize,
    pub columns: Vec<String>,
}

impl Batch {
    /// The rows as the table gets them, typed back as JSON (numbers, lists, JSON, text;
    /// NULL as null): what the golden tests compare.
    pub fn rows(&self) -> Vec<Value> {
        let null = NULL.to_string();
        let split: Vec<Vec<Option<&str>>> = self
            .columns
            .iter()
            .map(|c| {
                c.split(VALUE)
                    .skip(1)
                    .map(|v| (v != null).then_some(v))
                    .collect()
            })
            .collect();
        (0..self.len)
            .map(|row| {
                let object = self
                    .spec
                    .all_columns()
                    .zip(&split)
                    .map(|((name, sql_type), column)| {
                        let value = match column[row] {
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

/// One value as Postgres input text for a column of `sql_type`.
fn cell(sql_type: &str, value: &impl Serialize) -> Result<Option<String>, RowError> {
    match sql_type {
        "jsonb" => serde_json::to_string(value)
            .map(Some)
            .map_err(|e| RowError(e.to_string())),
        "text[]" => match serde_json::to_value(value).map_err(|e| RowError(e.to_string()))? {
            Value::Null => Ok(None),
            Value::Array(items) => Ok(Some(array_literal(&items))),
            other => Err(RowError(format!("expected a list, got {other}"))),
        },
        _ => value.serialize(ScalarSerializer),
    }
}

/// Input text read back as the JSON value it stands for (the inverse of `cell`).
fn typed(sql_type: &str, text: &str) -> Value {
    let number = |parsed: Option<Value>| parsed.unwrap_or_else(|| Value::String(text.into()));
    match sql_type {
        "bigint" | "integer" => number(text.parse::<i64>().ok().map(Value::from)),
        "double precision" => number(text.parse::<f64>().ok().map(Value::from)),
        "jsonb" => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into())),
        "text[]" => Value::Array(array_items(text).into_iter().map(Value::String).collect()),
        _ => Value::String(text.into()),
    }
}

/// The elements of an array literal written by `array_literal`.
fn array_items(literal: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut chars = literal.trim_start_matches('{').chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut item = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => item.extend(chars.next()),
                '"' => break,
                other => item.push(other),
            }
        }
        items.push(item);
    }
    items
}

/// `{"a","b \"quoted\""}`: every element quoted, `"` and `\` escaped.
fn array_literal(items: &[Value]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            Value::Null => out.push_str("NULL"),
            Value::String(s) => quoted(&mut out, s),
            other => quoted(&mut out, &other.to_string()),
        }
    }
    out.push('}');
    out
}

fn quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Walks one row struct, filling the cell of each field that has a column.
struct RowSerializer<'a> {
    spec: &'static TableSpec,
    cells: &'a mut [Option<String>],
}

impl SerializeStruct for RowSerializer<'_> {
    type Ok = ();
    type Error = RowError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        if let Some((i, (_, sql_type))) = self
            .spec
            .all_columns()
            .enumerate()
            .find(|(_, (name, _))| *name == key)
        {
            self.cells[i] = cell(sql_type, &value)?;
        }
        Ok(())
    }

    fn end(self) -> Result<(), RowError> {
        Ok(())
    }
}

fn not_a_struct<T>() -> Result<T, RowError> {
    Err(RowError("a row must be a struct".into()))
}

impl<'a> ser::Serializer for RowSerializer<'a> {
    type Ok = ();
    type Error = RowError;
    type SerializeSeq = Impossible<(), RowError>;
    type SerializeTuple = Impossible<(), RowError>;
    type SerializeTupleStruct = Impossible<(), RowError>;
    type SerializeTupleVariant = Impossible<(), RowError>;
    type SerializeMap = Impossible<(), RowError>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), RowError>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, RowError> {
        Ok(self)
    }

    fn serialize_bool(self, _: bool) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_i8(self, _: i8) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_i16(self, _: i16) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_i32(self, _: i32) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_i64(self, _: i64) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_u8(self, _: u8) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_u16(self, _: u16) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_u32(self, _: u32) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_u64(self, _: u64) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_f32(self, _: f32) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_f64(self, _: f64) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_char(self, _: char) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_str(self, _: &str) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_none(self) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_unit(self) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), RowError> {
        not_a_struct()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RowError> {
        not_a_struct()
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RowError> {
        not_a_struct()
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, RowError> {
        not_a_struct()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RowError> {
        not_a_struct()
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        not_a_struct()
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RowError> {
        not_a_struct()
    }
}

/// One scalar (number, text, time, or none) as its input text.
struct ScalarSerializer;

fn not_a_scalar<T>() -> Result<T, RowError> {
    Err(RowError(
        "a column value must be a number, a text or empty".into(),
    ))
}

fn text(value: impl Display) -> Result<Option<String>, RowError> {
    Ok(Some(value.to_string()))
}

impl ser::Serializer for ScalarSerializer {
    type Ok = Option<String>;
    type Error = RowError;
    type SerializeSeq = Impossible<Option<String>, RowError>;
    type SerializeTuple = Impossible<Option<String>, RowError>;
    type SerializeTupleStruct = Impossible<Option<String>, RowError>;
    type SerializeTupleVariant = Impossible<Option<String>, RowError>;
    type SerializeMap = Impossible<Option<String>, RowError>;
    type SerializeStruct = Impossible<Option<String>, RowError>;
    type SerializeStructVariant = Impossible<Option<String>, RowError>;

    fn serialize_bool(self, v: bool) -> Result<Option<String>, RowError> {
        text(v)
    }
    fn serialize_i8(self, v: i8) -> Result<Option<String>, RowError> {
        text(v)
    }
    fn serialize_i16(self, v: i16) -> Result<Option<String>, RowError> {
        text(v)
    }
    fn serialize_i32(self, v: i32) -> Result<Option<String>, RowError> {
        text(v)
    }
    fn serialize_i64(self, v: i64) -> Result<Option<String>, RowError> {
        text(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Option<String>, RowError> {
        text(v)
    }
    fn serialize_u16(self, v: u16) -> Result<Option<String>, RowError> {
        text(v)
    }
    fn serialize_u32(self, v: u32) -> Result<Option<String>, RowError> {
        text(v)
    }
    fn serialize_u64(self, v: u64) -> Result<Option<String>, RowError> {
        text(v)
    }
    fn serialize_f32(self, v: f32) -> Result<Option<String>, RowError> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Option<String>, RowError> {
        // Postgres reads `NaN` and `Infinity`, not Rust's `inf`.
        if v.is_infinite() {
            text(if v > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            text(v)
        }
    }
    fn serialize_char(self, v: char) -> Result<Option<String>, RowError> {
        text(v)
    }
    fn serialize_str(self, v: &str) -> Result<Option<String>, RowError> {
        Ok(Some(v.to_string()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Option<String>, RowError> {
        not_a_scalar()
    }
    fn serialize_none(self) -> Result<Option<String>, RowError> {
        Ok(None)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<Option<String>, RowError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Option<String>, RowError> {
        Ok(None)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Option<String>, RowError> {
        Ok(None)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Option<String>, RowError> {
        text(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Option<String>, RowError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Option<String>, RowError> {
        not_a_scalar()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RowError> {
        not_a_scalar()
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RowError> {
        not_a_scalar()
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, RowError> {
        not_a_scalar()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RowError> {
        not_a_scalar()
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        not_a_scalar()
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, RowError> {
        not_a_scalar()
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RowError> {
        not_a_scalar()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::hydrastor::veritas2hview::store;
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
        let mut c = Columns::new(&store::IMAGES);
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
        let mut c = Columns::new(&store::IMAGES);
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
        let mut c = Columns::new(&store::STORAGE_SERVERS);
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
        let mut jobs = Columns::new(&store::JOBS);
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
        let mut c = Columns::new(&store::IMAGES);
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
        let mut c = Columns::new(&store::IMAGES);
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

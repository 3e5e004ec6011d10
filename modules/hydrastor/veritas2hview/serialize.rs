//! Values as Postgres input text: `RowSerializer` walks a row struct into the cells of its
//! table's columns, `ScalarSerializer` writes one number, text or time, `cell` picks the
//! form a column's SQL type takes (JSON, array literal, scalar) and `typed` reads it back.

use super::spec::TableSpec;
use serde::Serialize;
use serde::ser::{self, Impossible, SerializeStruct};
use serde_json::Value;
use std::fmt::Display;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RowError(String);

impl ser::Error for RowError {
    fn custom<T: Display>(msg: T) -> Self {
        RowError(msg.to_string())
    }
}

/// One value as Postgres input text for a column of `sql_type`.
pub fn cell(sql_type: &str, value: &impl Serialize) -> Result<Option<String>, RowError> {
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
pub fn typed(sql_type: &str, text: &str) -> Value {
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
pub struct RowSerializer<'a> {
    pub spec: &'static TableSpec,
    pub cells: &'a mut [Option<String>],
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

//! Postgres text and jsonb cannot hold U+0000, and a mail header, a file name or a module's
//! message may quote hostile bytes: every NUL is written as the visible escape `\0` before
//! it is stored, so the value is still recorded (a failure is not retried forever) and an
//! operator sees where the byte was.

/// `text` with every NUL written `\0`.
pub fn storable(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\\0")
    } else {
        text
    }
}

/// `storable` for every string (and key) of a JSON value: jsonb refuses `\u0000` too. A
/// value without NUL (nearly every job's result) is used as it is, not copied.
pub fn storable_json(value: &serde_json::Value) -> std::borrow::Cow<'_, serde_json::Value> {
    if holds_nul(value) {
        std::borrow::Cow::Owned(escaped(value))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn escaped(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(storable(s.clone())),
        Value::Array(items) => Value::Array(items.iter().map(escaped).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (storable(k.clone()), escaped(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{storable, storable_json};

    #[test]
    fn nul_bytes_become_visible_escapes() {
        assert_eq!(storable("a\0b".into()), "a\\0b");
        assert_eq!(storable("plain".into()), "plain");
        let value = serde_json::json!({"k\0": ["x\0", 1, {"y": "\0"}]});
        assert_eq!(
            *storable_json(&value),
            serde_json::json!({"k\\0": ["x\\0", 1, {"y": "\\0"}]})
        );
        let clean = serde_json::json!({"rows": {"t": 5}, "files": ["a.txt"]});
        assert!(matches!(
            storable_json(&clean),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}

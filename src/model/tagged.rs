//! Decoding of `type`-tagged JSON objects whose unknown tags must survive verbatim.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize as _, Deserializer};
use serde_json::Value;

use super::Object;

/// Deserializes a JSON object, with a clear error for anything else.
pub(crate) fn object<'de, D: Deserializer<'de>>(d: D, what: &str) -> Result<Object, D::Error> {
    match Value::deserialize(d)? {
        Value::Object(map) => Ok(map),
        other => Err(D::Error::custom(format_args!(
            "expected {what} to be a JSON object, found {}",
            kind(&other)
        ))),
    }
}

/// Removes and returns the `type` tag of an object; `None` (and the object untouched) when it
/// has no string `type`.
pub(crate) fn take_tag(map: &mut Object) -> Option<String> {
    if !matches!(map.get("type"), Some(Value::String(_))) {
        return None;
    }
    match map.shift_remove("type") {
        Some(Value::String(tag)) => Some(tag),
        _ => None,
    }
}

/// Decodes the rest of a tagged object (its tag already removed) as `T`, naming the tag in
/// any error.
pub(crate) fn decode<T: DeserializeOwned, E: serde::de::Error>(
    tag: &str,
    map: Object,
) -> Result<T, E> {
    serde_json::from_value(Value::Object(map))
        .map_err(|e| E::custom(format_args!("invalid `{tag}` object: {e}")))
}

/// A JSON value's kind, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

//! Reading script replies and stored values without trusting them: anything unexpected is a
//! [`StoreError::Unavailable`] naming what was wrong, never a panic.

use std::sync::Arc;

use redis::Value;
use serde::de::DeserializeOwned;

use crate::StoreError;

/// The error for a reply or stored value that is not what this crate writes.
pub(crate) fn damaged(what: &str) -> StoreError {
    StoreError::Unavailable {
        reason: format!("Redis holds or answered something this backend did not write: {what}"),
    }
}

/// The elements of an array reply.
pub(crate) fn array(v: Value) -> Result<Vec<Value>, StoreError> {
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(damaged(&format!("expected an array, got {other:?}"))),
    }
}

/// The bytes of a string reply.
pub(crate) fn bytes(v: Value) -> Result<Vec<u8>, StoreError> {
    match v {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        other => Err(damaged(&format!("expected a string, got {other:?}"))),
    }
}

/// An integer reply.
pub(crate) fn int(v: &Value) -> Result<i64, StoreError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| damaged("expected an integer")),
        other => Err(damaged(&format!("expected an integer, got {other:?}"))),
    }
}

/// A count reply (a non-negative integer).
pub(crate) fn count(v: &Value) -> Result<usize, StoreError> {
    usize::try_from(int(v)?).map_err(|_| damaged("a negative count"))
}

/// A version written by the scripts (a decimal string).
pub(crate) fn version(v: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| damaged("a version that is not a number"))
}

/// The version at the head of a session's metadata (`<version>|...`).
pub(crate) fn meta_version(meta: &[u8]) -> Result<u64, StoreError> {
    let end = meta
        .iter()
        .position(|&b| b == b'|')
        .ok_or_else(|| damaged("session metadata without a version"))?;
    version(&meta[..end])
}

/// The status word at the head of a script's array reply, and the rest.
pub(crate) fn status(v: Value) -> Result<(String, std::vec::IntoIter<Value>), StoreError> {
    let mut items = array(v)?.into_iter();
    let head = items
        .next()
        .ok_or_else(|| damaged("an empty script reply"))?;
    let word = String::from_utf8(bytes(head)?).map_err(|_| damaged("a status that is not text"))?;
    Ok((word, items))
}

/// Decodes a stored JSON value.
pub(crate) fn decode<T: DeserializeOwned>(json: &[u8], what: &str) -> Result<Arc<T>, StoreError> {
    serde_json::from_slice(json)
        .map(Arc::new)
        .map_err(|e| damaged(&format!("{what} that is not valid JSON of its type ({e})")))
}

//! JSON as the reference reads and writes it: Python's `json` module.
//!
//! Request bodies are decoded with the same grammar, error messages and error positions
//! (character indices) as `json.loads`, so a 422 `json_invalid` answer matches the reference's.
//! Values echoed back in error bodies (`"input"`) are written as Python writes them: integers of
//! any size exactly, floats in `repr` form (`1e+16`, `1.5e-07`).
//!
//! Where Python accepts what JSON cannot carry back (`NaN`, `Infinity`, floats that overflow),
//! the reference fails later with a 500; here the body is refused as invalid JSON.

use std::fmt::Write as _;

use indexmap::IndexMap;

use crate::encode::MAX_JSON_DEPTH;

/// A decoded JSON value, kept as Python's `json` module decodes it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// An integer that fits an `i64`.
    Int(i64),
    /// An integer that does not: its decimal digits, with a leading `-` when negative.
    BigInt(String),
    /// A finite float.
    Float(f64),
    Str(String),
    List(Vec<Json>),
    /// Key order is first appearance; a repeated key keeps its first position and last value.
    /// Boxed, so that every value is small (see [`parse_cost`]).
    Dict(Box<IndexMap<String, Json>>),
}

/// Why a body is not JSON, as `json.JSONDecodeError` says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// Python's message (`Expecting value`, ...).
    pub msg: &'static str,
    /// The character index (not byte) where Python reports the error.
    pub pos: usize,
}

/// How a body failed to decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Not JSON: the reference answers 422 `json_invalid`.
    Decode(DecodeError),
    /// Not text, or nested too deeply: the reference answers 400.
    Unreadable,
}

/// Decodes a request body as `json.loads(body_bytes)` would.
pub(crate) fn parse_body(bytes: &[u8]) -> Result<Json, BodyError> {
    // `json.loads(bytes)` decodes UTF-8 with or without a BOM.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| BodyError::Unreadable)?;
    parse(text)
}

/// An upper bound of the memory that parsing `bytes` takes, counted without allocating: for
/// every value, its node (with the slack of a growing list), its copy in an error answer and
/// as a stored value, and two heap blocks for each string; plus the text, copied thrice.
/// Invalid JSON is counted as if it were valid (its parse stops earlier).
pub(crate) fn parse_cost(bytes: &[u8]) -> usize {
    const NODE: usize =
        3 * std::mem::size_of::<Json>() + std::mem::size_of::<serde_json::Value>() + 64;
    const STRING: usize = 2 * 32;
    let (mut values, mut strings) = (0usize, 0usize);
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        match bytes[i] {
            b'"' => {
                strings += 1;
                i += 1;
                while i < n {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            // Containers and literals (`true`, `false`, `null`; `NaN` and `Infinity`, which
            // are refused, may count twice: an upper bound).
            b'[' | b'{' | b't' | b'f' | b'n' | b'N' | b'I' => {
                values += 1;
                i += 1;
            }
            b'0'..=b'9' | b'-' => {
                values += 1;
                i += 1;
                while i < n && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    (values + strings)
        .saturating_mul(NODE)
        .saturating_add(strings.saturating_mul(STRING))
        .saturating_add(n.saturating_mul(3))
}

/// Decodes `text` as `json.loads(text)` would.
pub(crate) fn parse(text: &str) -> Result<Json, BodyError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        depth: 0,
    };
    let start = p.skip_ws(0);
    let (value, end) = p.value(start)?;
    let end = p.skip_ws(end);
    if end != p.s.len() {
        return Err(p.err("Extra data", end));
    }
    Ok(value)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    depth: usize,
}

type Step = Result<(Json, usize), BodyError>;

impl Parser<'_> {
    fn err(&self, msg: &'static str, byte_pos: usize) -> BodyError {
        let pos = self.text[..byte_pos.min(self.text.len())].chars().count();
        BodyError::Decode(DecodeError { msg, pos })
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.s.get(i).copied()
    }

    fn skip_ws(&self, mut i: usize) -> usize {
        while matches!(self.at(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        i
    }

    fn starts(&self, i: usize, lit: &[u8]) -> bool {
        self.s.get(i..i + lit.len()) == Some(lit)
    }

    /// A value at `i` (no leading whitespace), or "Expecting value" at `i`.
    fn value(&mut self, i: usize) -> Step {
        match self.at(i) {
            Some(b'"') => self.string(i).map(|(s, end)| (Json::Str(s), end)),
            Some(b'{') => self.nested(i, Self::object),
            Some(b'[') => self.nested(i, Self::array),
            Some(b'n') if self.starts(i, b"null") => Ok((Json::Null, i + 4)),
            Some(b't') if self.starts(i, b"true") => Ok((Json::Bool(true), i + 4)),
            Some(b'f') if self.starts(i, b"false") => Ok((Json::Bool(false), i + 5)),
            Some(b'N') if self.starts(i, b"NaN") => Err(self.non_finite(i)),
            Some(b'I') if self.starts(i, b"Infinity") => Err(self.non_finite(i)),
            Some(b'-') if self.starts(i, b"-Infinity") => Err(self.non_finite(i)),
            _ => self.number(i),
        }
    }

    /// Python decodes `NaN` and `Infinity`, but cannot write them back (its 500); refused here.
    fn non_finite(&self, i: usize) -> BodyError {
        self.err("Out of range float values are not JSON compliant", i)
    }

    /// Bodies nested deeper than the store's limit ([`MAX_JSON_DEPTH`]) are refused as the
    /// reference refuses much deeper ones (a `RecursionError`: 400). The reference's limit is
    /// near 1000; the store's is lower so that its files stay within what `serde_json` reads
    /// back.
    fn nested(&mut self, i: usize, f: fn(&mut Self, usize) -> Step) -> Step {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(BodyError::Unreadable);
        }
        self.depth += 1;
        let out = f(self, i + 1);
        self.depth -= 1;
        out
    }

    /// `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?` at `i`, or "Expecting value".
    fn number(&self, i: usize) -> Step {
        let digits = |mut j: usize| {
            while matches!(self.at(j), Some(b'0'..=b'9')) {
                j += 1;
            }
            j
        };
        let mut j = i;
        if self.at(j) == Some(b'-') {
            j += 1;
        }
        match self.at(j) {
            Some(b'0') => j += 1,
            Some(b'1'..=b'9') => j = digits(j),
            _ => return Err(self.err("Expecting value", i)),
        }
        let int_end = j;
        if self.at(j) == Some(b'.') && matches!(self.at(j + 1), Some(b'0'..=b'9')) {
            j = digits(j + 1);
        }
        if matches!(self.at(j), Some(b'e' | b'E')) {
            let k = if matches!(self.at(j + 1), Some(b'+' | b'-')) {
                j + 2
            } else {
                j + 1
            };
            if matches!(self.at(k), Some(b'0'..=b'9')) {
                j = digits(k);
            }
        }
        let text = &self.text[i..j];
        if j == int_end {
            return Ok((int_value(text), j));
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok((Json::Float(f), j)),
            _ => Err(self.non_finite(i)),
        }
    }

    /// A string whose opening quote is at `i`; returns it and the index past the closing quote.
    fn string(&self, i: usize) -> Result<(String, usize), BodyError> {
        let mut out = String::new();
        let mut j = i + 1;
        loop {
            let run = j;
            while let Some(b) = self.at(j) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                j += 1;
            }
            out.push_str(&self.text[run..j]);
            match self.at(j) {
                None => return Err(self.err("Unterminated string starting at", i)),
                Some(b'"') => return Ok((out, j + 1)),
                Some(b'\\') => {}
                Some(_) => return Err(self.err("Invalid control character at", j)),
            }
            let escaped = match self.at(j + 1) {
                None => return Err(self.err("Unterminated string starting at", i)),
                Some(b'u') => {
                    let (c, end) = self.unicode_escape(j + 1)?;
                    out.push(c);
                    j = end;
                    continue;
                }
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'/') => '/',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(_) => return Err(self.err("Invalid \\escape", j)),
            };
            out.push(escaped);
            j += 2;
        }
    }

    /// `uXXXX` at `u` (the `u`), joined with a following low surrogate escape; returns the
    /// character and the index past the escape(s). A lone surrogate, which Python keeps but
    /// Rust strings cannot hold, becomes U+FFFD.
    fn unicode_escape(&self, u: usize) -> Result<(char, usize), BodyError> {
        let hex4 = |at: usize| -> Option<u32> {
            let h = self.s.get(at + 1..at + 5)?;
            if !h.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
        };
        let bad = || self.err("Invalid \\uXXXX escape", u);
        let first = hex4(u).ok_or_else(bad)?;
        let end = u + 5;
        if (0xd800..=0xdbff).contains(&first) && self.starts(end, b"\\u") {
            let second =
                hex4(end + 1).ok_or_else(|| self.err("Invalid \\uXXXX escape", end + 1))?;
            if (0xdc00..=0xdfff).contains(&second) {
                let c = 0x10000 + (((first - 0xd800) << 10) | (second - 0xdc00));
                return Ok((char::from_u32(c).unwrap_or('\u{fffd}'), end + 6));
            }
        }
        Ok((char::from_u32(first).unwrap_or('\u{fffd}'), end))
    }

    fn object(&mut self, i: usize) -> Step {
        let mut map = IndexMap::new();
        let mut j = self.skip_ws(i);
        match self.at(j) {
            Some(b'}') => return Ok((Json::Dict(Box::new(map)), j + 1)),
            Some(b'"') => {}
            _ => return Err(self.err("Expecting property name enclosed in double quotes", j)),
        }
        loop {
            let (key, after_key) = self.string(j)?;
            j = self.skip_ws(after_key);
            if self.at(j) != Some(b':') {
                return Err(self.err("Expecting ':' delimiter", j));
            }
            j = self.skip_ws(j + 1);
            let (value, after_value) = self.value(j)?;
            map.insert(key, value);
            j = self.skip_ws(after_value);
            match self.at(j) {
                Some(b'}') => return Ok((Json::Dict(Box::new(map)), j + 1)),
                Some(b',') => {}
                _ => return Err(self.err("Expecting ',' delimiter", j)),
            }
            j = self.skip_ws(j + 1);
            if self.at(j) != Some(b'"') {
                return Err(self.err("Expecting property name enclosed in double quotes", j));
            }
        }
    }

    fn array(&mut self, i: usize) -> Step {
        let mut items = Vec::new();
        let mut j = self.skip_ws(i);
        if self.at(j) == Some(b']') {
            return Ok((Json::List(items), j + 1));
        }
        loop {
            let (value, after) = self.value(j)?;
            items.push(value);
            j = self.skip_ws(after);
            match self.at(j) {
                Some(b']') => return Ok((Json::List(items), j + 1)),
                Some(b',') => j = self.skip_ws(j + 1),
                _ => return Err(self.err("Expecting ',' delimiter", j)),
            }
        }
    }
}

/// An integer literal (`-?\d+`, no leading zeros) as Python's `int` holds it.
fn int_value(text: &str) -> Json {
    match text.parse::<i64>() {
        Ok(n) => Json::Int(n),
        Err(_) => Json::BigInt(text.to_owned()),
    }
}

impl Json {
    /// A string value.
    pub(crate) fn str(s: impl Into<String>) -> Self {
        Json::Str(s.into())
    }

    /// A dict from `(key, value)` pairs, in order.
    pub(crate) fn dict<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Self {
        Json::Dict(Box::new(
            pairs.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        ))
    }

    /// Writes the value as Python's `json.dumps(..., separators=(",", ":"),
    /// ensure_ascii=False)` does (Starlette's `JSONResponse`).
    pub(crate) fn write_python(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::BigInt(digits) => out.push_str(digits),
            Json::Float(f) => out.push_str(&python_float_repr(*f)),
            Json::Str(s) => write_str(s, out),
            Json::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_python(out);
                }
                out.push(']');
            }
            Json::Dict(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, out);
                    out.push(':');
                    v.write_python(out);
                }
                out.push('}');
            }
        }
    }

    /// The value as Python writes it.
    pub(crate) fn to_python_string(&self) -> String {
        let mut out = String::new();
        self.write_python(&mut out);
        out
    }

    /// The value for the store. Integers beyond `i64`/`u64` become the nearest float (the
    /// store's JSON numbers are 64-bit).
    pub(crate) fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(n) => Value::from(*n),
            Json::BigInt(digits) => match digits.parse::<u64>() {
                Ok(n) => Value::from(n),
                Err(_) => digits.parse::<f64>().map_or(Value::Null, Value::from),
            },
            Json::Float(f) => Value::from(*f),
            Json::Str(s) => Value::String(s.clone()),
            Json::List(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Dict(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())
            }
        }
    }
}

/// A JSON string as Python escapes it with `ensure_ascii=False`.
fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `repr(x)` of a finite Python float: the shortest digits that round-trip, in fixed notation
/// when the decimal exponent is in -4..16, else in scientific notation with a signed exponent
/// of at least two digits (`1e+16`, `1.5e-07`).
pub(crate) fn python_float_repr(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let sci = format!("{:e}", x.abs()); // shortest round-trip digits: "1.5e-7"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let decpt = exp + 1; // x = 0.DIGITS * 10^decpt
    let n = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let body = if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            format!("0.{}{digits}", "0".repeat(decpt.unsigned_abs() as usize))
        } else if decpt >= n {
            format!(
                "{digits}{}.0",
                "0".repeat((decpt - n).unsigned_abs() as usize)
            )
        } else {
            let (a, b) = digits.split_at(decpt.unsigned_abs() as usize);
            format!("{a}.{b}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{first}{dot}{rest}e{esign}{:02}", exp.unsigned_abs())
    };
    format!("{sign}{body}")
}

/// Decodes `bytes` as a request body is decoded ([`parse_cost`], then [`parse_body`]) and
/// checks what the server relies on; returns whether they decoded. For the fuzz targets
/// (`fuzz/`), not part of the API.
///
/// # Panics
///
/// When one of these does not hold for a body that decodes: the cost counted covers a node
/// for every value and key; the value written back as Python writes it decodes to the same
/// value; its stored form is JSON that `serde_json` reads back (stored records must reopen).
#[doc(hidden)]
pub fn fuzz_body(bytes: &[u8]) -> bool {
    fn nodes(v: &Json) -> usize {
        match v {
            Json::List(items) => 1 + items.iter().map(nodes).sum::<usize>(),
            Json::Dict(map) => 1 + map.values().map(|v| 1 + nodes(v)).sum::<usize>(),
            _ => 1,
        }
    }
    let cost = parse_cost(bytes);
    let Ok(value) = parse_body(bytes) else {
        return false;
    };
    let node = 3 * std::mem::size_of::<Json>() + std::mem::size_of::<serde_json::Value>() + 64;
    assert!(
        cost >= nodes(&value).saturating_mul(node),
        "parse_cost undercounts"
    );
    let written = value.to_python_string();
    assert_eq!(parse(&written).as_ref(), Ok(&value), "{written}");
    let stored = serde_json::to_string(&value.to_value()).expect("a value encodes");
    assert!(
        serde_json::from_str::<serde_json::Value>(&stored).is_ok(),
        "stored form unreadable: {stored}"
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case as Python 3.11's `json.loads` answers it (message and character position).
    #[test]
    fn errors_match_python() {
        let cases: &[(&str, &str, usize)] = &[
            ("", "Expecting value", 0),
            (" ", "Expecting value", 1),
            ("{", "Expecting property name enclosed in double quotes", 1),
            ("[", "Expecting value", 1),
            ("x", "Expecting value", 0),
            (
                "{bad",
                "Expecting property name enclosed in double quotes",
                1,
            ),
            ("{\"a\"", "Expecting ':' delimiter", 4),
            ("{\"a\" 1}", "Expecting ':' delimiter", 5),
            ("{\"a\":}", "Expecting value", 5),
            ("{\"a\":1", "Expecting ',' delimiter", 6),
            ("{\"a\":1 \"b\"}", "Expecting ',' delimiter", 7),
            (
                "{\"a\":1,}",
                "Expecting property name enclosed in double quotes",
                7,
            ),
            ("[1,]", "Expecting value", 3),
            ("[1 2]", "Expecting ',' delimiter", 3),
            ("[1", "Expecting ',' delimiter", 2),
            ("\"abc", "Unterminated string starting at", 0),
            ("\"a\\qb\"", "Invalid \\escape", 2),
            ("\"a\\u12\"", "Invalid \\uXXXX escape", 3),
            ("\"a\\u12G4\"", "Invalid \\uXXXX escape", 3),
            ("\"a\u{1}b\"", "Invalid control character at", 2),
            ("{\"a\":\"b\"} x", "Extra data", 10),
            ("01", "Extra data", 1),
            ("-", "Expecting value", 0),
            ("1.", "Extra data", 1),
            ("-01", "Extra data", 2),
            ("nul", "Expecting value", 0),
            ("[1,2", "Expecting ',' delimiter", 4),
            ("{\"a\":[1,{\"b\":}]}", "Expecting value", 13),
            ("\"a\\", "Unterminated string starting at", 0),
            ("{\"a\":1}}", "Extra data", 7),
            ("{\"é\":x}", "Expecting value", 5),
            ("[-]", "Expecting value", 1),
            (
                "{\"a\" : 1 , }",
                "Expecting property name enclosed in double quotes",
                11,
            ),
            ("{\"a\":1,\n\"b\"}", "Expecting ':' delimiter", 11),
            ("\"\\x41\"", "Invalid \\escape", 1),
        ];
        for (input, msg, pos) in cases {
            let got = parse(input).unwrap_err();
            assert_eq!(
                got,
                BodyError::Decode(DecodeError { msg, pos: *pos }),
                "{input:?}"
            );
        }
    }

    /// Every value is small (a dict is boxed), and the cost counted before parsing bounds
    /// what a parse of the densest bodies takes.
    #[test]
    fn values_are_small_and_their_cost_is_counted() {
        assert!(std::mem::size_of::<Json>() <= 32);
        let zeros = format!("[{}0]", "0,".repeat(1000));
        assert!(parse_cost(zeros.as_bytes()) >= 1001 * 3 * std::mem::size_of::<Json>());
        let strings = format!("[{}\"\"]", "\"\",".repeat(1000));
        assert!(parse_cost(strings.as_bytes()) > parse_cost(zeros.as_bytes()));
        // Escaped quotes do not end a string; what is inside a string is not counted.
        assert_eq!(parse_cost(br#""a\"[0,0]""#), parse_cost(br#""abcdefgh""#));
    }

    #[test]
    fn values_match_python() {
        let ok = |s: &str| parse(s).unwrap().to_python_string();
        assert_eq!(ok("[ ]"), "[]");
        assert_eq!(ok("{ }"), "{}");
        assert_eq!(ok("\t\n1\n\n"), "1");
        assert_eq!(ok("-0"), "0");
        assert_eq!(ok("-0.0"), "-0.0");
        assert_eq!(ok("0e0"), "0.0");
        assert_eq!(ok("1e5"), "100000.0");
        assert_eq!(ok("1.5e-7"), "1.5e-07");
        assert_eq!(ok("1e16"), "1e+16");
        assert_eq!(ok("1e15"), "1000000000000000.0");
        assert_eq!(ok("0.0001"), "0.0001");
        assert_eq!(ok("0.00001"), "1e-05");
        assert_eq!(ok("123.456"), "123.456");
        assert_eq!(
            ok("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
        assert_eq!(ok(r#"{"\ud83d\ude00":"\u00e9"}"#), r#"{"😀":"é"}"#);
        assert_eq!(ok(r#"{"a":1,"b":2,"a":3}"#), r#"{"a":3,"b":2}"#);
        assert_eq!(ok(r#""\u0001\n""#), r#""\u0001\n""#);
        assert!(parse_body(b"\xef\xbb\xbf{}").is_ok());
        assert_eq!(parse_body(b"{\"a\":\"\xff\"}"), Err(BodyError::Unreadable));
        assert_eq!(parse(&"[".repeat(10_000)), Err(BodyError::Unreadable));
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&deep(MAX_JSON_DEPTH)).is_ok());
        assert_eq!(parse(&deep(MAX_JSON_DEPTH + 1)), Err(BodyError::Unreadable));
        assert!(matches!(parse("NaN"), Err(BodyError::Decode(_))));
        assert!(matches!(parse("[1e999]"), Err(BodyError::Decode(_))));
    }
}

/// The same random documents, valid and almost valid, go to [`parse`] and to `serde_json`:
/// both must accept or both refuse, and what both accept must be the same value.
///
/// Where Python's `json` and `serde_json` differ by design, the test says so and compares
/// around it: a lone surrogate escape (`"\ud800"`), which Python keeps (here U+FFFD) and
/// `serde_json` refuses; `-0`, an integer 0 to Python, a float -0.0 to `serde_json`; and the
/// last bit of a float `serde_json` rounds differently (it is built without
/// `float_roundtrip`).
#[cfg(test)]
mod agrees_with_serde_json {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// A JSON value within the depth limit: strings with quotes, escapes, controls and
    /// non-ASCII text; integers of any `i64`; floats of few digits (exact in both).
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-999_999i64..999_999, -12i32..12)
                .prop_map(|(m, e)| Value::from(format!("{m}e{e}").parse::<f64>().unwrap())),
            "[a-z\"\\\\/\u{1}\n\t\u{e9}\u{1f600} ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("[a-z\"\\\\]{0,4}", inner), 0..5)
                    .prop_map(|kvs| Value::Object(kvs.into_iter().collect())),
            ]
        })
    }

    /// A change to a document that usually breaks it, sometimes subtly. Positions count
    /// characters, or (`Beside`, `Unmark`) the document's punctuation (`[]{},:"`), where most
    /// of the grammar's edge cases are: `[1,]`, `{"a" 1}`, `[,1]`.
    #[derive(Clone, Debug)]
    enum Edit {
        Insert(usize, char),
        Delete(usize),
        Replace(usize, char),
        Truncate(usize),
        /// Inserts a character just before (or after) punctuation mark `.0`.
        Beside(usize, bool, char),
        /// Deletes punctuation mark `.0`.
        Unmark(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let any_char = prop::sample::select(vec![
            ',', ':', '[', ']', '{', '}', '"', '\\', '0', '1', '-', '+', '.', 'e', 'E', 'u', 'n',
            't', ' ', '\n', '\u{1}', '\u{7f}', 'x',
        ]);
        let punctuation = prop::sample::select(vec![',', ':', '[', ']', '{', '}', '"', ' ']);
        prop_oneof![
            1 => (any::<usize>(), any_char.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
            1 => any::<usize>().prop_map(Edit::Delete),
            1 => (any::<usize>(), any_char).prop_map(|(i, c)| Edit::Replace(i, c)),
            1 => any::<usize>().prop_map(Edit::Truncate),
            3 => (any::<usize>(), any::<bool>(), punctuation)
                .prop_map(|(i, after, c)| Edit::Beside(i, after, c)),
            2 => any::<usize>().prop_map(Edit::Unmark),
        ]
    }

    fn apply(text: &str, edit: &Edit) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        let at = |i: usize, n: usize| if n == 0 { 0 } else { i % n };
        let marks: Vec<usize> = (0..chars.len())
            .filter(|&i| "[]{},:\"".contains(chars[i]))
            .collect();
        match *edit {
            Edit::Beside(k, after, c) if !marks.is_empty() => {
                let i = marks[k % marks.len()] + usize::from(after);
                chars.insert(i, c);
            }
            Edit::Unmark(k) if !marks.is_empty() => {
                chars.remove(marks[k % marks.len()]);
            }
            Edit::Insert(i, c) => chars.insert(at(i, chars.len() + 1), c),
            Edit::Delete(i) if !chars.is_empty() => {
                chars.remove(at(i, chars.len()));
            }
            Edit::Replace(i, c) if !chars.is_empty() => {
                let i = at(i, chars.len());
                chars[i] = c;
            }
            Edit::Truncate(i) => chars.truncate(at(i, chars.len() + 1)),
            Edit::Delete(_) | Edit::Replace(..) | Edit::Beside(..) | Edit::Unmark(_) => {}
        }
        chars.into_iter().collect()
    }

    /// Whether `text` holds a `\uD800`-`\uDFFF` escape, which Python and `serde_json` read
    /// differently (a paired one decodes alike, but an edit may unpair it).
    fn has_surrogate_escape(text: &str) -> bool {
        text.match_indices("\\u").any(|(i, _)| {
            text.get(i + 2..i + 6)
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .is_some_and(|n| (0xd800..=0xdfff).contains(&n))
        })
    }

    /// Equal values, but for the sign and kind of a zero and the last bits of a float.
    fn same(ours: &Value, theirs: &Value) -> bool {
        match (ours, theirs) {
            (Value::Number(a), Value::Number(b)) => {
                if a == b {
                    return true;
                }
                let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
                    return false;
                };
                let zero = x == 0.0 && y == 0.0;
                let float = a.is_f64() && b.is_f64();
                zero || (float && (x - y).abs() <= x.abs().max(y.abs()) * 4.0 * f64::EPSILON)
            }
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
            }
            (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|((k, x), (l, y))| k == l && same(x, y))
            }
            (a, b) => a == b,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn both_accept_and_refuse_alike_with_equal_values(
            doc in value(),
            pretty: bool,
            edits in prop::collection::vec(edit(), 0..3),
        ) {
            let text = if pretty {
                serde_json::to_string_pretty(&doc).unwrap()
            } else {
                serde_json::to_string(&doc).unwrap()
            };
            let text = edits.iter().fold(text, |t, e| apply(&t, e));
            prop_assume!(!has_surrogate_escape(&text));
            let ours = parse(&text);
            let theirs = serde_json::from_str::<Value>(&text);
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => {
                    let a = a.to_value();
                    prop_assert!(same(&a, b), "{text:?}: ours {a}, serde_json {b}");
                }
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "{text:?}: ours {ours:?}, serde_json {theirs:?}"),
            }
            if edits.is_empty() {
                prop_assert!(ours.is_ok(), "a valid document was refused: {text:?}");
            }
        }
    }
}

//! Request validation as the reference does it: pydantic 2 in lax mode, as `FastAPI` calls it.
//!
//! Each type below checks and converts one input the way pydantic does (`"5"` is an integer,
//! `"yes"` a boolean), and each failure is one `FastAPI` error entry with pydantic's `type`,
//! `msg`, `input` and `ctx`. A model reports its fields in declaration order, every failing
//! field once, and ignores fields it does not declare.

use serde_json::{Map, Value};

use super::json::{python_float_repr, Json};

/// One step of an error's `loc`: a field name or a position.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Loc {
    Key(String),
    Index(usize),
}

impl From<&str> for Loc {
    fn from(s: &str) -> Self {
        Loc::Key(s.to_owned())
    }
}

/// The error entries of one request, in the order `FastAPI` reports them.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub Vec<Json>);

impl Errors {
    /// Adds an entry `{type, loc, msg, input[, ctx]}`.
    pub(crate) fn push(
        &mut self,
        kind: &str,
        loc: &[Loc],
        msg: impl Into<String>,
        input: Json,
        ctx: Option<Json>,
    ) {
        let loc = Json::List(
            loc.iter()
                .map(|l| match l {
                    Loc::Key(k) => Json::str(k.as_str()),
                    Loc::Index(i) => Json::Int(i64::try_from(*i).unwrap_or(i64::MAX)),
                })
                .collect(),
        );
        let mut entry = vec![
            ("type", Json::str(kind)),
            ("loc", loc),
            ("msg", Json::Str(msg.into())),
            ("input", input),
        ];
        if let Some(ctx) = ctx {
            entry.push(("ctx", ctx));
        }
        self.0.push(Json::dict(entry));
    }

    /// A required parameter or field that is absent; `input` is what contained it.
    pub(crate) fn missing(&mut self, loc: &[Loc], input: Json) {
        self.push("missing", loc, "Field required", input, None);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A field's type, with pydantic's constraints.
#[derive(Debug)]
pub(crate) enum Ty {
    Str,
    Int {
        ge: Option<i64>,
        le: Option<i64>,
    },
    Float {
        gt: Option<f64>,
        lt: Option<f64>,
    },
    Bool,
    Dict,
    /// A string enum: the values, in declaration order.
    Enum(&'static [&'static str]),
    Model(&'static [Field]),
    /// `T | None`: `null` is accepted and kept.
    Optional(&'static Ty),
}

/// A model field: its name, type and default.
#[derive(Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub default: IfAbsent,
}

/// What an absent field becomes: its default, or an error.
#[derive(Debug)]
pub(crate) enum IfAbsent {
    /// Absent is an error.
    Required,
    /// `None`.
    Null,
    /// A value made on demand.
    Value(fn() -> Value),
}

const MODEL_ATTRIBUTES: &str =
    "Input should be a valid dictionary or object to extract fields from";

/// Validates `input` against `ty`; failures go to `errors` under `loc`.
pub(crate) fn validate(
    ty: &Ty,
    input: &Json,
    loc: &mut Vec<Loc>,
    errors: &mut Errors,
) -> Option<Value> {
    match ty {
        Ty::Optional(inner) => match input {
            Json::Null => Some(Value::Null),
            other => validate(inner, other, loc, errors),
        },
        Ty::Str => match input {
            Json::Str(s) => Some(Value::String(s.clone())),
            other => fail(
                errors,
                loc,
                "string_type",
                "Input should be a valid string",
                other,
                None,
            ),
        },
        Ty::Int { ge, le } => validate_int(input, *ge, *le, loc, errors).map(|n| {
            match (input, i64::try_from(n)) {
                (Json::Int(_) | Json::Bool(_) | Json::Float(_) | Json::Str(_), Ok(n)) => {
                    Value::from(n)
                }
                // Beyond i64: the nearest float (the store's numbers are 64-bit).
                (Json::BigInt(_), _) => input.to_value(),
                #[allow(clippy::cast_precision_loss)]
                _ => Value::from(n as f64),
            }
        }),
        Ty::Float { gt, lt } => validate_float(input, *gt, *lt, loc, errors).map(Value::from),
        Ty::Bool => validate_bool(input, loc, errors).map(Value::Bool),
        Ty::Dict => match input {
            Json::Dict(_) => Some(input.to_value()),
            other => fail(
                errors,
                loc,
                "dict_type",
                "Input should be a valid dictionary",
                other,
                None,
            ),
        },
        Ty::Enum(values) => match input {
            Json::Str(s) if values.contains(&s.as_str()) => Some(Value::String(s.clone())),
            other => {
                let expected = enum_expected(values);
                let ctx = Json::dict([("expected", Json::str(expected.as_str()))]);
                fail(
                    errors,
                    loc,
                    "enum",
                    format!("Input should be {expected}"),
                    other,
                    Some(ctx),
                )
            }
        },
        Ty::Model(fields) => validate_model(fields, input, loc, errors).map(Value::Object),
    }
}

/// Validates a model: a dict whose declared fields are validated in order.
pub(crate) fn validate_model(
    fields: &[Field],
    input: &Json,
    loc: &mut Vec<Loc>,
    errors: &mut Errors,
) -> Option<Map<String, Value>> {
    let Json::Dict(map) = input else {
        return fail(
            errors,
            loc,
            "model_attributes_type",
            MODEL_ATTRIBUTES,
            input,
            None,
        );
    };
    let mut out = Map::new();
    let mut ok = true;
    for field in fields {
        loc.push(Loc::from(field.name));
        let value = match (map.get(field.name), &field.default) {
            (Some(v), _) => validate(&field.ty, v, loc, errors),
            (None, IfAbsent::Required) => {
                errors.missing(loc, input.clone());
                None
            }
            (None, IfAbsent::Null) => Some(Value::Null),
            (None, IfAbsent::Value(make)) => Some(make()),
        };
        loc.pop();
        match value {
            Some(v) => {
                out.insert(field.name.to_owned(), v);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn fail<T>(
    errors: &mut Errors,
    loc: &[Loc],
    kind: &str,
    msg: impl Into<String>,
    input: &Json,
    ctx: Option<Json>,
) -> Option<T> {
    errors.push(kind, loc, msg, input.clone(), ctx);
    None
}

/// pydantic's list of an enum's values: `'a', 'b' or 'c'`.
fn enum_expected(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// An integer in lax mode: integers, booleans, floats without a fraction, and strings of
/// digits (`" +1_000 "`, `"5.00"`).
pub(crate) fn validate_int(
    input: &Json,
    ge: Option<i64>,
    le: Option<i64>,
    loc: &[Loc],
    errors: &mut Errors,
) -> Option<i128> {
    const PARSING: &str = "Input should be a valid integer, unable to parse string as an integer";
    let n: i128 = match input {
        Json::Int(n) => i128::from(*n),
        Json::Bool(b) => i128::from(*b),
        Json::BigInt(digits) => {
            // Beyond i64: only a bound can refuse it; keep its sign.
            if digits.starts_with('-') {
                i128::MIN
            } else {
                i128::MAX
            }
        }
        // pydantic's `float_as_int`: whole floats within `i64` only (strictly: `2**63` as a
        // float is out); beyond, `int_parsing_size`, rather than a number changed in silence.
        #[allow(clippy::cast_precision_loss)]
        Json::Float(f) if f.fract() == 0.0 && !((i64::MIN as f64) < *f && *f < i64::MAX as f64) => {
            let msg = "Unable to parse input string as an integer, exceeded maximum size";
            return fail(errors, loc, "int_parsing_size", msg, input, None);
        }
        Json::Float(f) if f.fract() == 0.0 => float_to_i128(*f),
        Json::Float(_) => {
            let msg = "Input should be a valid integer, got a number with a fractional part";
            return fail(errors, loc, "int_from_float", msg, input, None);
        }
        Json::Str(s) => match parse_int_str(s) {
            Some(n) => n,
            None => return fail(errors, loc, "int_parsing", PARSING, input, None),
        },
        _ => {
            return fail(
                errors,
                loc,
                "int_type",
                "Input should be a valid integer",
                input,
                None,
            )
        }
    };
    if let Some(le) = le.filter(|&le| n > i128::from(le)) {
        let ctx = Json::dict([("le", Json::Int(le))]);
        let msg = format!("Input should be less than or equal to {le}");
        return fail(errors, loc, "less_than_equal", msg, input, Some(ctx));
    }
    if let Some(ge) = ge.filter(|&ge| n < i128::from(ge)) {
        let ctx = Json::dict([("ge", Json::Int(ge))]);
        let msg = format!("Input should be greater than or equal to {ge}");
        return fail(errors, loc, "greater_than_equal", msg, input, Some(ctx));
    }
    Some(n)
}

#[allow(clippy::cast_possible_truncation)] // saturating, and only for whole floats
fn float_to_i128(f: f64) -> i128 {
    f as i128
}

/// pydantic's string-to-integer rule: surrounding whitespace, a sign, digits with single
/// underscores between them, and an optional `.0…` tail.
fn parse_int_str(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, t) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let t = match t.split_once('.') {
        Some((int, zeros)) if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') => int,
        Some(_) => return None,
        None => t,
    };
    let digits = strip_underscores(t)?;
    let magnitude: i128 = if digits.len() > 38 {
        i128::MAX // beyond any bound this crate checks
    } else {
        digits.parse().ok()?
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// `1_000` → `1000`; `None` unless `s` is digits with single underscores between them.
fn strip_underscores(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() || !b[b.len() - 1].is_ascii_digit() {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' => out.push(char::from(c)),
            b'_' if b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit() => {}
            _ => return None,
        }
    }
    Some(out)
}

/// A float in lax mode: numbers, booleans and numeric strings (`" .5"`, `"1_0.5"`, `"inf"`).
/// Bounds are checked as pydantic does, `lt` before `gt`, and `NaN` fails them.
fn validate_float(
    input: &Json,
    gt: Option<f64>,
    lt: Option<f64>,
    loc: &[Loc],
    errors: &mut Errors,
) -> Option<f64> {
    let x = match input {
        Json::Float(f) => *f,
        #[allow(clippy::cast_precision_loss)] // Python's float(int) rounds the same way
        Json::Int(n) => *n as f64,
        Json::BigInt(digits) => digits.parse().unwrap_or(f64::INFINITY),
        Json::Bool(b) => f64::from(u8::from(*b)),
        Json::Str(s) => {
            let Some(x) = parse_float_str(s) else {
                let msg = "Input should be a valid number, unable to parse string as a number";
                return fail(errors, loc, "float_parsing", msg, input, None);
            };
            x
        }
        _ => {
            return fail(
                errors,
                loc,
                "float_type",
                "Input should be a valid number",
                input,
                None,
            )
        }
    };
    // As pydantic: a bound fails unless the comparison holds, so NaN fails.
    let holds = |o: Option<std::cmp::Ordering>, want| o == Some(want);
    if let Some(lt) = lt.filter(|&lt| !holds(x.partial_cmp(&lt), std::cmp::Ordering::Less)) {
        let ctx = Json::dict([("lt", Json::Float(lt))]);
        let msg = format!("Input should be less than {}", bound_display(lt));
        return fail(errors, loc, "less_than", msg, input, Some(ctx));
    }
    if let Some(gt) = gt.filter(|&gt| !holds(x.partial_cmp(&gt), std::cmp::Ordering::Greater)) {
        let ctx = Json::dict([("gt", Json::Float(gt))]);
        let msg = format!("Input should be greater than {}", bound_display(gt));
        return fail(errors, loc, "greater_than", msg, input, Some(ctx));
    }
    // Stored values must be JSON numbers; an infinite one can only pass an unbounded field.
    x.is_finite().then_some(x).or_else(|| {
        let msg = "Input should be a finite number";
        fail(errors, loc, "finite_number", msg, input, None)
    })
}

/// A bound as pydantic writes it in a message: `0`, `0.9`.
fn bound_display(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        python_float_repr(x)
    }
}

fn parse_float_str(s: &str) -> Option<f64> {
    let t = s.trim();
    let cleaned: String = if t.contains('_') {
        let b = t.as_bytes();
        let ok = b.iter().enumerate().all(|(i, &c)| {
            c != b'_'
                || (i > 0
                    && i + 1 < b.len()
                    && b[i - 1].is_ascii_digit()
                    && b[i + 1].is_ascii_digit())
        });
        if !ok {
            return None;
        }
        t.replace('_', "")
    } else {
        t.to_owned()
    };
    cleaned.parse().ok()
}

/// A boolean in lax mode: booleans, `0`/`1`, and `true`/`yes`/`on`/`t`/`y`/`1` (and their
/// opposites) in any case.
fn validate_bool(input: &Json, loc: &[Loc], errors: &mut Errors) -> Option<bool> {
    const PARSING: &str = "Input should be a valid boolean, unable to interpret input";
    match input {
        Json::Bool(b) => Some(*b),
        Json::Int(0) => Some(false),
        Json::Int(1) => Some(true),
        Json::Int(_) | Json::BigInt(_) => fail(errors, loc, "bool_parsing", PARSING, input, None),
        Json::Float(f) if f.to_bits() == 0f64.to_bits() || f.to_bits() == (-0f64).to_bits() => {
            Some(false)
        }
        Json::Float(f) if f.to_bits() == 1f64.to_bits() => Some(true),
        Json::Str(s) => match s.to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            _ => fail(errors, loc, "bool_parsing", PARSING, input, None),
        },
        _ => fail(
            errors,
            loc,
            "bool_type",
            "Input should be a valid boolean",
            input,
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::needless_pass_by_value)] // reads better at the call sites
    fn one(ty: &Ty, input: Json) -> Result<Value, String> {
        let mut errors = Errors::default();
        validate(ty, &input, &mut Vec::new(), &mut errors)
            .ok_or_else(|| Json::List(errors.0).to_python_string())
    }

    /// Each case as pydantic 2.14 answers it (probed with the reference's own venv).
    #[test]
    fn ints_as_pydantic() {
        let limit = Ty::Int {
            ge: Some(1),
            le: Some(200),
        };
        for (s, n) in [
            ("5", 5),
            (" 5 ", 5),
            ("5.0", 5),
            ("+5", 5),
            ("5.00", 5),
            ("00012", 12),
            ("\t7\n", 7),
        ] {
            assert_eq!(one(&limit, Json::str(s)).unwrap(), Value::from(n), "{s}");
        }
        assert_eq!(one(&limit, Json::Bool(true)).unwrap(), Value::from(1));
        assert_eq!(one(&limit, Json::Float(5.0)).unwrap(), Value::from(5));
        for s in [
            "0x10", "1e2", "", "5.5", "5.", "_5", "5_", "1__0", "5 0", "\u{663}",
        ] {
            assert!(
                one(&limit, Json::str(s))
                    .unwrap_err()
                    .contains("\"int_parsing\""),
                "{s}"
            );
        }
        assert!(one(&limit, Json::str("-0"))
            .unwrap_err()
            .contains("greater_than_equal"));
        assert!(one(&limit, Json::str("1_000"))
            .unwrap_err()
            .contains("less_than_equal"));
        assert!(one(&limit, Json::str("99999999999999999999999"))
            .unwrap_err()
            .contains("less_than_equal"));
        assert!(one(&limit, Json::Float(5.5))
            .unwrap_err()
            .contains("int_from_float"));
        assert!(one(&limit, Json::Null).unwrap_err().contains("int_type"));
        // As pydantic 2.13: a whole float beyond i64 is refused, not changed.
        let any = Ty::Int { ge: None, le: None };
        assert_eq!(
            one(&any, Json::Float(1e308)).unwrap_err(),
            r#"[{"type":"int_parsing_size","loc":[],"msg":"Unable to parse input string as an integer, exceeded maximum size","input":1e+308}]"#
        );
        assert!(one(&any, Json::Float(1e19))
            .unwrap_err()
            .contains("int_parsing_size"));
        assert_eq!(
            one(&any, Json::Float(9.2e18)).unwrap(),
            Value::from(9_200_000_000_000_000_000_i64)
        );
    }

    #[test]
    fn floats_as_pydantic() {
        let ratio = Ty::Float {
            gt: Some(0.0),
            lt: Some(0.9),
        };
        for s in ["0.5", " 0.5 ", "1e-1", "0.5e0", ".5", " .5"] {
            assert!(one(&ratio, Json::str(s)).is_ok(), "{s}");
        }
        for s in ["inf", "nan", "Infinity", "5.", "1_0.5"] {
            assert!(
                one(&ratio, Json::str(s))
                    .unwrap_err()
                    .contains("\"less_than\""),
                "{s}"
            );
        }
        let err = one(&ratio, Json::str("-inf")).unwrap_err();
        assert_eq!(
            err,
            r#"[{"type":"greater_than","loc":[],"msg":"Input should be greater than 0","input":"-inf","ctx":{"gt":0.0}}]"#
        );
        assert!(one(&ratio, Json::str("0x1"))
            .unwrap_err()
            .contains("float_parsing"));
        assert!(one(&ratio, Json::Null).unwrap_err().contains("float_type"));
    }

    #[test]
    fn bools_as_pydantic() {
        for (s, b) in [
            ("true", true),
            ("True", true),
            ("yes", true),
            ("on", true),
            ("1", true),
            ("t", true),
            ("y", true),
            ("off", false),
            ("no", false),
            ("f", false),
            ("n", false),
            ("FALSE", false),
        ] {
            assert_eq!(one(&Ty::Bool, Json::str(s)).unwrap(), Value::Bool(b), "{s}");
        }
        assert!(one(&Ty::Bool, Json::str(" true"))
            .unwrap_err()
            .contains("bool_parsing"));
        assert!(one(&Ty::Bool, Json::Int(2))
            .unwrap_err()
            .contains("bool_parsing"));
        assert!(one(&Ty::Bool, Json::Float(0.5))
            .unwrap_err()
            .contains("bool_type"));
        assert_eq!(one(&Ty::Bool, Json::Float(1.0)).unwrap(), Value::Bool(true));
    }

    #[test]
    fn enum_message() {
        let mode = Ty::Enum(&["default", "accept_edits", "explore", "bypass", "dont_ask"]);
        assert_eq!(
            one(&mode, Json::str("root")).unwrap_err(),
            r#"[{"type":"enum","loc":[],"msg":"Input should be 'default', 'accept_edits', 'explore', 'bypass' or 'dont_ask'","input":"root","ctx":{"expected":"'default', 'accept_edits', 'explore', 'bypass' or 'dont_ask'"}}]"#
        );
    }
}

//! The state-save path (`append_context`, `replace_state`): its spliced JSON is the plain
//! encoding of the new record, byte for byte, on random records (both AgentScope shapes, both
//! timestamp formats, unknown fields named like the spliced ones, strings that need
//! escaping), and what it stores survives a reopen.

use std::path::Path;

#[path = "common/store_files.rs"]
mod store_files;
use std::sync::Arc;
use store_files::journals;

use agent_sessions::model::{ContentBlock, Msg, Role, SessionRecord, TimestampFormat};
use agent_sessions::{SessionStore, StoreError};
use proptest::prelude::*;
use serde_json::{json, Value};

fn fixture(dir: &str, name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Record templates: the 2.0.0 fixture's records and a 2.0.11 record, as the servers wrote them.
fn templates() -> Vec<Value> {
    let mut out: Vec<Value> = fixture("agentscope-2.0.0", "records.json")
        .as_array()
        .unwrap()
        .clone();
    out.push(fixture("agentscope-2.0.11", "patch_rename.json"));
    out
}

/// Text that needs escaping or is not ASCII, now and then.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{0,12}",
        "[\"\\\\\n\t\u{0}\u{1f}é😀/<>]{0,6}",
        Just("]}],\"context\":[".to_owned()),
    ]
}

/// Unknown fields, some named like the fields the splice looks for.
fn extra() -> impl Strategy<Value = Vec<(String, Value)>> {
    let key = prop_oneof![
        Just("context".to_owned()),
        Just("state".to_owned()),
        Just("updated_at".to_owned()),
        Just("state\n".to_owned()),
        Just("x-extra".to_owned()),
    ];
    let value = prop_oneof![
        Just(json!([])),
        Just(json!(["[", {"context": []}])),
        Just(json!({"context": [1, 2], "updated_at": "x"})),
        Just(json!("2026-01-01T00:00:00")),
    ];
    prop::collection::vec((key, value), 0..3)
}

fn message(text: String, assistant: bool) -> Msg {
    let role = if assistant {
        Role::Assistant
    } else {
        Role::User
    };
    Msg::new("someone", role, vec![ContentBlock::text(text)])
}

#[derive(Debug, Clone)]
struct Case {
    template: usize,
    name: String,
    context: Vec<String>,
    record_extra: Vec<(String, Value)>,
    state_extra: Vec<(String, Value)>,
    naive: bool,
    appends: Vec<Vec<(String, bool)>>,
    /// An unknown field set in code under a known field's name (it is then written twice).
    forced: Option<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0usize..16,
        text(),
        prop::collection::vec(text(), 0..4),
        extra(),
        extra(),
        any::<bool>(),
        prop::collection::vec(prop::collection::vec((text(), any::<bool>()), 0..3), 1..4),
        prop::option::weighted(0.2, 0usize..4),
    )
        .prop_map(
            |(template, name, context, record_extra, state_extra, naive, appends, forced)| Case {
                template,
                name,
                context,
                record_extra,
                state_extra,
                naive,
                appends,
                forced,
            },
        )
}

/// The record a case starts from (parsed, so its unknown fields are kept as given).
fn record_of(case: &Case, templates: &[Value]) -> SessionRecord {
    let mut v = templates[case.template % templates.len()].clone();
    v["id"] = json!("s");
    v["user_id"] = json!("u");
    v["agent_id"] = json!("a");
    v["config"]["name"] = json!(case.name);
    let messages: Vec<Value> = case
        .context
        .iter()
        .map(|t| serde_json::to_value(message(t.clone(), false)).unwrap())
        .collect();
    v["state"]["context"] = Value::Array(messages);
    for (k, x) in &case.record_extra {
        if !v.as_object().unwrap().contains_key(k) {
            v[k] = x.clone();
        }
    }
    for (k, x) in &case.state_extra {
        if !v["state"].as_object().unwrap().contains_key(k) {
            v["state"][k] = x.clone();
        }
    }
    let mut record: SessionRecord = serde_json::from_value(v).unwrap();
    match case.forced {
        Some(0) => drop(record.extra.insert("updated_at".into(), json!("x"))),
        Some(1) => drop(record.extra.insert("state".into(), json!({"context": [1]}))),
        Some(2) => drop(record.state.extra.insert("context".into(), json!([]))),
        Some(_) => drop(record.state.extra.insert("context".into(), json!([2]))),
        None => {}
    }
    record
}

/// The stored JSON is the record's plain encoding, and a read gives the record.
fn assert_stored_plainly(store: &SessionStore, record: &SessionRecord) {
    let json = store.get_json("u", "a", "s").unwrap();
    let plain = serde_json::to_vec(record).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&json),
        String::from_utf8_lossy(&plain)
    );
    assert_eq!(&*store.get("u", "a", "s").unwrap(), record);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn appends_store_what_the_plain_update_would(case in case()) {
        let templates = templates();
        let format = if case.naive { TimestampFormat::Naive } else { TimestampFormat::Rfc3339 };
        let fast = SessionStore::builder().timestamp_format(format).build();
        let plain = SessionStore::builder().timestamp_format(format).build();
        let record = record_of(&case, &templates);
        fast.insert(record.clone()).unwrap();
        plain.insert(record).unwrap();
        for batch in &case.appends {
            let msgs: Vec<Msg> = batch.iter().map(|(t, a)| message(t.clone(), *a)).collect();
            let before = fast.get("u", "a", "s").unwrap();
            let got = fast.append_context("u", "a", "s", msgs.clone()).unwrap();
            assert_stored_plainly(&fast, &got.record);
            // The same change made the plain way: the same record but for `updated_at`.
            let expected = plain
                .update("u", "a", "s", |r| {
                    r.state.context.extend(msgs.iter().cloned().map(Arc::new));
                    r.updated_at = got.record.updated_at;
                })
                .unwrap();
            let mut want = SessionRecord::clone(&expected);
            want.updated_at = got.record.updated_at;
            prop_assert_eq!(&*got.record, &want);
            prop_assert!(got.record.updated_at >= before.updated_at);
            prop_assert_eq!(got.record.state.context.len(), before.state.context.len() + batch.len());
        }
        // Another kind of write after the splices still encodes plainly.
        let renamed = fast.update("u", "a", "s", |r| r.config.name.push('!')).unwrap();
        assert_stored_plainly(&fast, &renamed);
        let state = renamed.state.clone();
        let replaced = fast.replace_state("u", "a", "s", state).unwrap();
        assert_stored_plainly(&fast, &replaced.record);
        let again = fast.append_context("u", "a", "s", [message("last".into(), true)]).unwrap();
        assert_stored_plainly(&fast, &again.record);
    }
}

#[test]
fn appends_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(dir.path()).unwrap();
    let case = Case {
        template: 0,
        name: "n".into(),
        context: vec!["a".into()],
        record_extra: vec![],
        state_extra: vec![],
        naive: false,
        appends: vec![],
        forced: None,
    };
    store.insert(record_of(&case, &templates())).unwrap();
    store
        .append_context("u", "a", "s", [message("b".into(), false)])
        .unwrap();
    let last = store
        .append_context("u", "a", "s", [message("c\"\n".into(), true)])
        .unwrap();
    let json = store.get_json("u", "a", "s").unwrap();
    drop(store);
    let reopened = SessionStore::open(dir.path()).unwrap();
    assert_eq!(reopened.get_versioned("u", "a", "s").unwrap(), last);
    assert_eq!(reopened.get_json("u", "a", "s").unwrap(), json);
    reopened.snapshot().unwrap();
    drop(reopened);
    let again = SessionStore::open(dir.path()).unwrap();
    assert_eq!(again.get("u", "a", "s").unwrap(), last.record);
}

#[test]
fn a_refused_append_changes_nothing() {
    let store = SessionStore::builder().max_record_bytes(4096).build();
    let case = Case {
        template: 0,
        name: "n".into(),
        context: vec![],
        record_extra: vec![],
        state_extra: vec![],
        naive: false,
        appends: vec![],
        forced: None,
    };
    let mut record = record_of(&case, &templates());
    record.config.chat_model_config = None;
    store.insert(record).unwrap();
    let before = store.get_versioned("u", "a", "s").unwrap();
    let big = message("x".repeat(8192), false);
    let err = store.append_context("u", "a", "s", [big]).unwrap_err();
    assert!(matches!(err, StoreError::RecordTooLarge { .. }), "{err}");
    // A message nested past the depth limit where it would sit (three levels in the record).
    let mut deep = json!("x");
    for _ in 0..98 {
        deep = json!([deep]);
    }
    let mut msg = message("d".into(), false);
    msg.metadata = serde_json::from_value(json!({ "deep": deep })).unwrap();
    let err = store.append_context("u", "a", "s", [msg]).unwrap_err();
    assert!(matches!(err, StoreError::TooDeep { .. }), "{err}");
    assert_eq!(store.get_versioned("u", "a", "s").unwrap(), before);
    let missing = store.append_context("u", "a", "nope", [message("m".into(), false)]);
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}

/// Appends `line` to the last journal of `dir`, after its last complete line.
fn append_to_journal(dir: &Path, line: &str) {
    let journal = journals(dir).pop().unwrap();
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.truncate(bytes.iter().rposition(|&b| b == b'\n').unwrap() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    std::fs::write(&journal, &bytes).unwrap();
}

/// The lines of a journal file (its header included), without its zero padding.
fn lines_of(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.trim_end_matches('\0')
        .lines()
        .map(str::to_owned)
        .collect()
}

fn big_case() -> Case {
    Case {
        template: 0,
        name: "the name".into(),
        context: (0..200).map(|i| format!("message {i}")).collect(),
        record_extra: vec![],
        state_extra: vec![],
        naive: false,
        appends: vec![],
        forced: None,
    }
}

#[test]
fn an_append_journals_its_messages_not_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(dir.path()).unwrap();
    store.insert(record_of(&big_case(), &templates())).unwrap();
    let before = store.get_versioned("u", "a", "s").unwrap();
    let after = store
        .append_context("u", "a", "s", [message("the new one".into(), true)])
        .unwrap();
    let record_bytes = store.get_json("u", "a", "s").unwrap().len();
    let lines = lines_of(journals(dir.path()).last().unwrap());
    let line = lines.last().unwrap();
    let op: Value = serde_json::from_str(line).unwrap();
    assert_eq!(op["op"], "ctx");
    assert_eq!(op["base"], before.version);
    assert_eq!(op["version"], after.version);
    assert_eq!(op["messages"].as_array().unwrap().len(), 1);
    assert!(
        line.len() < 1024 && record_bytes > 20 * 1024,
        "a {}-byte line for a {record_bytes}-byte record",
        line.len()
    );
    drop(store);
    let reopened = SessionStore::open(dir.path()).unwrap();
    assert_eq!(reopened.get_versioned("u", "a", "s").unwrap(), after);
    assert_eq!(
        reopened.get_json("u", "a", "s").unwrap(),
        serde_json::to_vec(&*after.record).unwrap()
    );
}

#[test]
fn an_append_already_in_the_snapshot_is_not_replayed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(dir.path()).unwrap();
    store.insert(record_of(&big_case(), &templates())).unwrap();
    store.snapshot().unwrap();
    let after = store
        .append_context("u", "a", "s", [message("once".into(), false)])
        .unwrap();
    let ctx = lines_of(journals(dir.path()).last().unwrap())
        .pop()
        .unwrap();
    // A snapshot that already holds the append, with its line still in the journal after
    // it: what a snapshot racing the append can leave.
    store.snapshot().unwrap();
    drop(store);
    append_to_journal(dir.path(), &ctx);

    let reopened = SessionStore::open(dir.path()).unwrap();
    assert_eq!(reopened.recovery().unwrap().journal_ops, 1);
    assert_eq!(reopened.get_versioned("u", "a", "s").unwrap(), after);
    drop(reopened);

    // A line that appends to a version the session never had is damage.
    let wrong = ctx.replace(
        &format!("\"base\":{}", after.version - 1),
        &format!("\"base\":{}", after.version + 5),
    );
    let wrong = wrong.replace(
        &format!("\"version\":{}", after.version),
        &format!("\"version\":{}", after.version + 6),
    );
    assert_ne!(wrong, ctx);
    append_to_journal(dir.path(), &wrong);
    let err = SessionStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("appends to version"), "{err}");
}

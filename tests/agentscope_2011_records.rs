//! AgentScope 2.0.11 records in the model and the store: read and written back unchanged (no
//! field added, none minted, none dropped, same order), through an in-memory store, a durable
//! store's snapshot, journal and reopen, and its lists; and 2.0.0 records converted as 2.0.11
//! converts them. The records are the real 2.0.11 server's (`tests/fixtures/agentscope-2.0.11/`).

use std::path::Path;

use agent_sessions::model::{SessionRecord, SessionSource, TimestampFormat};
use agent_sessions::{ListQuery, SessionStore};
use serde_json::{json, Value};

fn fixture(dir: &str, name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every distinct session record the 2.0.11 server answered, as it wrote them.
fn records_2011() -> Vec<Value> {
    let mut out = Vec::new();
    for list in [
        "list_sessions.json",
        "list_sessions_after_patch.json",
        "list_sessions_trimmed_awaiting.json",
    ] {
        for view in fixture("agentscope-2.0.11", list)["sessions"]
            .as_array()
            .unwrap()
        {
            out.push(view["session"].clone());
        }
    }
    for patch in ["patch_rename.json", "patch_permission_mode.json"] {
        out.push(fixture("agentscope-2.0.11", patch));
    }
    assert_eq!(out.len(), 8);
    out
}

/// A record of `value` with another id, so one store can hold all of them.
fn with_id(value: &Value, i: usize) -> (String, Value) {
    let mut v = value.clone();
    let id = format!("{}{i:02}", &v["id"].as_str().unwrap()[..30]);
    v["id"] = json!(id);
    (id, v)
}

/// `text` with every record timestamp (`created_at`, `updated_at` at the top) given a `Z`.
fn zulu(mut v: Value) -> Value {
    for key in ["created_at", "updated_at"] {
        let t = format!("{}Z", v[key].as_str().unwrap());
        v[key] = json!(t);
    }
    v
}

#[test]
fn a_2011_record_is_written_back_byte_for_byte() {
    for original in records_2011() {
        let text = serde_json::to_string(&original).unwrap();
        let mut rec: SessionRecord = serde_json::from_str(&text).unwrap();
        assert!(rec.is_agentscope_2_0_11());
        rec.timestamp_format = TimestampFormat::Naive;
        assert_eq!(serde_json::to_string(&rec).unwrap(), text);
        // The default format changes the two timestamps and nothing else.
        rec.timestamp_format = TimestampFormat::Rfc3339;
        let default = serde_json::to_string(&rec).unwrap();
        assert_eq!(default, serde_json::to_string(&zulu(original)).unwrap());
        assert!(!default.contains("\"source\"") && !default.contains("source_schedule_id"));
    }
}

#[test]
fn a_2011_record_reads_its_origin_and_reply_context_without_minting() {
    let v = records_2011().remove(0);
    let rec: SessionRecord = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(rec.source, SessionSource::User);
    assert_eq!(rec.source_schedule_id, None);
    assert_eq!(
        rec.state.reply_id,
        v["state"]["reply_context"]["reply_id"].as_str().unwrap()
    );
    // A reply_context without reply_id stays without one: nothing is minted.
    let mut bare = v.clone();
    bare["state"]["reply_context"] = json!({"cur_iter": 0});
    let rec: SessionRecord = serde_json::from_value(bare.clone()).unwrap();
    let out = serde_json::to_value(&rec).unwrap();
    assert_eq!(out["state"]["reply_context"], json!({"cur_iter": 0}));
    assert!(out["state"].get("reply_id").is_none());
    // A record lacking team_id is written without one.
    let mut no_team = v;
    no_team.as_object_mut().unwrap().remove("team_id");
    let rec: SessionRecord = serde_json::from_value(no_team).unwrap();
    assert!(serde_json::to_value(&rec).unwrap().get("team_id").is_none());
}

#[test]
fn a_change_to_reply_id_or_cur_iter_lands_in_reply_context() {
    let v = records_2011().remove(0);
    let mut rec: SessionRecord = serde_json::from_value(v).unwrap();
    rec.state.cur_iter = 7;
    rec.state.reply_id = "r-7".into();
    let out = serde_json::to_value(&rec).unwrap();
    assert_eq!(out["state"]["reply_context"]["cur_iter"], 7);
    assert_eq!(out["state"]["reply_context"]["reply_id"], "r-7");
    assert!(out["state"].get("cur_iter").is_none());
}

/// Stores every 2.0.11 record in `store` and checks each reads back as it went in, alone and
/// in a list, in the store's timestamp format.
fn check_store(store: &SessionStore, format: TimestampFormat) {
    for (i, original) in records_2011().iter().enumerate() {
        let (id, v) = with_id(original, i);
        let want = match format {
            TimestampFormat::Naive => v,
            TimestampFormat::Rfc3339 => zulu(v),
        };
        let got = store.get_json("user-1", want["agent_id"].as_str().unwrap(), &id);
        let got: Value = serde_json::from_slice(&got.expect("stored")).unwrap();
        assert_eq!(
            serde_json::to_string(&got).unwrap(),
            serde_json::to_string(&want).unwrap()
        );
    }
    let agent = records_2011()[0]["agent_id"].as_str().unwrap().to_owned();
    let list: Value = serde_json::from_slice(&store.list_json(&ListQuery::new("user-1", &agent)))
        .expect("a list");
    assert_eq!(list["total"], 8);
    for rec in list["sessions"].as_array().unwrap() {
        assert!(rec.get("origin").is_some() && rec.get("source").is_none());
        assert!(rec["state"].get("reply_id").is_none());
        let naive = !rec["created_at"].as_str().unwrap().ends_with('Z');
        assert_eq!(naive, format == TimestampFormat::Naive);
    }
}

fn fill(store: &SessionStore) {
    for (i, original) in records_2011().iter().enumerate() {
        let (_, v) = with_id(original, i);
        store
            .insert(serde_json::from_value(v).unwrap())
            .expect("insert");
    }
}

#[test]
fn a_2011_record_survives_the_in_memory_store_in_either_format() {
    for format in [TimestampFormat::Naive, TimestampFormat::Rfc3339] {
        let store = SessionStore::builder().timestamp_format(format).build();
        fill(&store);
        check_store(&store, format);
    }
}

#[test]
fn a_2011_record_survives_snapshot_journal_and_reopen() {
    for format in [TimestampFormat::Naive, TimestampFormat::Rfc3339] {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            SessionStore::builder()
                .timestamp_format(format)
                .autosave(None)
                .open(dir.path())
                .unwrap()
        };
        let store = open();
        fill(&store);
        store.snapshot().unwrap();
        store.close().unwrap();
        let store = open();
        check_store(&store, format);
        // A change journaled after the snapshot: replayed on reopen, in reply_context.
        let agent = records_2011()[0]["agent_id"].as_str().unwrap().to_owned();
        let (id, _) = with_id(&records_2011()[0], 0);
        let before = store.get("user-1", &agent, &id).unwrap();
        store
            .update("user-1", &agent, &id, |r| r.state.cur_iter += 1)
            .unwrap();
        store.close().unwrap();
        let store = open();
        let after = store.get("user-1", &agent, &id).unwrap();
        assert_eq!(after.state.cur_iter, 1);
        let (a, b) = (
            serde_json::to_value(&*after).unwrap(),
            serde_json::to_value(&*before).unwrap(),
        );
        assert_eq!(a["state"]["reply_context"]["cur_iter"], 1);
        assert!(a["state"].get("cur_iter").is_none());
        // Nothing else changed but updated_at.
        let mut a = a;
        a["state"]["reply_context"]["cur_iter"] = json!(0);
        a["updated_at"] = b["updated_at"].clone();
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        store.close().unwrap();
    }
}

#[test]
fn a_naive_store_reads_a_default_stores_files_and_writes_naive() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::builder()
        .autosave(None)
        .open(dir.path())
        .unwrap();
    fill(&store);
    store.snapshot().unwrap();
    store.close().unwrap();
    let store = SessionStore::builder()
        .timestamp_format(TimestampFormat::Naive)
        .autosave(None)
        .open(dir.path())
        .unwrap();
    check_store(&store, TimestampFormat::Naive);
    store.close().unwrap();
}

#[test]
fn a_2000_record_converts_as_2011_converts_it() {
    let records = fixture("agentscope-2.0.0", "records.json");
    let shape = records_2011().remove(0);
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    for old in records.as_array().unwrap() {
        let rec: SessionRecord = serde_json::from_value(old.clone()).unwrap();
        assert!(!rec.is_agentscope_2_0_11());
        let new = rec.to_agentscope_2_0_11();
        let v = serde_json::to_value(&new).unwrap();
        // 2.0.11's keys, in 2.0.11's order, at the top, in config and in state.
        assert_eq!(keys(&v), keys(&shape));
        assert_eq!(keys(&v["config"]), keys(&shape["config"]));
        assert_eq!(keys(&v["state"]), keys(&shape["state"]));
        assert_eq!(
            keys(&v["state"]["reply_context"]),
            keys(&shape["state"]["reply_context"])
        );
        // reply_id / cur_iter moved, not minted.
        assert_eq!(
            v["state"]["reply_context"]["reply_id"],
            old["state"]["reply_id"]
        );
        assert_eq!(
            v["state"]["reply_context"]["cur_iter"],
            old["state"]["cur_iter"]
        );
        assert_eq!(v["config"]["naming"], json!({"auto": false}));
        assert_eq!(v["team_id"], Value::Null);
        // source -> origin.
        let origin = match (old["source"].as_str(), old["source_schedule_id"].as_str()) {
            (Some("schedule"), Some(id)) if !id.is_empty() => {
                json!({"type": "schedule", "schedule_id": id})
            }
            (Some(kind @ ("user" | "team")), _) => json!({ "type": kind }),
            _ => json!({"type": "user"}),
        };
        assert_eq!(v["origin"], origin);
        // Everything else as it was.
        for key in ["id", "user_id", "agent_id", "created_at", "updated_at"] {
            assert_eq!(v[key], serde_json::to_value(&rec).unwrap()[key]);
        }
        for key in [
            "session_id",
            "summary",
            "context",
            "permission_context",
            "tool_context",
        ] {
            assert_eq!(v["state"][key], old["state"][key], "{key}");
        }
        // And the converted record is a 2.0.11 record: read back unchanged.
        let again: SessionRecord = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&again).unwrap(), v);
        assert_eq!(again.to_agentscope_2_0_11(), again);
    }
}

#[test]
fn legacy_sources_fold_as_2011_folds_them() {
    let base = json!({"user_id": "u", "agent_id": "a", "config": {"workspace_id": "w"}});
    let cases = [
        (
            json!({"source": "schedule", "source_schedule_id": "s-1"}),
            json!({"type": "schedule", "schedule_id": "s-1"}),
        ),
        (
            json!({"source": "schedule", "source_schedule_id": null}),
            json!({"type": "user"}),
        ),
        (json!({"source": "team"}), json!({"type": "team"})),
        (json!({"source": "mystery"}), json!({"type": "user"})),
        (json!({}), json!({"type": "user"})),
        (
            json!({"source": "channel", "source_channel_id": "c", "source_chat_id": "t", "source_chat_name": "n"}),
            json!({"type": "channel", "channel_id": "c", "chat_id": "t", "chat_name": "n", "channel_user_id": null}),
        ),
    ];
    for (fields, origin) in cases {
        let mut v = base.clone();
        for (k, x) in fields.as_object().unwrap() {
            v[k] = x.clone();
        }
        let rec: SessionRecord = serde_json::from_value(v).unwrap();
        let out = serde_json::to_value(rec.to_agentscope_2_0_11()).unwrap();
        assert_eq!(out["origin"], origin);
        for legacy in [
            "source",
            "source_schedule_id",
            "source_channel_id",
            "source_chat_id",
        ] {
            assert!(out.get(legacy).is_none(), "{legacy}");
        }
    }
}

#[test]
fn a_2011_record_with_messages_in_its_context_is_written_back_byte_for_byte() {
    let mut v = records_2011().remove(0);
    let messages = fixture("agentscope-2.0.11", "messages_after_inject.json");
    v["state"]["context"] = messages["messages"].clone();
    v["state"]["summary"] = json!([{"type": "text", "text": "so far", "id": "t1"}]);
    let text = serde_json::to_string(&v).unwrap();
    let mut rec: SessionRecord = serde_json::from_str(&text).unwrap();
    rec.timestamp_format = TimestampFormat::Naive;
    assert_eq!(serde_json::to_string(&rec).unwrap(), text);
    assert_eq!(
        serde_json::to_string(&rec.to_agentscope_2_0_11()).unwrap(),
        text
    );
    let store = SessionStore::builder()
        .timestamp_format(TimestampFormat::Naive)
        .build();
    store.insert(rec).unwrap();
    let agent = v["agent_id"].as_str().unwrap();
    let json = store
        .get_json("user-1", agent, v["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(json).unwrap(), text);
}

//! The wire model against the fixtures captured from `agentscope==2.0.0`: every record
//! deserializes and serializes back to a value equal to its input.

use agent_sessions::model::{
    format_timestamp, parse_timestamp, ContentBlock, SessionRecord, SessionSource, TextOrBlocks,
};
use agent_sessions::ListSessionsResponse;
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/agentscope-2.0.0/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The input as this crate writes it: record timestamps as RFC 3339 UTC with `Z`.
fn normalise_record(mut v: Value) -> Value {
    for key in ["created_at", "updated_at"] {
        let s = v[key].as_str().unwrap();
        let t = parse_timestamp(s).unwrap_or_else(|| panic!("bad timestamp {s}"));
        v[key] = Value::String(format_timestamp(&t));
    }
    v
}

fn assert_round_trip(input: &Value) {
    let rec: SessionRecord = serde_json::from_value(input.clone()).unwrap();
    let out = serde_json::to_value(&rec).unwrap();
    assert_eq!(out, normalise_record(input.clone()));
    // And a second trip is the identity.
    let again: SessionRecord = serde_json::from_value(out.clone()).unwrap();
    assert_eq!(again, rec);
}

#[test]
fn every_fixture_record_round_trips() {
    let records = fixture("records.json");
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 8);
    for r in records {
        assert_round_trip(r);
    }
}

#[test]
fn the_list_answer_round_trips() {
    let input = fixture("list_user-1_agent-a.json");
    let resp: ListSessionsResponse = serde_json::from_value(input.clone()).unwrap();
    assert_eq!(resp.total, 5);
    assert_eq!(resp.sessions.len(), 5);
    let mut expected = input.clone();
    for s in expected["sessions"].as_array_mut().unwrap() {
        *s = normalise_record(s.take());
    }
    assert_eq!(serde_json::to_value(&resp).unwrap(), expected);
    let text = serde_json::to_string(&resp).unwrap();
    assert!(text.starts_with(r#"{"sessions":["#), "{text:.40}");
    assert!(text.ends_with(r#"],"total":5}"#));
}

#[test]
fn the_docs_example_round_trips() {
    let input = fixture("docs_example.json");
    let resp: ListSessionsResponse = serde_json::from_value(input.clone()).unwrap();
    let rec = &resp.sessions[0];
    // The docs' message has no `role`: it stays absent.
    assert!(rec.state.context[0].role.is_none());
    // Integers stay integers where the docs wrote integers.
    let out = serde_json::to_value(&resp).unwrap();
    assert_eq!(
        out["sessions"][0]["state"]["tool_context"]["max_cache_bytes"],
        json!(25000)
    );
    assert!(out["sessions"][0]["state"]["tool_context"]["max_cache_bytes"].is_u64());
    let mut expected = input;
    for s in expected["sessions"].as_array_mut().unwrap() {
        *s = normalise_record(s.take());
    }
    assert_eq!(out, expected);
}

#[test]
fn every_http_exchange_record_round_trips() {
    let exchanges = fixture("http_exchanges.json");
    let mut seen = 0;
    for ex in exchanges["exchanges"].as_array().unwrap() {
        let body = &ex["response"]["body"];
        if let Some(sessions) = body.get("sessions").and_then(Value::as_array) {
            for s in sessions {
                assert_round_trip(s);
                seen += 1;
            }
        } else if body.get("state").is_some() {
            assert_round_trip(body);
            seen += 1;
        }
    }
    assert!(seen >= 5, "only {seen} records in the recording");
}

#[test]
fn floats_stay_floats_and_integers_stay_integers() {
    let records = fixture("records.json");
    let rec: SessionRecord = serde_json::from_value(records[0].clone()).unwrap();
    let out = serde_json::to_string(&rec).unwrap();
    assert!(out.contains(r#""max_cache_bytes":25000.0"#), "{out}");
    assert!(out.contains(r#""updated_at":1764331959.123456"#), "{out}");
    assert!(out.contains(r#""max_cache_files":100,"#), "{out}");
    assert!(out.contains(r#""source_schedule_id":null"#), "{out}");
}

#[test]
fn fields_are_written_in_the_reference_order() {
    let records = fixture("records.json");
    let rec: SessionRecord = serde_json::from_value(records[0].clone()).unwrap();
    let out = serde_json::to_string(&rec).unwrap();
    let keys = [
        "\"id\"",
        "\"updated_at\"",
        "\"created_at\"",
        "\"user_id\"",
        "\"agent_id\"",
        "\"source\"",
        "\"source_schedule_id\"",
        "\"config\"",
        "\"state\"",
    ];
    let positions: Vec<usize> = keys.iter().map(|k| out.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

#[test]
fn unknown_fields_blocks_and_enum_values_survive_at_every_level() {
    let mut input = fixture("records.json")[2].clone();
    input["team_id"] = json!("team-7");
    input["source"] = json!("channel");
    input["config"]["color"] = json!("blue");
    input["config"]["chat_model_config"]["region"] = json!("eu");
    let state = &mut input["state"];
    state["reply_context"] = json!({"k": [1, 2.5, null]});
    state["middle_context"] = json!([]);
    state["permission_context"]["mode"] = json!("paranoid");
    state["permission_context"]["extra_flag"] = json!(true);
    state["permission_context"]["allow_rules"]["read_file"][0]["behavior"] = json!("maybe");
    state["permission_context"]["allow_rules"]["read_file"][0]["note"] = json!("n");
    state["permission_context"]["working_directories"]["/srv/project"]["added"] = json!(1);
    state["tool_context"]["ttl"] = json!(5);
    state["tool_context"]["read_file_cache"][0]["hash"] = json!("abc");
    state["tasks_context"]["tasks"][0]["state"] = json!("blocked");
    state["tasks_context"]["tasks"][0]["priority"] = json!(3);
    state["tasks_context"]["next"] = json!(9);
    let msg = &mut state["context"][1];
    msg["role"] = json!("tool");
    msg["channel"] = json!("slack");
    msg["usage"]["cache_tokens"] = json!(4);
    let content = msg["content"].as_array_mut().unwrap();
    content[0]["signature"] = json!("sig"); // thinking
    content[1]["call_id"] = json!("c-1"); // tool_call
    content[1]["state"] = json!("exploded");
    content[2]["state"] = json!("vanished"); // tool_result
    content[2]["output"][0]["extra"] = json!({"a": 1});
    content.push(json!({"type": "audio", "id": "a1", "seconds": 1.5, "nested": {"x": [1]}}));
    content.push(json!({"no_type": true}));
    content.push(
        json!({"type": "data", "id": "d", "source": {"type": "s3", "bucket": "b"}, "name": null}),
    );

    let rec: SessionRecord = serde_json::from_value(input.clone()).unwrap();
    assert_eq!(rec.source, SessionSource::Other("channel".into()));
    assert!(matches!(
        rec.state.context[1].content[5],
        ContentBlock::Unknown(_)
    ));
    assert_eq!(serde_json::to_value(&rec).unwrap(), normalise_record(input));
}

#[test]
fn summary_is_a_string_or_blocks() {
    let records = fixture("records.json");
    let kinds: Vec<bool> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let rec: SessionRecord = serde_json::from_value(r.clone()).unwrap();
            matches!(rec.state.summary, TextOrBlocks::Blocks(_))
        })
        .collect();
    assert!(kinds.contains(&true) && kinds.contains(&false));
}

#[test]
fn timestamps_accept_zulu_offsets_and_naive_and_write_zulu() {
    let base = fixture("records.json")[0].clone();
    for (input, expected) in [
        ("2026-11-28T10:12:39.573134", "2026-11-28T10:12:39.573134Z"),
        ("2026-11-28T10:12:39.573134Z", "2026-11-28T10:12:39.573134Z"),
        (
            "2026-11-28T12:12:39.573134+02:00",
            "2026-11-28T10:12:39.573134Z",
        ),
        ("2026-11-28T05:12:39-05:00", "2026-11-28T10:12:39Z"),
        ("2026-11-28T10:12:39", "2026-11-28T10:12:39Z"),
        ("2023-11-07T05:31:56Z", "2023-11-07T05:31:56Z"),
        (
            "2026-11-28T10:12:39.1234567Z",
            "2026-11-28T10:12:39.123456Z",
        ),
    ] {
        let mut v = base.clone();
        v["created_at"] = json!(input);
        let rec: SessionRecord = serde_json::from_value(v).unwrap();
        assert_eq!(
            serde_json::to_value(&rec).unwrap()["created_at"],
            expected,
            "{input}"
        );
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let base = fixture("records.json")[0].clone();
    let mut bad_time = base.clone();
    bad_time["created_at"] = json!("last tuesday");
    let err = serde_json::from_value::<SessionRecord>(bad_time).unwrap_err();
    assert!(err.to_string().contains("invalid timestamp"), "{err}");

    let mut bad_summary = base.clone();
    bad_summary["state"]["summary"] = json!(5);
    let err = serde_json::from_value::<SessionRecord>(bad_summary).unwrap_err();
    assert!(
        err.to_string().contains("string or a list of blocks"),
        "{err}"
    );

    let mut bad_block = base.clone();
    bad_block["state"]["summary"] = json!([{"type": "text"}]);
    let err = serde_json::from_value::<SessionRecord>(bad_block).unwrap_err();
    assert!(err.to_string().contains("`text`"), "{err}");

    let mut missing = base;
    missing.as_object_mut().unwrap().remove("user_id");
    let err = serde_json::from_value::<SessionRecord>(missing).unwrap_err();
    assert!(err.to_string().contains("user_id"), "{err}");
}

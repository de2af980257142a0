//! `agent-sessions serve --agentscope 2.0.11` against the real AgentScope 2.0.11 server: the
//! same requests to both, the answers compared (status and body; ids each side made are
//! matched where they first appear, timestamps and default names match any such value, but a
//! naive timestamp of theirs must be naive in ours; order and key order count).
//!
//! The differential test runs where `AGENT_SESSIONS_AGENTSCOPE_2011_URL` names the reference
//! (`scripts/agentscope-2011-diff.sh` starts one, runs this, and stops it); without it, it
//! prints a line and passes, unless `AGENT_SESSIONS_REQUIRE_REF=1` says it must run. The
//! binary's own flags are tested here without the reference.

#![cfg(feature = "server")]

mod common;

use std::collections::HashMap;

use common::binary::Binary;
use common::IdMap;
use serde_json::{json, Value};

/// One answer: status and body.
struct Reply {
    status: u16,
    body: Value,
}

fn call(base: &str, method: &str, path: &str, user: Option<&str>, body: Option<&Value>) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    if let Some(user) = user {
        req = req.header("x-user-id", user);
    }
    let bytes = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            serde_json::to_vec(b).unwrap()
        }
        None => Vec::new(),
    };
    let mut resp = agent.run(req.body(bytes).unwrap()).expect("a response");
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    Reply {
        status: resp.status().as_u16(),
        body: if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        },
    }
}

#[test]
fn the_binary_speaks_2011_with_its_flag_and_2000_without() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for (flags, is_2011) in [
        (vec!["--agentscope", "2.0.11", "--data-dir", data], true),
        (vec!["--data-dir", data], false),
        (
            vec!["--agentscope", "2.0.11", "--timestamps", "rfc3339"],
            true,
        ),
        (vec!["--timestamps", "naive"], false),
    ] {
        let bin = Binary::start(&flags);
        let agent = call(
            &bin.base,
            "POST",
            "/agent/",
            Some("u"),
            Some(&json!({"name": "a"})),
        );
        let agent = agent.body["agent_id"].as_str().unwrap().to_owned();
        let created = call(
            &bin.base,
            "POST",
            "/sessions/",
            Some("u"),
            Some(&json!({ "agent_id": agent })),
        );
        assert_eq!(created.status, 201);
        let list = call(
            &bin.base,
            "GET",
            &format!("/sessions/?agent_id={agent}"),
            Some("u"),
            None,
        );
        let first = &list.body["sessions"][0];
        assert_eq!(first.get("status").is_some(), is_2011, "{flags:?}: {first}");
        let record = if is_2011 { &first["session"] } else { first };
        assert_eq!(record.get("origin").is_some(), is_2011, "{flags:?}");
        let naive = !record["created_at"].as_str().unwrap().ends_with('Z');
        let want_naive = flags.contains(&"naive") || (is_2011 && !flags.contains(&"rfc3339"));
        assert_eq!(naive, want_naive, "{flags:?}");
        bin.terminate();
    }
}

/// One request of the differential run: method, path, body, and the name under which to keep
/// the id a create answers. `{agent}`, `{s1}`, `{s2}` stand for the ids each side made.
type Step = (
    &'static str,
    &'static str,
    Option<Value>,
    Option<&'static str>,
);

/// The differential run, in order.
#[rustfmt::skip]
fn script() -> Vec<Step> {
    let list = "/sessions/?agent_id={agent}";
    vec![
        ("POST", "/agent/", Some(json!({"name": "bot"})), Some("agent")),
        ("GET", list, None, None),
        ("POST", "/sessions/", Some(json!({"agent_id": "{agent}", "name": "first", "workspace_id": "ws-1"})), Some("s1")),
        ("POST", "/sessions/", Some(json!({"agent_id": "{agent}"})), Some("s2")),
        ("GET", list, None, None),
        ("PATCH", "/sessions/{s1}?agent_id={agent}", Some(json!({"name": "renamed"})), None),
        ("PATCH", "/sessions/{s1}?agent_id={agent}", Some(json!({"permission_mode": "explore"})), None),
        ("PATCH", "/sessions/{s2}?agent_id={agent}", Some(json!({"cwd": "sub/dir"})), None),
        ("PATCH", "/sessions/{s2}?agent_id={agent}", Some(json!({"cwd": null, "tts_model_config": null})), None),
        ("PATCH", "/sessions/{s2}?agent_id={agent}", Some(json!({"chat_model_config": null})), None),
        ("PATCH", "/sessions/{s2}?agent_id={agent}", Some(json!({"permission_mode": "nope"})), None),
        ("PATCH", "/sessions/nope?agent_id={agent}", Some(json!({"name": "x"})), None),
        ("GET", "/sessions/{s1}/messages?agent_id={agent}", None, None),
        ("GET", "/sessions/{s1}/messages?agent_id={agent}&limit=1", None, None),
        ("GET", "/sessions/{s1}/messages?agent_id={agent}&offset=3", None, None),
        ("GET", "/sessions/{s1}/messages?agent_id={agent}&before=nope", None, None),
        ("GET", "/sessions/{s1}/messages?agent_id={agent}&limit=0", None, None),
        ("GET", "/sessions/nope/messages?agent_id={agent}", None, None),
        ("GET", "/sessions/{s1}/status?agent_id={agent}", None, None),
        ("GET", "/sessions/nope/status?agent_id={agent}", None, None),
        ("GET", "/sessions/{s1}/status", None, None),
        ("GET", list, None, None),
        ("GET", "/sessions/?agent_id=nope", None, None),
        ("GET", "/sessions/", None, None),
        ("DELETE", "/sessions/{s2}?agent_id={agent}", None, None),
        ("DELETE", "/sessions/{s2}?agent_id={agent}", None, None),
        ("GET", list, None, None),
        ("GET", "/agent/", None, None),
        ("POST", "/agent/", Some(json!({"name": "tuned", "system_prompt": "p", "chat_config": {"react_config": {"max_iters": 3}}})), None),
        ("GET", "/agent/", None, None),
    ]
}

fn fill(text: &str, vars: &HashMap<&str, String>) -> String {
    let mut out = text.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

fn fill_value(v: &Value, vars: &HashMap<&str, String>) -> Value {
    match v {
        Value::String(s) => Value::String(fill(s, vars)),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), fill_value(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether the timestamps of `theirs` and `ours` are written alike (naive or with an offset).
fn same_timestamp_style(theirs: &Value, ours: &Value) -> bool {
    match (theirs, ours) {
        (Value::Object(t), Value::Object(o)) => t
            .iter()
            .all(|(k, tv)| o.get(k).is_none_or(|ov| same_timestamp_style(tv, ov))),
        (Value::Array(t), Value::Array(o)) => {
            t.iter().zip(o).all(|(tv, ov)| same_timestamp_style(tv, ov))
        }
        (Value::String(t), Value::String(o))
            if t.len() > 19 && agent_sessions::model::parse_timestamp(t).is_some() =>
        {
            t.ends_with('Z') == o.ends_with('Z')
        }
        _ => true,
    }
}

/// `body` with an `agents` list sorted by creation time. The reference lists a user's agents
/// in the order of a Redis set (`SMEMBERS`), which is no order at all; ours in registration
/// order. The same agents must be there, whatever the order.
fn agents_in_creation_order(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(agents) = body.get_mut("agents").and_then(Value::as_array_mut) {
        agents.sort_by_key(|a| first_created_at(a).unwrap_or_default());
    }
    body
}

/// The first `created_at` string found in `v`, depth first.
fn first_created_at(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => o
            .get("created_at")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| o.values().find_map(first_created_at)),
        Value::Array(a) => a.iter().find_map(first_created_at),
        _ => None,
    }
}

#[test]
fn the_real_2011_server_answers_alike() {
    let Ok(reference) = std::env::var("AGENT_SESSIONS_AGENTSCOPE_2011_URL") else {
        assert!(
            std::env::var("AGENT_SESSIONS_REQUIRE_REF").as_deref() != Ok("1"),
            "AGENT_SESSIONS_REQUIRE_REF=1 but AGENT_SESSIONS_AGENTSCOPE_2011_URL is not set"
        );
        println!("skipped: AGENT_SESSIONS_AGENTSCOPE_2011_URL is not set (scripts/agentscope-2011-diff.sh sets it)");
        return;
    };
    let ours = Binary::start(&["--agentscope", "2.0.11"]);
    // A user of this run's own, so an earlier run's data on the reference does not count.
    let user = format!("diff-{}", agent_sessions::model::new_id());
    let (mut theirs_vars, mut ours_vars) = (HashMap::new(), HashMap::new());
    let mut ids = IdMap::default();
    let mut failures = Vec::new();
    let steps = script();
    for (i, (method, path, body, keep)) in steps.iter().enumerate() {
        let user = Some(user.as_str());
        let t = call(
            &reference,
            method,
            &fill(path, &theirs_vars),
            user,
            body.as_ref().map(|b| fill_value(b, &theirs_vars)).as_ref(),
        );
        let o = call(
            &ours.base,
            method,
            &fill(path, &ours_vars),
            user,
            body.as_ref().map(|b| fill_value(b, &ours_vars)).as_ref(),
        );
        if let Some(name) = keep {
            let id = |r: &Reply| {
                let v = &r.body;
                v["session_id"]
                    .as_str()
                    .or(v["agent_id"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            theirs_vars.insert(*name, id(&t));
            ours_vars.insert(*name, id(&o));
        }
        let what = format!("#{i} {method} {path}");
        if t.status != o.status {
            failures.push(format!(
                "{what}: status {} != theirs {}: {}",
                o.status, t.status, o.body
            ));
            continue;
        }
        let (t_body, o_body) = (
            agents_in_creation_order(&t.body),
            agents_in_creation_order(&o.body),
        );
        if let Err(e) = ids.compare("body", &t_body, &o_body) {
            failures.push(format!("{what}: {e}"));
        } else if !same_timestamp_style(&t_body, &o_body) {
            failures.push(format!("{what}: timestamps written otherwise"));
        }
        // Keep creation times distinct so the newest-first order cannot fall to a tie-break.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    ours.terminate();
    assert!(
        failures.is_empty(),
        "{} of {} requests answered otherwise:\n{}",
        failures.len(),
        steps.len(),
        failures.join("\n")
    );
    println!("{} requests answered alike", steps.len());
}

//! Replays the conversation recorded from the real AgentScope 2.0.11 server
//! (`tests/fixtures/agentscope-2.0.11/http_exchanges.json`), in order, through a server in
//! 2.0.11 mode, and compares every answer: status, content type, and body (ids the reference
//! generated are mapped to ours where they first appear; timestamps and default names match
//! any such value, but a naive timestamp of theirs must be naive in ours too; order and key
//! order count). The same conversation also runs on a durable store that is reopened half
//! way, and a server in the default (2.0.0) mode is checked to answer none of it in 2.0.11's
//! shape.

#![cfg(feature = "server")]

mod common;

use std::path::Path;

use agent_sessions::server::{self, AgentScope, Options};
use agent_sessions::SessionStore;
use axum::body::Body;
use axum::http::Request;
use common::{send, Answer, IdMap};
use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/agentscope-2.0.11";

/// The recorded server's address: requests carry it as `Host`.
const RECORDED_HOST: &str = "127.0.0.1:8751";

fn recording() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURES)
        .join("http_exchanges.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn router_2011(backend: impl server::IntoBackend) -> axum::Router {
    server::router_with(backend, &Options::default().agentscope(AgentScope::V2_0_11))
}

/// Replays the exchanges `range` of the recording on `app`; the failures, described.
async fn replay(app: &axum::Router, ids: &mut IdMap, range: std::ops::Range<usize>) -> Vec<String> {
    let recording = recording();
    let exchanges = recording["exchanges"].as_array().expect("exchanges");
    let mut failures = Vec::new();
    for i in range {
        let exchange = &exchanges[i];
        let req = &exchange["request"];
        let got = send(app, common::recorded_request(req, ids, RECORDED_HOST)).await;
        if let Err(e) = check(&exchange["response"], &got, false, ids) {
            let name = exchange["name"].as_str().unwrap_or("?");
            failures.push(format!("#{i} {name}: {e}"));
        }
        // Keep creation times distinct so the newest-first order cannot fall to a tie-break.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    failures
}

fn count() -> usize {
    recording()["exchanges"].as_array().unwrap().len()
}

#[tokio::test]
async fn every_recorded_2011_exchange_is_reproduced() {
    let app = router_2011(SessionStore::new());
    let mut ids = IdMap::default();
    let n = count();
    assert_eq!(n, 18);
    let failures = replay(&app, &mut ids, 0..n).await;
    assert!(
        failures.is_empty(),
        "{} of {n} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_2011_conversation_survives_a_reopen_half_way() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        SessionStore::builder()
            .autosave(None)
            .open(dir.path())
            .unwrap()
    };
    let mut ids = IdMap::default();
    let n = count();
    let store = open();
    let mut failures = replay(&router_2011(store.clone()), &mut ids, 0..7).await;
    store.close().unwrap();
    let store = open();
    failures.extend(replay(&router_2011(store.clone()), &mut ids, 7..n).await);
    store.close().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {n} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_default_mode_does_not_answer_in_2011_shape() {
    let app = server::router(SessionStore::new());
    let mut ids = IdMap::default();
    let failures = replay(&app, &mut ids, 0..5).await;
    // The list of two sessions (#4) is 2.0.0's, not 2.0.11's.
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].starts_with("#4 "), "{failures:?}");
}

/// Every timestamp string of `theirs` written naive (no offset) is naive in `ours` too, and
/// one with an offset has one in ours.
fn same_timestamp_style(path: &str, theirs: &Value, ours: &Value) -> Result<(), String> {
    match (theirs, ours) {
        (Value::Object(t), Value::Object(o)) => t.iter().try_for_each(|(k, tv)| {
            o.get(k).map_or(Ok(()), |ov| {
                same_timestamp_style(&format!("{path}.{k}"), tv, ov)
            })
        }),
        (Value::Array(t), Value::Array(o)) => t
            .iter()
            .zip(o)
            .enumerate()
            .try_for_each(|(i, (tv, ov))| same_timestamp_style(&format!("{path}[{i}]"), tv, ov)),
        (Value::String(t), Value::String(o))
            if agent_sessions::model::parse_timestamp(t).is_some() && t.len() > 19 =>
        {
            let naive = |s: &str| !(s.ends_with('Z') || s[19..].contains(['+', '-']));
            if naive(t) == naive(o) {
                Ok(())
            } else {
                Err(format!(
                    "{path}: timestamp {o:?} is not written as {t:?} is"
                ))
            }
        }
        _ => Ok(()),
    }
}

/// Compares our answer with the recorded one, as for 2.0.0, and also how its timestamps are
/// written (2.0.11 writes them naive).
fn check(want: &Value, got: &Answer, head: bool, ids: &mut IdMap) -> Result<(), String> {
    common::check_recorded(want, got, head, ids)?;
    match &want["body"] {
        Value::Null => Ok(()),
        _ if head => Ok(()),
        recorded => {
            let ours: Value = serde_json::from_slice(&got.body)
                .map_err(|e| format!("body is not JSON ({e}): {}", got.text()))?;
            same_timestamp_style("body", recorded, &ours)
        }
    }
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURES)
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header("x-user-id", "user-1")
        .body(Body::empty())
        .unwrap()
}

/// The captured messages (`messages_after_inject.json`) in a session: pages by `before` and
/// `limit` as 2.0.11 pages them (`messages_limit1.json`: the newest, `has_more`).
#[tokio::test]
async fn messages_page_backwards_from_before_as_2011_pages_them() {
    let store = SessionStore::new();
    let list = fixture("list_sessions_trimmed_awaiting.json");
    let record = list["sessions"][1]["session"].clone();
    let (agent, id) = (
        record["agent_id"].as_str().unwrap().to_owned(),
        record["id"].as_str().unwrap().to_owned(),
    );
    store
        .insert(serde_json::from_value(record).unwrap())
        .unwrap();
    let all = fixture("messages_after_inject.json");
    for m in all["messages"].as_array().unwrap() {
        let msg = serde_json::from_value(m.clone()).unwrap();
        store.append_message("user-1", &agent, &id, msg).unwrap();
    }
    let app = router_2011(store);
    let base = format!("/sessions/{id}/messages?agent_id={agent}");
    let mut ids = IdMap::default();
    let page = send(&app, get(&base)).await;
    ids.compare("all", &all, &page.json()).unwrap();
    let page = send(&app, get(&format!("{base}&limit=1"))).await;
    ids.compare("limit=1", &fixture("messages_limit1.json"), &page.json())
        .unwrap();
    // Before the newest: the one before it, and nothing older.
    let newest = all["messages"][1]["id"].as_str().unwrap();
    let page = send(&app, get(&format!("{base}&before={newest}")))
        .await
        .json();
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    assert_eq!(page["messages"][0]["id"], all["messages"][0]["id"]);
    assert_eq!(page["has_more"], false);
    let oldest = all["messages"][0]["id"].as_str().unwrap();
    let page = send(&app, get(&format!("{base}&before={oldest}")))
        .await
        .json();
    assert_eq!(page["messages"], serde_json::json!([]));
}

/// A session whose context ends on an assistant's tool call that asks for permission lists
/// as `awaiting_permission` (as `list_sessions_trimmed_awaiting.json`), its context, summary
/// and tool context emptied in the list but kept in the store; `/status` says the same.
#[tokio::test]
async fn a_parked_context_lists_as_awaiting_and_is_trimmed() {
    let store = SessionStore::new();
    let list = fixture("list_sessions_trimmed_awaiting.json");
    let mut parked = list["sessions"][0]["session"].clone();
    let call = |state: &str| {
        serde_json::json!({"role": "assistant", "name": "bot", "content": [
            {"type": "text", "text": "reading"},
            {"type": "tool_call", "id": "c1", "name": "read_file", "input": "{}", "state": state},
        ]})
    };
    parked["state"]["context"] = serde_json::json!([call("asking")]);
    parked["state"]["summary"] = serde_json::json!("long ago");
    parked["state"]["tool_context"]["activated_groups"] = serde_json::json!(["fs"]);
    let idle = list["sessions"][1]["session"].clone();
    let agent = idle["agent_id"].as_str().unwrap().to_owned();
    let parked_id = parked["id"].as_str().unwrap().to_owned();
    store.insert(serde_json::from_value(idle).unwrap()).unwrap();
    store
        .insert(serde_json::from_value(parked.clone()).unwrap())
        .unwrap();
    let app = router_2011(store.clone());
    let got = send(&app, get(&format!("/sessions/?agent_id={agent}")))
        .await
        .json();
    let mut ids = IdMap::default();
    ids.compare("list", &list, &got).unwrap();
    let status = send(
        &app,
        get(&format!("/sessions/{parked_id}/status?agent_id={agent}")),
    )
    .await;
    assert_eq!(status.json()["status"], "awaiting_permission");
    // Kept whole in the store.
    let kept = store.get("user-1", &agent, &parked_id).unwrap();
    assert_eq!(kept.state.context.len(), 1);
    assert_eq!(kept.state.tool_context.activated_groups, ["fs"]);
    // Submitted to an external executor: awaiting_external_result.
    store
        .update("user-1", &agent, &parked_id, |r| {
            r.state.context = vec![serde_json::from_value(call("submitted")).unwrap()];
        })
        .unwrap();
    let status = send(
        &app,
        get(&format!("/sessions/{parked_id}/status?agent_id={agent}")),
    )
    .await;
    assert_eq!(status.json()["status"], "awaiting_external_result");
}

/// The same on Redis and on a Redis Cluster (skipped with a printed line where none is
/// configured, outside CI).
#[cfg(feature = "redis")]
mod on_redis {
    use super::common::redis_env;
    use super::{count, fixture, replay, router_2011, IdMap};
    use agent_sessions::{SessionBackend, SessionRecord};

    async fn reproduced(backend: agent_sessions::redis::RedisBackend) {
        let mut ids = IdMap::default();
        let failures = replay(&router_2011(backend), &mut ids, 0..count()).await;
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[tokio::test]
    async fn every_recorded_2011_exchange_is_reproduced_on_redis() {
        if let Some(b) = redis_env::standalone().await {
            reproduced(b).await;
        }
    }

    #[tokio::test]
    async fn every_recorded_2011_exchange_is_reproduced_on_a_cluster() {
        if let Some(b) = redis_env::cluster().await {
            reproduced(b).await;
        }
    }

    /// A 2.0.11 record stored in Redis reads back unchanged (its timestamps with `Z`: the
    /// Redis backend writes the default format).
    #[tokio::test]
    async fn a_2011_record_survives_redis_unchanged() {
        let Some(b) = redis_env::standalone().await else {
            return;
        };
        let list = fixture("list_sessions_after_patch.json");
        for view in list["sessions"].as_array().unwrap() {
            let mut want = view["session"].clone();
            let rec: SessionRecord = serde_json::from_value(want.clone()).unwrap();
            let (user, agent, id) = (rec.user_id.clone(), rec.agent_id.clone(), rec.id.clone());
            b.insert(rec).await.unwrap();
            for key in ["created_at", "updated_at"] {
                want[key] = format!("{}Z", want[key].as_str().unwrap()).into();
            }
            let got = b
                .get_json(&user, &agent, &id)
                .await
                .unwrap()
                .expect("stored");
            assert_eq!(
                String::from_utf8(got).unwrap(),
                serde_json::to_string(&want).unwrap()
            );
            let listed = b
                .list(&agent_sessions::ListQuery::new(
                    user.as_str(),
                    agent.as_str(),
                ))
                .await
                .unwrap();
            assert!(listed.sessions.iter().all(|r| r.is_agentscope_2_0_11()));
        }
    }
}

//! The backend contract on a durable store (`SessionStore::open`), and after a reopen every
//! contract scenario's final state is what it was.

mod contract;

use std::collections::BTreeSet;

use agent_sessions::{ListSessionsResponse, SessionStore};
use tempfile::TempDir;

fn durable() -> (SessionStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::builder()
        .snapshot_shards(4)
        .autosave(None)
        .open(dir.path())
        .unwrap();
    (store, dir)
}

contract_tests!(async { Some(durable()) });

#[tokio::test]
async fn records_over_the_size_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 4096;
    let store = SessionStore::builder()
        .max_record_bytes(limit)
        .autosave(None)
        .open(dir.path())
        .unwrap();
    contract::records_over_the_size_limit_are_refused(&store, limit).await;
}

/// The store's whole state, sorted, to compare across a reopen: every session (found through
/// an export, so no scope is missed) with its version, record and message history, and the
/// agents registered by every user that has sessions or is in `agent_users`.
fn state(store: &SessionStore, agent_users: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.json");
    store.export_json(&file).unwrap();
    let all: ListSessionsResponse = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let mut users: BTreeSet<String> = agent_users.iter().map(|u| (*u).to_owned()).collect();
    let mut lines = Vec::new();
    for s in &all.sessions {
        let (u, a) = (s.user_id.as_str(), s.agent_id.as_str());
        users.insert(u.to_owned());
        let v = store.get_versioned(u, a, &s.id).unwrap();
        let history = store.messages(u, a, &s.id, 0, usize::MAX).unwrap();
        lines.push(format!(
            "session {} {} {}",
            v.version,
            serde_json::to_string(&*v.record).unwrap(),
            serde_json::to_string(&history).unwrap()
        ));
    }
    for u in users {
        let agents = serde_json::to_string(&store.agents(&u)).unwrap();
        lines.push(format!("agents {u:?} {agents}"));
    }
    lines.sort();
    lines
}

/// The contract scenarios checked across a reopen (all of them).
const SCENARIOS: usize = 19;

/// Runs contract scenario `i`.
async fn scenario(i: usize, store: &SessionStore) {
    match i {
        0 => contract::create_uses_agentscope_defaults(store).await,
        1 => contract::create_get_and_json(store).await,
        2 => contract::insert_keeps_the_record_and_refuses_duplicates(store).await,
        3 => contract::update_is_atomic_and_keeps_identity(store).await,
        4 => contract::compare_and_swap_refuses_stale_versions(store).await,
        5 => contract::delete_removes_and_reports_missing(store).await,
        6 => contract::delete_agent_and_delete_all_touch_only_their_scope(store).await,
        7 => contract::users_never_see_each_other(store).await,
        8 => contract::bad_input_is_refused_and_changes_nothing(store).await,
        9 => contract::find_session_prefers_the_named_agent(store).await,
        10 => contract::list_matches_the_reference_answer(store).await,
        11 => contract::list_orders_with_ties_broken_by_id(store).await,
        12 => contract::list_pages_by_limit_and_offset_with_total_before_paging(store).await,
        13 => contract::list_filters_count_only_matching(store).await,
        14 => contract::cursor_pages_stay_correct_under_inserts(store).await,
        15 => contract::unknown_scopes_list_empty(store).await,
        16 => contract::agents_register_list_update_and_unregister(store).await,
        17 => contract::messages_append_replace_and_page(store).await,
        18 => contract::state_save_appends_and_replaces(store).await,
        _ => unreachable!("scenario {i}"),
    }
}

#[tokio::test]
async fn contract_scenarios_survive_a_reopen() {
    // Users with agents but no session left: the agents scenario's.
    let agent_users = ["u"];
    for i in 0..SCENARIOS {
        for snapshot_midway in [false, true] {
            let (store, dir) = durable();
            if snapshot_midway {
                store
                    .create(agent_sessions::NewSession::new("pre", "z"))
                    .unwrap();
                store.snapshot().unwrap();
            }
            scenario(i, &store).await;
            let before = state(&store, &agent_users);
            let len = store.len();
            drop(store);
            let reopened = SessionStore::open(dir.path()).unwrap();
            assert_eq!(state(&reopened, &agent_users), before, "scenario {i}");
            assert_eq!(reopened.len(), len, "scenario {i}");
        }
    }
}

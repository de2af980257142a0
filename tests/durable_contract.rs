//! The backend contract on a durable store (`SessionStore::open`), and after a reopen every
//! contract scenario's final state is what it was.

mod contract;

use agent_sessions::{ListQuery, SessionStore};
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

contract_tests!(async { durable() });

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

/// Every session of the store, as JSON, sorted: the state to compare across a reopen.
fn state(store: &SessionStore, scopes: &[(&str, &str)]) -> Vec<String> {
    let mut all: Vec<String> = scopes
        .iter()
        .flat_map(|(u, a)| {
            store
                .list(&ListQuery::new(*u, *a))
                .sessions
                .iter()
                .map(|s| {
                    let v = store.get_versioned(u, a, &s.id).unwrap();
                    format!(
                        "{} {}",
                        v.version,
                        serde_json::to_string(&*v.record).unwrap()
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    all.sort();
    all
}

/// Runs contract scenario `i` of those checked across a reopen.
async fn scenario(i: usize, store: &SessionStore) {
    match i {
        0 => contract::insert_keeps_the_record_and_refuses_duplicates(store).await,
        1 => contract::list_filters_count_only_matching(store).await,
        2 => contract::cursor_pages_stay_correct_under_inserts(store).await,
        3 => contract::update_is_atomic_and_keeps_identity(store).await,
        4 => contract::compare_and_swap_refuses_stale_versions(store).await,
        5 => contract::delete_removes_and_reports_missing(store).await,
        6 => contract::delete_agent_and_delete_all_touch_only_their_scope(store).await,
        _ => contract::users_never_see_each_other(store).await,
    }
}

#[tokio::test]
async fn contract_scenarios_survive_a_reopen() {
    let scopes = [
        ("u", "a"),
        ("u", "b"),
        ("v", "a"),
        ("user-1", "agent-a"),
        ("user-1", "agent-b"),
        ("user-2", "agent-a"),
        ("user-9", "agent-a"),
        ("alice", "bot"),
        ("mallory", "bot"),
        ("pre", "z"),
    ];
    for i in 0..8 {
        for snapshot_midway in [false, true] {
            let (store, dir) = durable();
            if snapshot_midway {
                store
                    .create(agent_sessions::NewSession::new("pre", "z"))
                    .unwrap();
                store.snapshot().unwrap();
            }
            scenario(i, &store).await;
            let before = state(&store, &scopes);
            let len = store.len();
            drop(store);
            let reopened = SessionStore::open(dir.path()).unwrap();
            assert_eq!(state(&reopened, &scopes), before, "scenario {i}");
            assert_eq!(reopened.len(), len, "scenario {i}");
        }
    }
}

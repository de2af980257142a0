//! The first-page cache (a partition's newest sessions, ready-made) answers exactly what the
//! plain path answers: random writes (creates with tied timestamps, updates, appends,
//! deletes) interleaved with lists the cache serves, each compared with the same page asked
//! for in a way the cache does not serve (a filter every session matches).

use agent_sessions::model::{ContentBlock, Msg, Role, SessionRecord};
use agent_sessions::{ListQuery, SessionStore};
use proptest::prelude::*;
use serde_json::json;

#[derive(Clone, Debug)]
enum Op {
    /// Inserts session `id` created at second `at` (ties on purpose).
    Insert {
        id: u8,
        at: u8,
    },
    Rename {
        id: u8,
    },
    Append {
        id: u8,
    },
    Delete {
        id: u8,
    },
    /// Lists the newest `limit` (None: all).
    List {
        limit: Option<u8>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..40, 0u8..8).prop_map(|(id, at)| Op::Insert { id, at }),
        1 => (0u8..40).prop_map(|id| Op::Rename { id }),
        1 => (0u8..40).prop_map(|id| Op::Append { id }),
        1 => (0u8..40).prop_map(|id| Op::Delete { id }),
        3 => prop::option::of(0u8..30).prop_map(|limit| Op::List { limit }),
    ]
}

fn record(id: u8, at: u8) -> SessionRecord {
    serde_json::from_value(json!({
        "id": format!("s{id:02}"),
        "user_id": "u",
        "agent_id": "a",
        "created_at": format!("2026-01-01T00:00:0{at}Z"),
        "updated_at": format!("2026-01-01T00:00:0{at}Z"),
        "config": {"workspace_id": "w", "name": format!("n{id}")},
    }))
    .unwrap()
}

fn check_list(store: &SessionStore, limit: Option<u8>) {
    let mut cached = ListQuery::new("u", "a");
    let mut plain = ListQuery::new("u", "a").workspace_id("w");
    if let Some(l) = limit {
        cached = cached.limit(usize::from(l));
        plain = plain.limit(usize::from(l));
    }
    let a = store.list(&cached);
    let b = store.list(&plain);
    assert_eq!(a, b, "limit {limit:?}");
    let json = store.list_json(&cached);
    assert_eq!(json, serde_json::to_vec(&a).unwrap(), "limit {limit:?}");
    assert_eq!(json, store.list_json(&plain), "limit {limit:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn cached_pages_are_the_plain_pages(ops in prop::collection::vec(op(), 1..120)) {
        let store = SessionStore::new();
        for op in ops {
            let id = |i: u8| format!("s{i:02}");
            match op {
                Op::Insert { id, at } => drop(store.insert(record(id, at))),
                Op::Rename { id: i } => {
                    drop(store.update("u", "a", &id(i), |r| r.config.name.push('!')));
                }
                Op::Append { id: i } => {
                    let m = Msg::new("user", Role::User, vec![ContentBlock::text("hi")]);
                    drop(store.append_context("u", "a", &id(i), [m]));
                }
                Op::Delete { id: i } => drop(store.delete("u", "a", &id(i))),
                Op::List { limit } => check_list(&store, limit),
            }
        }
        for limit in [None, Some(0), Some(1), Some(19), Some(20), Some(21)] {
            check_list(&store, limit);
        }
    }
}

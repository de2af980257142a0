//! The in-memory `SessionStore` against the backend contract in `tests/contract/`.

mod contract;

use agent_sessions::SessionStore;

contract_tests!(async { Some(SessionStore::new()) });

#[tokio::test]
async fn records_over_the_size_limit_are_refused() {
    let limit = 4096;
    contract::records_over_the_size_limit_are_refused(
        &SessionStore::builder().max_record_bytes(limit).build(),
        limit,
    )
    .await;
}

#[test]
fn id_limit_is_configurable() {
    let store = SessionStore::builder().max_id_bytes(4).build();
    store
        .create(agent_sessions::NewSession::new("abcd", "a").id("s1"))
        .unwrap();
    let err = store
        .create(agent_sessions::NewSession::new("abcde", "a").id("s2"))
        .unwrap_err();
    assert!(matches!(
        err,
        agent_sessions::StoreError::IdTooLong {
            field: "user_id",
            len: 5,
            limit: 4
        }
    ));
}

#[test]
fn bad_cursors_are_typed_errors() {
    use agent_sessions::{Cursor, StoreError};
    for bad in [
        "", "x1.61", "c", "c1", "c1.", "cx.61", "c1.6", "c1.zz", "c1.ff", "é1.61", "c1.6é",
    ] {
        let err = bad.parse::<Cursor>().unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidCursor { .. }),
            "{bad}: {err}"
        );
    }
}

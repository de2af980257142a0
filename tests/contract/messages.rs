//! Message histories: appended, the last one replaced by a message of the same id, paged
//! from the start or back from the newest, and deleted with their session.

use agent_sessions::model::ContentBlock;
use agent_sessions::{NewSession, SessionBackend, StoreError};

use super::msg;

pub async fn messages_append_replace_and_page(b: &dyn SessionBackend) {
    let s = b
        .create(NewSession::new("u", "a").id("s:1{}"))
        .await
        .unwrap();
    let id = s.record.id.clone();
    assert!(matches!(
        b.append_message("u", "a", "nope", msg("x")).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        b.messages("u", "a", "nope", 0, 10).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        b.message_count("v", "a", &id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(b.messages("u", "a", &id, 0, 10).await.unwrap(), vec![]);
    let mut texts = Vec::new();
    for i in 0..5 {
        let m = msg(&format!("m{i}"));
        assert_eq!(b.append_message("u", "a", &id, m).await.unwrap(), i);
        texts.push(format!("m{i}"));
    }
    // The same id as the last one replaces it.
    let mut reply = msg("Hel");
    assert_eq!(
        b.append_message("u", "a", &id, reply.clone())
            .await
            .unwrap(),
        5
    );
    reply.content = vec![ContentBlock::text("Hello")];
    assert_eq!(
        b.append_message("u", "a", &id, reply.clone())
            .await
            .unwrap(),
        5
    );
    assert_eq!(b.message_count("u", "a", &id).await.unwrap(), 6);
    let all = b.messages("u", "a", &id, 0, usize::MAX).await.unwrap();
    assert_eq!(all.last().unwrap().text(), "Hello");
    assert_eq!(*all[5], reply);
    let page: Vec<String> = b
        .messages("u", "a", &id, 2, 2)
        .await
        .unwrap()
        .iter()
        .map(|m| m.text())
        .collect();
    assert_eq!(page, ["m2", "m3"]);
    assert!(b.messages("u", "a", &id, 2, 0).await.unwrap().is_empty());
    assert!(b.messages("u", "a", &id, 50, 5).await.unwrap().is_empty());
    let newest = b.messages_before("u", "a", &id, None, 2).await.unwrap();
    assert_eq!(
        (newest[0].text(), newest[1].text()),
        ("Hello".into(), "m4".into())
    );
    let older = b
        .messages_before("u", "a", &id, Some(&newest[1].id), 2)
        .await
        .unwrap();
    assert_eq!(
        (older[0].text(), older[1].text()),
        ("m3".into(), "m2".into())
    );
    let oldest = b
        .messages_before("u", "a", &id, Some(&all[0].id), 5)
        .await
        .unwrap();
    assert!(oldest.is_empty());
    let err = b
        .messages_before("u", "a", &id, Some("no-such"), 5)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCursor { .. }), "{err}");
    // Appending does not rewrite the record: its version is unchanged.
    assert_eq!(
        b.get("u", "a", &id).await.unwrap().unwrap().version,
        s.version
    );
    // Deleting the session deletes its history.
    b.delete("u", "a", &id).await.unwrap();
    b.create(NewSession::new("u", "a").id(id.clone()))
        .await
        .unwrap();
    assert_eq!(b.message_count("u", "a", &id).await.unwrap(), 0);
    assert!(b
        .messages_before("u", "a", &id, None, 5)
        .await
        .unwrap()
        .is_empty());
}

//! The agent registry: agents registered, listed, renamed and unregistered per user.

use std::sync::Arc;

use agent_sessions::model::AgentRecord;
use agent_sessions::{NewSession, SessionBackend, StoreError};

use super::{data, Check};

pub async fn agents_register_list_update_and_unregister(b: &dyn SessionBackend) {
    let a = b
        .register_agent(AgentRecord::new("u", data("one")))
        .await
        .unwrap();
    let two = b
        .register_agent(AgentRecord::new("u", data("two")))
        .await
        .unwrap();
    let three = b
        .register_agent(AgentRecord::new("u", data("three")))
        .await
        .unwrap();
    let names = |v: Vec<Arc<AgentRecord>>| -> Vec<String> {
        v.iter().map(|r| r.name().unwrap().to_owned()).collect()
    };
    assert_eq!(names(b.agents("u").await.unwrap()), ["one", "two", "three"]);
    let dup = b.register_agent(AgentRecord::clone(&a)).await.unwrap_err();
    assert!(matches!(dup, StoreError::DuplicateAgent { .. }), "{dup}");
    let renamed = b
        .update_agent("u", &a.id, &mut |d| {
            d.insert("name".into(), "uno".into());
        })
        .await
        .unwrap();
    assert_eq!(renamed.name(), Some("uno"));
    assert_eq!(renamed.created_at, a.created_at);
    assert_eq!(b.agent("u", &a.id).await.unwrap().unwrap(), renamed);
    assert!(b.agent("mallory", &a.id).await.unwrap().is_none());
    assert!(b.agents("mallory").await.unwrap().is_empty());

    b.create(NewSession::new("u", &two.id)).await.unwrap();
    assert!(b.agent_known("u", &two.id).await.unwrap());
    assert!(b.agent_known("u", &three.id).await.unwrap());
    b.create(NewSession::new("u", "unregistered"))
        .await
        .unwrap();
    assert!(b.agent_known("u", "unregistered").await.unwrap());
    assert!(!b.agent_known("u", "nobody").await.unwrap());
    assert!(!b.agent_known("mallory", &two.id).await.unwrap());
    assert_eq!(b.unregister_agent("u", &two.id).await.unwrap(), two);
    assert_eq!(Check(b).count("u", &two.id).await, 0);
    assert!(!b.agent_known("u", &two.id).await.unwrap());
    assert_eq!(names(b.agents("u").await.unwrap()), ["uno", "three"]);
    assert!(matches!(
        b.unregister_agent("u", &two.id).await,
        Err(StoreError::AgentNotFound { .. })
    ));
    assert!(matches!(
        b.update_agent("u", &two.id, &mut |_| {}).await,
        Err(StoreError::AgentNotFound { .. })
    ));
    // delete_all unregisters every agent.
    assert_eq!(b.delete_all("u").await.unwrap(), 1);
    assert!(b.agents("u").await.unwrap().is_empty());
    let again = b.register_agent(AgentRecord::clone(&a)).await.unwrap();
    assert_eq!(again.id, a.id);
}

//! Creates sessions for two users and two agents, pages through one user's list, and prints
//! the JSON answer exactly as AgentScope's `GET /sessions/` would.
//!
//! Run with `cargo run --release --example quickstart`.

use agent_sessions::{ListQuery, NewSession, Order, SessionStore, StoreError};

fn main() -> Result<(), StoreError> {
    let store = SessionStore::new();

    for user in ["user-1", "user-2"] {
        for agent in ["agent-a", "agent-b"] {
            for i in 1..=5 {
                store.create(
                    NewSession::new(user, agent)
                        .workspace_id("ws-1")
                        .name(format!("{user} / {agent} / chat {i}")),
                )?;
            }
        }
    }
    println!("stored {} sessions", store.len());

    // Page through user-1's sessions with agent-a, two at a time, newest first.
    let mut query = ListQuery::new("user-1", "agent-a").limit(2);
    let mut page_no = 1;
    loop {
        let page = store.list(&query);
        let names: Vec<&str> = page
            .sessions
            .iter()
            .map(|s| s.config.name.as_str())
            .collect();
        println!(
            "page {page_no} ({} of {} in all): {names:?}",
            names.len(),
            page.total
        );
        match query.next_page(&page) {
            Some(next) => query = next,
            None => break,
        }
        page_no += 1;
    }

    // Rename one, then list by most recently updated: it comes first.
    let oldest = store.list(
        &ListQuery::new("user-1", "agent-a")
            .order(Order::CreatedAsc)
            .limit(1),
    );
    let id = &oldest.sessions[0].id;
    store.update("user-1", "agent-a", id, |r| {
        r.config.name = "renamed".into();
    })?;
    let recent = store.list(
        &ListQuery::new("user-1", "agent-a")
            .order(Order::UpdatedDesc)
            .limit(1),
    );
    println!("most recently updated: {}", recent.sessions[0].config.name);

    // The JSON answer, byte for byte what `GET /sessions/?agent_id=agent-a` returns.
    let body = store.list_json(&ListQuery::new("user-1", "agent-a").limit(1));
    println!("{}", String::from_utf8_lossy(&body));
    Ok(())
}

//! Tenant isolation through every route: user B never sees, changes or deletes user A's
//! sessions, messages or agents, whatever ids B names. Run twice: with identity by header
//! (AgentScope's), and in JWT mode, where each user holds a valid token for itself only.

#![cfg(feature = "server")]

mod common;

use agent_sessions::model::{ContentBlock, Msg, Role};
use agent_sessions::server::{self, Identity, JwtAuth, Options};
use std::sync::Arc;

use agent_sessions::{NewSession, SessionBackend};
use axum::body::Body;
use axum::http::Request;
use common::{request, send};
use serde_json::{json, Value};

/// How requests name their user: the `x-user-id` header, or a token signed with this secret.
struct Caller {
    secret: Option<Vec<u8>>,
}

impl Caller {
    fn req(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        body: Option<&Value>,
    ) -> Request<Body> {
        let Some(secret) = &self.secret else {
            return request(method, path, user, body);
        };
        let mut r = request(method, path, None, body);
        if let Some(user) = user {
            let auth = format!("Bearer {}", common::jwt::hs256(secret, user));
            r.headers_mut()
                .insert("authorization", auth.parse().unwrap());
        }
        r
    }

    fn options(&self) -> Options {
        match &self.secret {
            Some(s) => {
                Options::default().identity(Identity::Jwt(JwtAuth::hs256_secret(s).unwrap().into()))
            }
            None => Options::default(),
        }
    }
}

/// What A holds: an agent, a session with a message, a seeded agent's session; and B's agent.
struct World {
    caller: Caller,
    store: Arc<dyn SessionBackend>,
    app: axum::Router,
    a_agent: String,
    s: String,
    seeded: String,
    b_agent: String,
}

async fn world(caller: Caller, store: Arc<dyn SessionBackend>) -> World {
    let app = server::router_with(Arc::clone(&store), &caller.options());

    // A: an agent, a session with a message, and an agent known only by its (seeded) session.
    let a_agent = send(
        &app,
        caller.req(
            "POST",
            "/agent/",
            Some("A"),
            Some(&json!({"name": "a-bot"})),
        ),
    )
    .await
    .json()["agent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = send(
        &app,
        caller.req(
            "POST",
            "/sessions/",
            Some("A"),
            Some(&json!({"agent_id": a_agent, "name": "mine"})),
        ),
    )
    .await;
    let s = created.json()["session_id"].as_str().unwrap().to_owned();
    let msg = Msg::new("user", Role::User, vec![ContentBlock::text("secret")]);
    store.append_message("A", &a_agent, &s, msg).await.unwrap();
    let seeded = store
        .create(NewSession::new("A", "seeded-agent").name("seeded"))
        .await
        .unwrap()
        .record;

    // B: an agent of its own, so that "B names its own agent" is tried too.
    let b_agent = send(
        &app,
        caller.req(
            "POST",
            "/agent/",
            Some("B"),
            Some(&json!({"name": "b-bot"})),
        ),
    )
    .await
    .json()["agent_id"]
        .as_str()
        .unwrap()
        .to_owned();

    World {
        caller,
        store,
        app,
        a_agent,
        s,
        seeded: seeded.id.clone(),
        b_agent,
    }
}

on_every_backend!(
    user_b_never_reaches_user_a,
    user_b_with_a_valid_token_never_reaches_user_a
);

async fn user_b_never_reaches_user_a(store: Arc<dyn SessionBackend>) {
    let w = world(Caller { secret: None }, store).await;
    sessions_routes_refuse_b(&w).await;
    registry_refuses_b(&w).await;
    a_is_untouched(&w).await;
}

async fn user_b_with_a_valid_token_never_reaches_user_a(store: Arc<dyn SessionBackend>) {
    let caller = Caller {
        secret: Some(common::jwt::random_secret()),
    };
    let w = world(caller, store).await;
    sessions_routes_refuse_b(&w).await;
    registry_refuses_b(&w).await;
    a_is_untouched(&w).await;
}

async fn sessions_routes_refuse_b(w: &World) {
    let World {
        caller,
        store,
        app,
        a_agent,
        s,
        seeded,
        b_agent,
    } = w;
    for agent in [a_agent.as_str(), b_agent.as_str(), "seeded-agent"] {
        let list = send(
            app,
            caller.req(
                "GET",
                &format!("/sessions/?agent_id={agent}"),
                Some("B"),
                None,
            ),
        )
        .await;
        if agent == b_agent {
            assert_eq!(list.json(), json!({"sessions": [], "total": 0}));
        } else {
            assert_eq!(list.status, 404, "list {agent}");
            assert_eq!(list.json()["detail"], format!("Agent '{agent}' not found."));
        }
        for (id, owner_agent) in [
            (s.as_str(), a_agent.as_str()),
            (seeded.as_str(), "seeded-agent"),
        ] {
            let q = format!("/sessions/{id}?agent_id={agent}");
            let patch = send(
                app,
                caller.req("PATCH", &q, Some("B"), Some(&json!({"name": "stolen"}))),
            )
            .await;
            assert_eq!(
                (patch.status.as_u16(), patch.json()["detail"].clone()),
                (404, json!(format!("Session '{id}' not found.")))
            );
            let msgs = send(
                app,
                caller.req(
                    "GET",
                    &format!("/sessions/{id}/messages?agent_id={agent}"),
                    Some("B"),
                    None,
                ),
            )
            .await;
            assert_eq!(msgs.status, 404);
            let delete = send(app, caller.req("DELETE", &q, Some("B"), None)).await;
            assert_eq!(delete.status, 404);
            assert!(store.get("A", owner_agent, id).await.unwrap().is_some());
        }
    }
    let create = send(
        app,
        caller.req(
            "POST",
            "/sessions/",
            Some("B"),
            Some(&json!({"agent_id": a_agent})),
        ),
    )
    .await;
    assert_eq!(create.status, 404);
    let create = send(
        app,
        caller.req(
            "POST",
            "/sessions/",
            Some("B"),
            Some(&json!({"agent_id": "seeded-agent"})),
        ),
    )
    .await;
    assert_eq!(create.status, 404);
}

async fn registry_refuses_b(w: &World) {
    let World {
        caller,
        app,
        a_agent,
        b_agent,
        ..
    } = w;
    let agents = send(app, caller.req("GET", "/agent/", Some("B"), None))
        .await
        .json();
    assert_eq!(agents["total"], 1);
    assert_eq!(agents["agents"][0]["id"], b_agent.as_str());
    for agent in [a_agent.as_str(), "seeded-agent"] {
        let patch = send(
            app,
            caller.req(
                "PATCH",
                &format!("/agent/{agent}"),
                Some("B"),
                Some(&json!({"name": "stolen"})),
            ),
        )
        .await;
        assert_eq!(patch.status, 404);
        let delete = send(
            app,
            caller.req("DELETE", &format!("/agent/{agent}"), Some("B"), None),
        )
        .await;
        assert_eq!(delete.status, 404);
    }
}

async fn a_is_untouched(w: &World) {
    let World {
        caller,
        store,
        app,
        a_agent,
        s,
        seeded,
        b_agent,
    } = w;
    let rec = store.get("A", a_agent, s).await.unwrap().unwrap().record;
    assert_eq!(rec.config.name, "mine");
    assert_eq!(store.message_count("A", a_agent, s).await.unwrap(), 1);
    let agent = store.agent("A", a_agent).await.unwrap().unwrap();
    assert_eq!(agent.name(), Some("a-bot"));
    let seeded_now = store
        .get("A", "seeded-agent", seeded)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seeded_now.record.config.name, "seeded");
    // Nothing was made for B or moved to it: B's scopes hold nothing, A's what it made.
    for agent in [a_agent.as_str(), "seeded-agent", b_agent.as_str()] {
        assert_eq!(store.count("B", agent).await.unwrap(), 0, "{agent}");
    }
    assert_eq!(store.count("A", a_agent).await.unwrap(), 1);
    assert_eq!(store.count("A", "seeded-agent").await.unwrap(), 1);

    // And A still reaches all of it.
    let list = send(
        app,
        caller.req(
            "GET",
            &format!("/sessions/?agent_id={a_agent}"),
            Some("A"),
            None,
        ),
    )
    .await
    .json();
    assert_eq!(list["total"], 1);
    let msgs = send(
        app,
        caller.req(
            "GET",
            &format!("/sessions/{s}/messages?agent_id={a_agent}"),
            Some("A"),
            None,
        ),
    )
    .await
    .json();
    assert_eq!(msgs["messages"][0]["content"][0]["text"], "secret");
    let delete = send(
        app,
        caller.req("DELETE", "/agent/seeded-agent", Some("A"), None),
    )
    .await;
    assert_eq!(delete.status, 204);
    assert_eq!(store.count("A", "seeded-agent").await.unwrap(), 0);
}

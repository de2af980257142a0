//! JWT mode (`Identity::Jwt`): every rule of token verification, with keys made in the test.
//! Header mode, the default, is unchanged (every other HTTP test runs in it).

#![cfg(feature = "server")]

mod common;

use std::time::Duration;

use agent_sessions::server::{self, Identity, JwtAuth, Options};
use agent_sessions::SessionStore;
use axum::body::Body;
use axum::http::Request;
use common::jwt::{self, b64url, claims, hs256, key_pair, now, random_secret, token};
use common::{send, Answer};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

fn app(auth: JwtAuth) -> (SessionStore, axum::Router) {
    let store = SessionStore::new();
    let options = Options::default().identity(Identity::Jwt(auth.into()));
    (store.clone(), server::router_with(store, &options))
}

/// A request with these headers (and a JSON body).
fn req(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    match body {
        Some(body) => b
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// 401, FastAPI-shaped, with a Bearer challenge.
fn assert_401(answer: &Answer, why: &str) {
    assert_eq!(answer.status, 401, "{why}: {}", answer.text());
    assert!(
        answer.json()["detail"].is_string(),
        "{why}: {}",
        answer.text()
    );
    let challenge = answer.headers.get("www-authenticate").expect("a challenge");
    assert!(challenge.to_str().unwrap().starts_with("Bearer"), "{why}");
}

async fn list_with(app: &axum::Router, auth: &str) -> Answer {
    send(app, req("GET", "/agent/", &[("authorization", auth)], None)).await
}

#[tokio::test]
async fn a_valid_token_acts_exactly_as_the_header_for_its_user() {
    let secret = random_secret();
    let (store, app) = app(JwtAuth::hs256_secret(&secret).unwrap());
    let auth = bearer(&hs256(&secret, "alice"));
    let made = send(
        &app,
        req(
            "POST",
            "/agent/",
            &[("authorization", &auth)],
            Some(&json!({"name": "bot"})),
        ),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text());
    let agent = made.json()["agent_id"].as_str().unwrap().to_owned();
    let created = send(
        &app,
        req(
            "POST",
            "/sessions/",
            &[("authorization", &auth)],
            Some(&json!({"agent_id": agent, "name": "one"})),
        ),
    )
    .await;
    assert_eq!(created.status, 201);
    // The same list the header would give that user, byte for byte, from a header-mode server
    // over the same store.
    let path = format!("/sessions/?agent_id={agent}");
    let by_token = send(&app, req("GET", &path, &[("authorization", &auth)], None)).await;
    let header_app = server::router(store.clone());
    let by_header = send(
        &header_app,
        req("GET", &path, &[("x-user-id", "alice")], None),
    )
    .await;
    assert_eq!(by_token.status, 200);
    assert_eq!(by_token.body, by_header.body);
    assert_eq!(store.count("alice", &agent), 1);
    // The same x-user-id beside the token is fine.
    let both = send(
        &app,
        req(
            "GET",
            &path,
            &[("authorization", &auth), ("x-user-id", "alice")],
            None,
        ),
    )
    .await;
    assert_eq!(both.body, by_header.body);
}

#[tokio::test]
async fn missing_and_malformed_tokens_answer_401() {
    let secret = random_secret();
    let (_, app) = app(JwtAuth::hs256_secret(&secret).unwrap());
    let none = send(&app, req("GET", "/agent/", &[("x-user-id", "alice")], None)).await;
    assert_401(&none, "no token, a header");
    assert_eq!(
        none.headers.get("www-authenticate").unwrap(),
        "Bearer",
        "a missing token gets the plain challenge"
    );
    for bad in [
        "Bearer",
        "Bearer ",
        "Basic YWxpY2U6cHc=",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer ....",
        "bearer eyJhbGciOiJIUzI1NiJ9.e30",
    ] {
        assert_401(&list_with(&app, bad).await, bad);
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_answer_401_within_a_leeway() {
    let secret = random_secret();
    let (_, app) = app(JwtAuth::hs256_secret(&secret)
        .unwrap()
        .leeway(Duration::from_secs(30)));
    let key = EncodingKey::from_secret(&secret).unwrap();
    let with = |claims: Value| bearer(&token(Algorithm::HS256, &key, None, &claims));
    let expired = with(json!({"sub": "alice", "exp": now() - 3600}));
    assert_401(&list_with(&app, &expired).await, "expired");
    let just_expired = with(json!({"sub": "alice", "exp": now() - 5}));
    assert_eq!(
        list_with(&app, &just_expired).await.status,
        200,
        "within the leeway"
    );
    let early = with(json!({"sub": "alice", "exp": now() + 7200, "nbf": now() + 3600}));
    assert_401(&list_with(&app, &early).await, "not yet valid");
    let no_exp = with(json!({"sub": "alice"}));
    assert_401(&list_with(&app, &no_exp).await, "no exp");
    let no_user = with(json!({"exp": now() + 60}));
    assert_401(&list_with(&app, &no_user).await, "no sub");
    let empty_user = with(json!({"sub": "", "exp": now() + 60}));
    assert_401(&list_with(&app, &empty_user).await, "empty sub");
    let number_user = with(json!({"sub": 7, "exp": now() + 60}));
    assert_401(&list_with(&app, &number_user).await, "a number as sub");
}

#[tokio::test]
async fn wrongly_signed_unsigned_and_algorithm_confused_tokens_answer_401() {
    let secret = random_secret();
    let (_, hs_app) = app(JwtAuth::hs256_secret(&secret).unwrap());
    let other = random_secret();
    assert_401(
        &list_with(&hs_app, &bearer(&hs256(&other, "alice"))).await,
        "another secret",
    );
    // A valid token with its payload swapped for another user's.
    let good = hs256(&secret, "alice");
    let parts: Vec<&str> = good.split('.').collect();
    let forged_payload = b64url(claims("mallory").to_string().as_bytes());
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    assert_401(
        &list_with(&hs_app, &bearer(&forged)).await,
        "a swapped payload",
    );
    // alg none, with and without a signature.
    let none_head = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64url(claims("alice").to_string().as_bytes());
    for t in [
        format!("{none_head}.{payload}."),
        format!("{none_head}.{payload}.{}", parts[2]),
    ] {
        assert_401(&list_with(&hs_app, &bearer(&t)).await, "alg none");
    }

    // Algorithm confusion: a server holding an RSA public key must not accept an HS256 token
    // signed with that public key's text as the HMAC secret.
    let pair = key_pair("rsa");
    let (_, rsa_app) = app(JwtAuth::public_key_pem(&pair.public_pem).unwrap());
    let confused = token(
        Algorithm::HS256,
        &EncodingKey::from_secret(&pair.public_pem).unwrap(),
        None,
        &claims("alice"),
    );
    assert_401(
        &list_with(&rsa_app, &bearer(&confused)).await,
        "HS256 with the public key",
    );
    let rs256 = token(
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(&pair.private_pem).unwrap(),
        None,
        &claims("alice"),
    );
    assert_eq!(
        list_with(&rsa_app, &bearer(&rs256)).await.status,
        200,
        "RS256"
    );
}

#[tokio::test]
async fn a_token_for_another_user_than_the_header_answers_403() {
    let secret = random_secret();
    let (store, app) = app(JwtAuth::hs256_secret(&secret).unwrap());
    let auth = bearer(&hs256(&secret, "mallory"));
    let answer = send(
        &app,
        req(
            "POST",
            "/agent/",
            &[("authorization", &auth), ("x-user-id", "alice")],
            Some(&json!({"name": "x"})),
        ),
    )
    .await;
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert!(answer.json()["detail"].is_string());
    assert!(store.agents("alice").is_empty() && store.agents("mallory").is_empty());
}

#[tokio::test]
async fn es256_rs256_and_jwks_keys_verify_and_unknown_kids_do_not() {
    let ec = key_pair("ec");
    let (_, app_ec) = app(JwtAuth::public_key_pem(&ec.public_pem).unwrap());
    let es256 = token(
        Algorithm::ES256,
        &EncodingKey::from_ec_pem(&ec.private_pem).unwrap(),
        None,
        &claims("alice"),
    );
    assert_eq!(
        list_with(&app_ec, &bearer(&es256)).await.status,
        200,
        "ES256"
    );

    let (k1, k2) = (key_pair("rsa"), key_pair("rsa"));
    let jwks = json!({"keys": [jwt::rsa_jwk(&k1, "k1"), jwt::rsa_jwk(&k2, "k2")]});
    let (_, app_jwks) = app(JwtAuth::jwks_json(jwks.to_string().as_bytes()).unwrap());
    let signed = |pair: &jwt::KeyPair, kid: Option<&str>| {
        bearer(&token(
            Algorithm::RS256,
            &EncodingKey::from_rsa_pem(&pair.private_pem).unwrap(),
            kid,
            &claims("alice"),
        ))
    };
    assert_eq!(
        list_with(&app_jwks, &signed(&k2, Some("k2"))).await.status,
        200
    );
    assert_eq!(
        list_with(&app_jwks, &signed(&k1, Some("k1"))).await.status,
        200
    );
    assert_401(
        &list_with(&app_jwks, &signed(&k1, Some("k2"))).await,
        "k1's token as k2",
    );
    assert_401(
        &list_with(&app_jwks, &signed(&k1, Some("k9"))).await,
        "an unknown kid",
    );
    assert_401(
        &list_with(&app_jwks, &signed(&k1, None)).await,
        "no kid, two keys",
    );
}

#[tokio::test]
async fn issuer_audience_and_user_claim_are_checked_as_configured() {
    let secret = random_secret();
    let auth = JwtAuth::hs256_secret(&secret)
        .unwrap()
        .issuer("https://issuer.test")
        .audience("agent-sessions")
        .user_claim("uid");
    let (store, app) = app(auth);
    let key = EncodingKey::from_secret(&secret).unwrap();
    let with = |c: Value| bearer(&token(Algorithm::HS256, &key, None, &c));
    let exp = now() + 600;
    let good = with(
        json!({"uid": "alice", "iss": "https://issuer.test", "aud": "agent-sessions", "exp": exp}),
    );
    assert_eq!(list_with(&app, &good).await.status, 200);
    for (why, c) in [
        (
            "another issuer",
            json!({"uid": "alice", "iss": "https://evil.test", "aud": "agent-sessions", "exp": exp}),
        ),
        (
            "no issuer",
            json!({"uid": "alice", "aud": "agent-sessions", "exp": exp}),
        ),
        (
            "another audience",
            json!({"uid": "alice", "iss": "https://issuer.test", "aud": "other", "exp": exp}),
        ),
        (
            "no audience",
            json!({"uid": "alice", "iss": "https://issuer.test", "exp": exp}),
        ),
        (
            "sub, not uid",
            json!({"sub": "alice", "iss": "https://issuer.test", "aud": "agent-sessions", "exp": exp}),
        ),
    ] {
        assert_401(&list_with(&app, &with(c)).await, why);
    }
    assert!(store.is_empty());
}

#[tokio::test]
async fn meta_routes_stay_open_unless_closed() {
    let secret = random_secret();
    let (_, open) = app(JwtAuth::hs256_secret(&secret).unwrap());
    for path in ["/healthz", "/openapi.json"] {
        assert_eq!(
            send(&open, req("GET", path, &[], None)).await.status,
            200,
            "{path}"
        );
    }
    let (_, closed) = app(JwtAuth::hs256_secret(&secret).unwrap().protect_meta(true));
    for path in ["/healthz", "/openapi.json"] {
        assert_401(&send(&closed, req("GET", path, &[], None)).await, path);
        let auth = bearer(&hs256(&secret, "ops"));
        let ok = send(&closed, req("GET", path, &[("authorization", &auth)], None)).await;
        assert_eq!(ok.status, 200, "{path}");
    }
}

#[test]
fn bad_key_settings_are_refused_with_what_to_do() {
    let short = JwtAuth::hs256_secret(b"short").unwrap_err().to_string();
    assert!(short.contains("32"), "{short}");
    assert!(
        JwtAuth::public_key_pem(b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n")
            .is_err()
    );
    assert!(JwtAuth::jwks_json(b"{}").is_err());
    assert!(JwtAuth::jwks_json(br#"{"keys": []}"#).is_err());
    // Debug output never shows the secret.
    let secret = [b'z'; 40];
    let debug = format!("{:?}", JwtAuth::hs256_secret(&secret).unwrap());
    assert!(!debug.contains("zzzz"), "{debug}");
}

#[test]
fn the_binary_serves_jwt_mode_from_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let secret = random_secret();
    let file = dir.path().join("secret");
    std::fs::write(&file, [secret.as_slice(), b"\n"].concat()).unwrap();
    let bin = common::binary::Binary::start(&[
        "--auth",
        "jwt",
        "--jwt-secret-file",
        file.to_str().unwrap(),
        "--jwt-issuer",
        "me",
    ]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |auth: Option<&str>| {
        let mut r = ureq::http::Request::builder().uri(format!("{}/agent/", bin.base));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        agent.run(r.body(()).unwrap()).unwrap().status().as_u16()
    };
    assert_eq!(get(None), 401);
    let key = EncodingKey::from_secret(&secret).unwrap();
    let good = token(
        Algorithm::HS256,
        &key,
        None,
        &json!({"sub": "alice", "iss": "me", "exp": now() + 60}),
    );
    assert_eq!(get(Some(&bearer(&good))), 200);
    let no_iss = token(Algorithm::HS256, &key, None, &claims("alice"));
    assert_eq!(get(Some(&bearer(&no_iss))), 401);
    bin.terminate();
}

//! Keys and tokens for the JWT tests, made in the test: a random HS256 secret, and RSA and
//! EC key pairs from the `openssl` command.

#![allow(dead_code)] // each test file uses its own part

use std::process::Command;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("a clock before 2262")
}

/// 64 random hex digits, as a secret.
pub fn random_secret() -> Vec<u8> {
    // Hex digits: random, and never a line ending, which the binary strips from the end of
    // a secret file (a random byte there made a token signed with the whole secret fail).
    let mut out = Vec::with_capacity(64);
    while out.len() < 64 {
        out.extend_from_slice(uuid::Uuid::new_v4().simple().to_string().as_bytes());
    }
    out.truncate(64);
    out
}

/// A signed token with these claims.
pub fn token(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("a token")
}

/// Claims for `user` valid for an hour.
pub fn claims(user: &str) -> Value {
    json!({"sub": user, "exp": now() + 3600, "iat": now()})
}

/// An HS256 token for `user`, valid for an hour.
pub fn hs256(secret: &[u8], user: &str) -> String {
    token(
        Algorithm::HS256,
        &EncodingKey::from_secret(secret).unwrap(),
        None,
        &claims(user),
    )
}

/// A key pair: the private key (PKCS#8 PEM) and the public key (SPKI PEM).
pub struct KeyPair {
    pub private_pem: Vec<u8>,
    pub public_pem: Vec<u8>,
}

fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the openssl command (Debian's package openssl) makes the test keys");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A fresh key pair: `rsa` (2048 bits) or `ec` (P-256).
pub fn key_pair(kind: &str) -> KeyPair {
    let private_pem = match kind {
        "rsa" => openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
            None,
        ),
        _ => openssl(
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ],
            None,
        ),
    };
    let public_pem = openssl(&["pkey", "-pubout"], Some(&private_pem));
    KeyPair {
        private_pem,
        public_pem,
    }
}

/// The RSA public key of `pair` as a JWK with this `kid`.
pub fn rsa_jwk(pair: &KeyPair, kid: &str) -> Value {
    let text = String::from_utf8(openssl(
        &["rsa", "-noout", "-modulus"],
        Some(&pair.private_pem),
    ))
    .unwrap();
    let hex = text.trim().strip_prefix("Modulus=").expect("a modulus");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64url(&bytes), "e": "AQAB"})
}

/// Base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

//! Who calls: the `x-user-id` header (AgentScope's own, for tests and trusted networks), or a
//! verified JSON Web Token (for deployments).
//!
//! In JWT mode every route but the open ones (`/healthz`, `/openapi.json`, `/metrics`, unless
//! closed too) needs `Authorization: Bearer <token>`. The token must be signed by the
//! configured key with an algorithm of that key's family (so `alg: none` and algorithm
//! confusion fail), be within its `exp` and `nbf` (with a small leeway), and name the
//! configured issuer and audience if they are set. Its user is a string claim (`sub` by default). A request that also sends
//! `x-user-id` must name the same user. A refusal answers 401 `{"detail": ...}` with
//! `WWW-Authenticate: Bearer` (403 for a user mismatch); a valid token acts exactly as the
//! header would for its user.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};

use super::errors::ApiError;
use super::extract;

/// How the server learns who calls (see [`Options::identity`](super::Options::identity)).
///
/// ```
/// use agent_sessions::server::{Identity, JwtAuth};
/// assert!(matches!(Identity::default(), Identity::Header));
/// let jwt = JwtAuth::hs256_secret(b"a secret of at least some length").unwrap().issuer("me");
/// let _ = Identity::Jwt(jwt.into());
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Identity {
    /// Trust the `x-user-id` header, as AgentScope does. For tests and trusted networks only:
    /// anyone who can reach the port can act as any user.
    #[default]
    Header,
    /// Verify a bearer token and take the user from it.
    Jwt(Arc<JwtAuth>),
}

/// Why a JWT setting could not be used.
///
/// ```
/// use agent_sessions::server::JwtAuth;
/// assert!(JwtAuth::public_key_pem(b"not a key").is_err());
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthConfigError(String);

/// What JWT mode checks: the keys, and the claims a token must carry.
///
/// ```
/// use std::time::Duration;
/// use agent_sessions::server::JwtAuth;
/// let auth = JwtAuth::hs256_secret(b"0123456789abcdef0123456789abcdef")?
///     .issuer("https://issuer.example")
///     .audience("agent-sessions")
///     .user_claim("sub")
///     .leeway(Duration::from_secs(30));
/// # let _ = auth;
/// # Ok::<(), agent_sessions::server::AuthConfigError>(())
/// ```
#[derive(Clone)]
pub struct JwtAuth {
    keys: Vec<VerifyingKey>,
    issuer: Option<String>,
    audience: Option<String>,
    claim: String,
    leeway: Duration,
    open_meta: bool,
}

/// A verification key, with its id (from a JWKS) and the algorithms it may verify.
#[derive(Clone)]
struct VerifyingKey {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys: a secret must not reach a log.
        f.debug_struct("JwtAuth")
            .field("keys", &self.keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("claim", &self.claim)
            .field("leeway", &self.leeway)
            .field("open_meta", &self.open_meta)
            .finish()
    }
}

impl JwtAuth {
    /// The default [`JwtAuth::leeway`]: 30 seconds of clock skew.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

    fn with_keys(keys: Vec<VerifyingKey>) -> Self {
        Self {
            keys,
            issuer: None,
            audience: None,
            claim: "sub".into(),
            leeway: Self::DEFAULT_LEEWAY,
            open_meta: true,
        }
    }

    /// Tokens signed with this shared secret (HS256, or HS384/HS512). A secret shorter than
    /// 32 bytes is refused: it could be guessed.
    pub fn hs256_secret(secret: &[u8]) -> Result<Self, AuthConfigError> {
        if secret.len() < 32 {
            return Err(AuthConfigError(format!(
                "the JWT secret is {} bytes: use at least 32 random bytes",
                secret.len()
            )));
        }
        let key = DecodingKey::from_secret(secret)
            .map_err(|e| AuthConfigError(format!("the JWT secret cannot be used: {e}")))?;
        Ok(Self::with_keys(vec![VerifyingKey {
            kid: None,
            algorithms: AlgorithmFamily::Hmac.algorithms().to_vec(),
            key,
        }]))
    }

    /// Tokens signed with the private key of this PEM public key: RSA (RS256 and the other
    /// RSA algorithms) or EC (ES256 on P-256, ES384 on P-384).
    pub fn public_key_pem(pem: &[u8]) -> Result<Self, AuthConfigError> {
        let (key, algorithms) = if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            (key, AlgorithmFamily::Rsa.algorithms().to_vec())
        } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            (key, vec![Algorithm::ES256, Algorithm::ES384])
        } else if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            (key, vec![Algorithm::EdDSA])
        } else {
            return Err(AuthConfigError(
                "the JWT public key is not a PEM RSA, EC or Ed25519 public key".into(),
            ));
        };
        Ok(Self::with_keys(vec![VerifyingKey {
            kid: None,
            key,
            algorithms,
        }]))
    }

    /// Tokens signed by any key of this JSON Web Key Set (`{"keys": [...]}`); a token names
    /// its key with `kid` (it may leave it out when the set has one key).
    pub fn jwks_json(json: &[u8]) -> Result<Self, AuthConfigError> {
        let set: JwkSet = serde_json::from_slice(json)
            .map_err(|e| AuthConfigError(format!("the JWKS is not a key set: {e}")))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone();
            let name = kid.as_deref().unwrap_or("(no kid)");
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| AuthConfigError(format!("JWKS key {name} cannot be used: {e}")))?;
            let algorithms = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(alg), _) => vec![alg.to_string().parse::<Algorithm>().map_err(|_| {
                    AuthConfigError(format!(
                        "JWKS key {name} has an algorithm that cannot sign JWTs"
                    ))
                })?],
                (None, AlgorithmParameters::RSA(_)) => AlgorithmFamily::Rsa.algorithms().to_vec(),
                (None, AlgorithmParameters::EllipticCurve(p)) => match p.curve {
                    EllipticCurve::P384 => vec![Algorithm::ES384],
                    _ => vec![Algorithm::ES256],
                },
                (None, AlgorithmParameters::OctetKeyPair(_)) => vec![Algorithm::EdDSA],
                (None, AlgorithmParameters::OctetKey(_)) => {
                    AlgorithmFamily::Hmac.algorithms().to_vec()
                }
                (None, _) => {
                    return Err(AuthConfigError(format!(
                        "JWKS key {name} is of an unknown type"
                    )))
                }
            };
            keys.push(VerifyingKey {
                kid,
                key,
                algorithms,
            });
        }
        if keys.is_empty() {
            return Err(AuthConfigError("the JWKS holds no key".into()));
        }
        Ok(Self::with_keys(keys))
    }

    /// Tokens must name this issuer (`iss`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Tokens must name this audience (`aud`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The claim that names the user (default `sub`); it must be a non-empty string.
    pub fn user_claim(mut self, claim: impl Into<String>) -> Self {
        self.claim = claim.into();
        self
    }

    /// Clock skew allowed on `exp` and `nbf` (default [`JwtAuth::DEFAULT_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Whether `/healthz` and `/openapi.json` (and `/metrics`) need a token too (default:
    /// they stay open, for probes and scrapers).
    pub fn protect_meta(mut self, protect: bool) -> Self {
        self.open_meta = !protect;
        self
    }

    /// Whether the meta routes stay open.
    pub(crate) fn meta_is_open(&self) -> bool {
        self.open_meta
    }

    /// The user a request's token names, or the refusal to answer.
    pub(crate) fn user(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let Some(raw) = extract::header(headers, "authorization") else {
            return Err(unauthorized(
                None,
                "Not authenticated: send Authorization: Bearer <token>.",
            ));
        };
        let token = match raw.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(unauthorized(
                    None,
                    "Not authenticated: the Authorization header must be 'Bearer <token>'.",
                ))
            }
        };
        let user = self
            .verify(token)
            .map_err(|why| unauthorized(Some(&why), &format!("Invalid token: {why}.")))?;
        match extract::header(headers, "x-user-id") {
            Some(named) if named != user => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "The x-user-id header names another user than the token.",
            )),
            _ => Ok(user),
        }
    }

    /// Verifies `token`; returns its user, or why it is refused (no secret in it).
    fn verify(&self, token: &str) -> Result<String, String> {
        let head = jsonwebtoken::decode_header(token).map_err(|e| describe(&e))?;
        let key = match &head.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid.as_str())),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
        .ok_or_else(|| "no configured key matches its kid".to_owned())?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms.clone_from(&key.algorithms);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = self.audience.is_some();
        let mut required = vec!["exp"];
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        if let Some(aud) = &self.audience {
            validation.set_audience(&[aud]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key.key,
            &validation,
        )
        .map_err(|e| describe(&e))?;
        match data.claims.get(&self.claim) {
            Some(serde_json::Value::String(user)) if !user.is_empty() => Ok(user.clone()),
            _ => Err(format!(
                "its {:?} claim is not a non-empty string",
                self.claim
            )),
        }
    }
}

/// What is wrong with a token, in words a client can act on.
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "it has expired".into(),
        K::ImmatureSignature => "it is not valid yet (nbf)".into(),
        K::InvalidSignature => "its signature does not verify".into(),
        K::InvalidAlgorithm | K::MissingAlgorithm | K::UnsupportedAlgorithm => {
            "its algorithm is not one the server's key accepts".into()
        }
        K::InvalidIssuer => "it names another issuer".into(),
        K::InvalidAudience => "it names another audience".into(),
        K::MissingRequiredClaim(c) => format!("it has no {c:?} claim"),
        _ => "it is not a well-formed JWT".into(),
    }
}

/// 401 with the challenge RFC 6750 asks for.
fn unauthorized(invalid: Option<&str>, detail: &str) -> ApiError {
    let challenge = match invalid {
        None => "Bearer".to_owned(),
        Some(why) => format!("Bearer error=\"invalid_token\", error_description=\"{why}\""),
    };
    let value = HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer"));
    ApiError::Detail {
        status: StatusCode::UNAUTHORIZED,
        detail: detail.to_owned(),
        headers: vec![(header::WWW_AUTHENTICATE, value)],
    }
}

/// The user a verified token named, for the handlers (see `extract::user`).
#[derive(Clone, Debug)]
pub(crate) struct VerifiedUser(pub String);

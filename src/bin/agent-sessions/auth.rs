//! The identity flags of `serve`: header (AgentScope's) or verified JWTs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent_sessions::server::{Identity, JwtAuth};

/// How callers are identified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Trust the `x-user-id` header, as AgentScope does: tests and trusted networks only.
    #[default]
    Header,
    /// Verify `Authorization: Bearer <JWT>` and take the user from a claim.
    Jwt,
}

#[derive(clap::Args, Debug)]
pub struct AuthArgs {
    /// How callers are identified. `header` must never face an untrusted network: anyone who
    /// reaches the port can act as any user.
    #[arg(long, value_enum, default_value_t = Mode::Header)]
    auth: Mode,
    /// HS256: a file holding the shared secret (at least 32 bytes; a trailing newline is
    /// ignored).
    #[arg(long, value_name = "FILE", group = "jwt_key")]
    jwt_secret_file: Option<PathBuf>,
    /// RS256 or ES256: a PEM file holding the public key.
    #[arg(long, value_name = "FILE", group = "jwt_key")]
    jwt_public_key: Option<PathBuf>,
    /// A JSON Web Key Set file; tokens name their key with `kid`.
    #[arg(long, value_name = "FILE", group = "jwt_key")]
    jwt_jwks_file: Option<PathBuf>,
    /// Tokens must carry this `iss`.
    #[arg(long, value_name = "ISSUER")]
    jwt_issuer: Option<String>,
    /// Tokens must carry this `aud`.
    #[arg(long, value_name = "AUDIENCE")]
    jwt_audience: Option<String>,
    /// The claim naming the user.
    #[arg(long, value_name = "CLAIM", default_value = "sub")]
    jwt_user_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = JwtAuth::DEFAULT_LEEWAY.as_secs())]
    jwt_leeway_secs: u64,
    /// Require a token on /healthz, /metrics and /openapi.json too (open by default).
    #[arg(long)]
    jwt_protect_meta: bool,
}

impl AuthArgs {
    /// The identity the flags describe.
    pub fn identity(&self) -> Result<Identity, String> {
        let key_given = self.jwt_secret_file.is_some()
            || self.jwt_public_key.is_some()
            || self.jwt_jwks_file.is_some();
        if self.auth == Mode::Header {
            if key_given || self.jwt_issuer.is_some() || self.jwt_audience.is_some() {
                return Err("the --jwt-* flags need --auth jwt".into());
            }
            return Ok(Identity::Header);
        }
        let read =
            |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let jwt = if let Some(path) = &self.jwt_secret_file {
            let mut secret = read(path)?;
            while secret.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                secret.pop();
            }
            JwtAuth::hs256_secret(&secret)
        } else if let Some(path) = &self.jwt_public_key {
            JwtAuth::public_key_pem(&read(path)?)
        } else if let Some(path) = &self.jwt_jwks_file {
            JwtAuth::jwks_json(&read(path)?)
        } else {
            return Err(
                "--auth jwt needs a key: --jwt-secret-file, --jwt-public-key or --jwt-jwks-file"
                    .into(),
            );
        }
        .map_err(|e| e.to_string())?;
        let mut jwt = jwt
            .user_claim(self.jwt_user_claim.clone())
            .leeway(Duration::from_secs(self.jwt_leeway_secs))
            .protect_meta(self.jwt_protect_meta);
        if let Some(iss) = &self.jwt_issuer {
            jwt = jwt.issuer(iss.clone());
        }
        if let Some(aud) = &self.jwt_audience {
            jwt = jwt.audience(aud.clone());
        }
        Ok(Identity::Jwt(Arc::new(jwt)))
    }
}

//! JWT bearer tokens (Nodash parity): signed with a configured HS256 secret
//! or verified with a public key (RS256 / ES256), carrying the project and
//! scopes; accepted wherever an API key is. `exp` is required.
//!
//! Claims: `project_id` (UUID, required), `scope` (space separated, e.g.
//! `"events:write events:read"`), `sub` (optional), `exp` (required);
//! `iss` / `aud` are checked when configured.

use boost_server::auth::Scope;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;
use uuid::Uuid;

/// JWT settings; both secret and public key empty turns JWTs off.
#[derive(Debug, Clone, clap::Args)]
pub struct JwtArgs {
    /// HS256 shared secret (at least 32 characters).
    #[arg(
        long = "jwt-secret",
        env = "BOOST_JWT_SECRET",
        default_value = "",
        hide_env_values = true
    )]
    pub secret: String,
    /// PEM file with the public key verifying RS256 or ES256 tokens.
    #[arg(
        long = "jwt-public-key-file",
        env = "BOOST_JWT_PUBLIC_KEY_FILE",
        default_value = ""
    )]
    pub public_key_file: String,
    /// Algorithm of public-key tokens: RS256 or ES256.
    #[arg(long = "jwt-algorithm", env = "BOOST_JWT_ALGORITHM", default_value = "RS256", value_parser = ["RS256", "ES256"])]
    pub algorithm: String,
    /// Required `iss`, when set.
    #[arg(long = "jwt-issuer", env = "BOOST_JWT_ISSUER", default_value = "")]
    pub issuer: String,
    /// Required `aud`, when set.
    #[arg(long = "jwt-audience", env = "BOOST_JWT_AUDIENCE", default_value = "")]
    pub audience: String,
}

#[derive(Debug, Deserialize)]
struct Claims {
    project_id: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    sub: String,
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Tenant.
    pub project_id: Uuid,
    /// Known scopes granted (unknown names are dropped).
    pub scopes: Vec<Scope>,
    /// `sub`.
    pub subject: String,
}

/// Verifies tokens with the configured key.
pub struct JwtVerifier {
    /// Secret or public key.
    key: DecodingKey,
    /// Algorithm, expiry, issuer and audience rules.
    validation: Validation,
}

impl JwtVerifier {
    /// A verifier from settings; `Ok(None)` when JWTs are off.
    pub fn from_args(args: &JwtArgs) -> Result<Option<Self>, String> {
        let (key, algorithm) = match (args.secret.is_empty(), args.public_key_file.is_empty()) {
            (true, true) => return Ok(None),
            (false, false) => {
                return Err("set BOOST_JWT_SECRET or BOOST_JWT_PUBLIC_KEY_FILE, not both".into());
            }
            (false, true) => {
                if args.secret.len() < 32 {
                    return Err("BOOST_JWT_SECRET must be at least 32 characters".into());
                }
                (
                    DecodingKey::from_secret(args.secret.as_bytes()),
                    Algorithm::HS256,
                )
            }
            (true, false) => {
                let pem = std::fs::read(&args.public_key_file).map_err(|e| {
                    format!(
                        "cannot read BOOST_JWT_PUBLIC_KEY_FILE {:?}: {e}",
                        args.public_key_file
                    )
                })?;
                let algorithm = if args.algorithm == "ES256" {
                    Algorithm::ES256
                } else {
                    Algorithm::RS256
                };
                let key = match algorithm {
                    Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
                    _ => DecodingKey::from_rsa_pem(&pem),
                }
                .map_err(|e| format!("invalid BOOST_JWT_PUBLIC_KEY_FILE: {e}"))?;
                (key, algorithm)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 5;
        if !args.issuer.is_empty() {
            validation.set_issuer(&[&args.issuer]);
        }
        if args.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&[&args.audience]);
        }
        Ok(Some(Self { key, validation }))
    }

    /// Checks signature, expiry, issuer and audience; reads the claims.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, String> {
        let data =
            decode::<Claims>(token, &self.key, &self.validation).map_err(|e| e.to_string())?;
        let claims = data.claims;
        let project_id = claims
            .project_id
            .parse()
            .map_err(|_| "project_id claim is not a UUID".to_string())?;
        Ok(TokenClaims {
            project_id,
            scopes: claims
                .scope
                .split_whitespace()
                .filter_map(Scope::parse)
                .collect(),
            subject: claims.sub,
        })
    }
}

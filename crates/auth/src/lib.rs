//! JWT verification for connecting clients: HS256 with a shared secret,
//! RS256 and ES256 with public keys, picked by the token's `alg` header.
//! `sub` becomes the user id; an optional `rooms` claim lists rooms to join
//! at connect.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sockgate_core::{AuthError, AuthFuture, Authenticator, ConnectRequest, Identity};

/// Where the verification keys come from (`[auth.jwt]`).
#[derive(Debug, Clone, Default)]
pub struct JwtConfig {
    /// Shared secret for HS256 tokens.
    pub hs256_secret: Option<String>,
    /// PEM public key (RSA) for RS256 tokens.
    pub rs256_public_key: Option<String>,
    /// PEM public key (P-256) for ES256 tokens.
    pub es256_public_key: Option<String>,
    /// Required `iss`, if set.
    pub issuer: Option<String>,
    /// Required `aud`, if set.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
}

/// A key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    /// Which key (`auth.jwt.rs256_public_key`, …).
    pub key: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// Verifies bearer tokens as JWTs.
pub struct JwtAuthenticator {
    keys: HashMap<Algorithm, DecodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
}

/// The claims sockgate reads; others are ignored.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    rooms: Vec<String>,
}

impl JwtAuthenticator {
    /// Builds the verifier; at least one key must be configured.
    pub fn new(config: &JwtConfig) -> Result<Self, KeyError> {
        let mut keys = HashMap::new();
        if let Some(secret) = &config.hs256_secret {
            keys.insert(Algorithm::HS256, DecodingKey::from_secret(secret.as_bytes()));
        }
        if let Some(pem) = &config.rs256_public_key {
            let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| KeyError {
                key: "auth.jwt.rs256_public_key",
                message: format!("not an RSA public key in PEM: {e}"),
            })?;
            keys.insert(Algorithm::RS256, key);
        }
        if let Some(pem) = &config.es256_public_key {
            let key = DecodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| KeyError {
                key: "auth.jwt.es256_public_key",
                message: format!("not an EC public key in PEM: {e}"),
            })?;
            keys.insert(Algorithm::ES256, key);
        }
        if keys.is_empty() {
            return Err(KeyError {
                key: "auth.jwt",
                message: "configure hs256_secret, rs256_public_key or es256_public_key".into(),
            });
        }
        Ok(JwtAuthenticator {
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway,
        })
    }

    /// The rules a token of `alg` must meet. jsonwebtoken checks `iss` and
    /// `aud` only when the token carries them, and `nbf` not at all by
    /// default: a configured issuer or audience is made a required claim,
    /// so a token minted without them (for another service sharing the
    /// key) is refused, and `nbf` is checked whenever present.
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }

    /// Verifies one token.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::InvalidToken(describe(e.kind())))?;
        let key = self
            .keys
            .get(&header.alg)
            .ok_or_else(|| AuthError::InvalidToken(format!("algorithm {:?} is not accepted", header.alg)))?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation(header.alg))
            .map_err(|e| AuthError::InvalidToken(describe(e.kind())))?;
        let sub = match data.claims.sub {
            Some(sub) if !sub.is_empty() => sub,
            _ => return Err(AuthError::InvalidToken("missing claim \"sub\"".into())),
        };
        Ok(Identity {
            user: Some(sub),
            rooms: data.claims.rooms,
            ..Identity::default()
        })
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate<'a>(&'a self, request: &'a ConnectRequest) -> AuthFuture<'a> {
        let outcome = match &request.token {
            Some(token) => self.verify(token),
            None => Err(AuthError::Missing("send a token".into())),
        };
        Box::pin(std::future::ready(outcome))
    }
}

/// A short, client-safe description of why a token failed.
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "token expired".into(),
        ErrorKind::ImmatureSignature => "token not valid yet (nbf)".into(),
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing claim {claim:?}"),
        ErrorKind::InvalidAlgorithm => "algorithm does not match the key".into(),
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            "malformed token".into()
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    use super::*;

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    fn hs256(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn verifier() -> JwtAuthenticator {
        JwtAuthenticator::new(&JwtConfig {
            hs256_secret: Some("s3cret-s3cret-s3cret".into()),
            ..JwtConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn a_valid_token_gives_the_user_and_rooms() {
        let token = hs256(
            json!({"sub": "42", "exp": now() + 60, "rooms": ["act42"]}),
            "s3cret-s3cret-s3cret",
        );
        assert_eq!(
            verifier().verify(&token),
            Ok(Identity {
                user: Some("42".into()),
                rooms: vec!["act42".into()],
                ..Identity::default()
            })
        );
    }

    #[test]
    fn bad_tokens_say_why() {
        let v = verifier();
        let expired = hs256(json!({"sub": "42", "exp": now() - 3600}), "s3cret-s3cret-s3cret");
        assert_eq!(
            v.verify(&expired),
            Err(AuthError::InvalidToken("token expired".into()))
        );
        let forged = hs256(json!({"sub": "42", "exp": now() + 60}), "another-secret-entirely");
        assert_eq!(
            v.verify(&forged),
            Err(AuthError::InvalidToken("bad signature".into()))
        );
        let no_sub = hs256(json!({"exp": now() + 60}), "s3cret-s3cret-s3cret");
        assert_eq!(
            v.verify(&no_sub),
            Err(AuthError::InvalidToken("missing claim \"sub\"".into()))
        );
        assert_eq!(
            v.verify("garbage"),
            Err(AuthError::InvalidToken("malformed token".into()))
        );
    }

    fn verifier_for(issuer: &str, audience: &str) -> JwtAuthenticator {
        JwtAuthenticator::new(&JwtConfig {
            hs256_secret: Some("s3cret-s3cret-s3cret".into()),
            issuer: Some(issuer.into()),
            audience: Some(audience.into()),
            ..JwtConfig::default()
        })
        .unwrap()
    }

    /// Regression: with an issuer and audience configured, a token carrying
    /// neither claim was accepted (jsonwebtoken checks them only if present).
    #[test]
    fn a_configured_issuer_and_audience_are_required_claims() {
        let v = verifier_for("auth.example", "chat");
        let sign = |claims| hs256(claims, "s3cret-s3cret-s3cret");
        let exp = now() + 60;
        let bare = sign(json!({"sub": "42", "exp": exp}));
        // Which of the two jsonwebtoken names first is not fixed.
        assert!(matches!(
            v.verify(&bare),
            Err(AuthError::InvalidToken(why)) if why.starts_with("missing claim")
        ));
        let no_aud = sign(json!({"sub": "42", "exp": exp, "iss": "auth.example"}));
        assert_eq!(
            v.verify(&no_aud),
            Err(AuthError::InvalidToken("missing claim \"aud\"".into()))
        );
        let other = sign(json!({"sub": "42", "exp": exp, "iss": "auth.example", "aud": "billing"}));
        assert_eq!(
            v.verify(&other),
            Err(AuthError::InvalidToken("wrong audience".into()))
        );
        let good = sign(json!({"sub": "42", "exp": exp, "iss": "auth.example", "aud": "chat"}));
        assert!(v.verify(&good).is_ok());
    }

    /// Regression: a token whose `nbf` lay in the future was accepted.
    #[test]
    fn a_token_is_refused_before_its_nbf_but_within_leeway_is_fine() {
        let v = verifier();
        let sign = |nbf: u64| {
            hs256(
                json!({"sub": "42", "exp": now() + 7200, "nbf": nbf}),
                "s3cret-s3cret-s3cret",
            )
        };
        assert_eq!(
            v.verify(&sign(now() + 3600)),
            Err(AuthError::InvalidToken("token not valid yet (nbf)".into()))
        );
        assert!(v.verify(&sign(now() - 10)).is_ok());
        let lenient = JwtAuthenticator::new(&JwtConfig {
            hs256_secret: Some("s3cret-s3cret-s3cret".into()),
            leeway: Duration::from_secs(120),
            ..JwtConfig::default()
        })
        .unwrap();
        assert!(lenient.verify(&sign(now() + 30)).is_ok());
    }

    #[tokio::test]
    async fn no_token_is_missing_not_invalid() {
        let request = ConnectRequest::new(sockgate_core::Protocol::Raw, None, None);
        assert!(matches!(
            verifier().authenticate(&request).await,
            Err(AuthError::Missing(_))
        ));
    }
}

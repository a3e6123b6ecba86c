//! Short-lived access tokens: HS256 JWTs with issuer, audience, expiry and not-before checked.
//!
//! The times in a token come from the service's clock (`AppState::now`), as every time it writes
//! does; `jsonwebtoken` checks them against the system's time, as it takes no clock. Outside tests
//! the two are one. A test that moves the service's clock keeps working with the tokens it got
//! before (the system's time has hardly moved), but a token issued after moving it more than
//! [`LEEWAY_SECONDS`] ahead is not valid yet.

use anyhow::Context;
use chrono::NaiveDateTime;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::id::{OrganizationId, UserId};
use crate::domain::user::Role;

pub const ISSUER: &str = "kyodo";
pub const AUDIENCE: &str = "kyodo-api";
/// Tolerated clock difference between instances, in seconds.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub org: OrganizationId,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_seconds: i64,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_in: i64,
}

impl AccessTokens {
    pub fn new(secret: &SecretString, ttl_seconds: i64) -> Self {
        let key = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            ttl_seconds,
        }
    }

    pub fn issue(
        &self,
        user_id: &UserId,
        organization_id: &OrganizationId,
        role: Role,
        now: NaiveDateTime,
    ) -> anyhow::Result<IssuedToken> {
        let now = now.and_utc().timestamp();
        let claims = Claims {
            sub: user_id.clone(),
            org: organization_id.clone(),
            role,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .context("signing an access token")?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl_seconds,
        })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
    }
}

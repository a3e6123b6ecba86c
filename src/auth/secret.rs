//! Opaque secrets (refresh tokens, API tokens, invitation tokens, calendar feed addresses): random, shown once, stored as
//! SHA-256 digests. They carry 256 bits of entropy, so a fast digest is enough to store them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Prefix of API tokens, so that a leaked token is recognizable and the bearer parser can tell
/// API tokens from access tokens.
pub const API_TOKEN_PREFIX: &str = "kyd_";
/// Prefix of the secret in a calendar feed's address: recognizable when leaked, and never taken
/// for an API token.
pub const CALENDAR_TOKEN_PREFIX: &str = "kydcal_";

pub struct NewSecret {
    pub plain: String,
    pub digest: String,
}

pub fn generate(prefix: &str) -> NewSecret {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let plain = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let digest = digest(&plain);
    NewSecret { plain, digest }
}

pub fn digest(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_stored_only_as_digests() {
        let a = generate(API_TOKEN_PREFIX);
        let b = generate(API_TOKEN_PREFIX);
        assert_ne!(a.plain, b.plain);
        assert!(a.plain.starts_with(API_TOKEN_PREFIX));
        assert_eq!(a.digest, digest(&a.plain));
        assert!(!a.digest.contains(&a.plain[4..]));
    }
}

//! Cross-site request forgery: every form and every script request of the console carries a
//! token that only this site's pages can know. It is an HMAC of the browser's session cookie (or,
//! before signing in, of a random visitor cookie), so a token is worth nothing in another browser
//! or after signing out, and nothing needs storing. The cookies are `SameSite=Lax` as well.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The form field that carries the token.
pub const FIELD: &str = "_csrf";
/// The header that carries it in htmx requests.
pub const HEADER: &str = "x-csrf-token";

#[derive(Clone)]
pub struct CsrfKey {
    key: Vec<u8>,
}

impl CsrfKey {
    pub fn new(secret: &SecretString) -> Self {
        use sha2::Digest;
        // A key of its own, so that no other signature of the service can pass for a CSRF token.
        let key = Sha256::new()
            .chain_update(b"kyodo console csrf\0")
            .chain_update(secret.expose_secret().as_bytes())
            .finalize()
            .to_vec();
        Self { key }
    }

    fn mac(&self, binding: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(binding.as_bytes());
        mac
    }

    /// The token of the browser holding the cookie `binding`.
    pub fn token(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(binding).finalize().into_bytes())
    }

    /// Whether `submitted` is the token of `binding`, compared in constant time.
    pub fn verify(&self, binding: &str, submitted: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(submitted)
            .is_ok_and(|bytes| self.mac(binding).verify_slice(&bytes).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_belongs_to_one_cookie_and_one_key() {
        let key = CsrfKey::new(&SecretString::from("secret"));
        let token = key.token("session:a");
        assert!(key.verify("session:a", &token));
        assert!(!key.verify("session:b", &token));
        assert!(!key.verify("session:a", ""));
        assert!(!key.verify("session:a", "not base64!"));
        let other = CsrfKey::new(&SecretString::from("another secret"));
        assert!(!other.verify("session:a", &token));
    }
}

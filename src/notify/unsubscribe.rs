//! Unsubscribe links: an address and a signature of it, so that whoever holds the e-mail, and
//! nobody else, can stop that address's reminders without signing in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Signs and checks unsubscribe tokens with a key derived from the service's signing secret.
#[derive(Clone)]
pub struct UnsubscribeLinks {
    key: Vec<u8>,
}

/// Bytes of the signature kept in a token: 128 bits.
const SIGNATURE_BYTES: usize = 16;

impl UnsubscribeLinks {
    pub fn new(secret: &SecretString) -> Self {
        use sha2::Digest;
        // A key of its own: a token of one kind can never pass for the other.
        let key = Sha256::new()
            .chain_update(b"kyodo unsubscribe links\0")
            .chain_update(secret.expose_secret().as_bytes())
            .finalize()
            .to_vec();
        Self { key }
    }

    fn mac(&self, email: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(email.as_bytes());
        mac
    }

    /// `base64url(address).base64url(signature)`.
    pub fn token(&self, email: &str) -> String {
        let signature = self.mac(email).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(email),
            URL_SAFE_NO_PAD.encode(&signature[..SIGNATURE_BYTES])
        )
    }

    /// The address a token was made for, when its signature holds.
    pub fn verify(&self, token: &str) -> Option<String> {
        let (email, signature) = token.split_once('.')?;
        let email = String::from_utf8(URL_SAFE_NO_PAD.decode(email).ok()?).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.mac(&email)
            .verify_truncated_left(&signature)
            .ok()
            .filter(|()| signature.len() == SIGNATURE_BYTES)
            .map(|()| email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_address_and_nothing_else_passes() {
        let links = UnsubscribeLinks::new(&SecretString::from("a".repeat(40)));
        let token = links.token("dx@vill.achi.nagano.jp");
        assert_eq!(
            links.verify(&token).as_deref(),
            Some("dx@vill.achi.nagano.jp")
        );
        let (_, signature) = token.split_once('.').unwrap();
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode("other@example.jp"));
        assert_eq!(links.verify(&forged), None);
        assert_eq!(links.verify(&token[..token.len() - 2]), None);
        assert_eq!(links.verify("no-dot"), None);
        let other = UnsubscribeLinks::new(&SecretString::from("b".repeat(40)));
        assert_eq!(other.verify(&token), None);
    }
}

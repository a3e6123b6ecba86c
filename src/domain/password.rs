use secrecy::{ExposeSecret, SecretString};

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 256;

/// A password that meets the policy; never printed.
pub struct Password(SecretString);

#[derive(Debug, thiserror::Error)]
pub enum WeakPassword {
    #[error("a password needs at least {MIN_CHARS} characters")]
    TooShort,
    #[error("a password may have at most {MAX_CHARS} characters")]
    TooLong,
}

impl Password {
    pub fn parse(input: SecretString) -> Result<Self, WeakPassword> {
        match input.expose_secret().chars().count() {
            n if n < MIN_CHARS => Err(WeakPassword::TooShort),
            n if n > MAX_CHARS => Err(WeakPassword::TooLong),
            _ => Ok(Self(input)),
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_policy_counts_characters_not_bytes() {
        assert!(Password::parse("長野県の共同調達パスワード".into()).is_ok());
        assert!(matches!(
            Password::parse("short".into()),
            Err(WeakPassword::TooShort)
        ));
        assert!(matches!(
            Password::parse("x".repeat(257).into()),
            Err(WeakPassword::TooLong)
        ));
    }
}

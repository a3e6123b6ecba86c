//! The password policy: 12 to 256 characters, and hard to guess by the estimate of zxcvbn, whose
//! dictionaries include the 30,000 most common passwords, names, English words and keyboard
//! patterns, and which sees through repeats (`aaaaaaaaaaaa`) and sequences (`123456789012`).

use secrecy::{ExposeSecret, SecretString};
use zxcvbn::Score;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 256;
/// At least 10^10 guesses by zxcvbn's estimate.
const MIN_SCORE: Score = Score::Three;

/// A password that meets the policy; never printed.
pub struct Password(SecretString);

#[derive(Debug, thiserror::Error)]
pub enum WeakPassword {
    #[error("a password needs at least {MIN_CHARS} characters")]
    TooShort,
    #[error("a password may have at most {MAX_CHARS} characters")]
    TooLong,
    /// Why, and what would help, in zxcvbn's words.
    #[error("the password is too easy to guess{0}")]
    Guessable(String),
}

impl Password {
    /// Checks the policy. `context` holds what an attacker knows of the account (its e-mail
    /// address, its name), which the password must not lean on.
    pub fn parse(input: SecretString, context: &[&str]) -> Result<Self, WeakPassword> {
        let secret = input.expose_secret();
        match secret.chars().count() {
            n if n < MIN_CHARS => return Err(WeakPassword::TooShort),
            n if n > MAX_CHARS => return Err(WeakPassword::TooLong),
            _ => {}
        }
        let estimate = zxcvbn::zxcvbn(secret, context);
        if estimate.score() < MIN_SCORE {
            let advice = estimate
                .feedback()
                .map(|feedback| {
                    let mut advice: Vec<String> = feedback
                        .warning()
                        .map(|w| w.to_string())
                        .into_iter()
                        .collect();
                    advice.extend(feedback.suggestions().iter().map(ToString::to_string));
                    advice
                })
                .unwrap_or_default();
            let advice = if advice.is_empty() {
                ": add another word or two that are not common together".to_owned()
            } else {
                format!(": {}", advice.join(" "))
            };
            return Err(WeakPassword::Guessable(advice));
        }
        Ok(Self(input))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(password: &str) -> Result<Password, WeakPassword> {
        Password::parse(password.into(), &["dx@city.nagano.lg.jp", "信州 太郎"])
    }

    #[test]
    fn length_policy_counts_characters_not_bytes() {
        assert!(parse("長野県の共同調達パスワード").is_ok());
        assert!(matches!(parse("short"), Err(WeakPassword::TooShort)));
        assert!(matches!(
            parse(&"x".repeat(257)),
            Err(WeakPassword::TooLong)
        ));
    }

    #[test]
    fn long_but_guessable_passwords_are_refused_with_a_reason() {
        for weak in [
            "            ",
            "aaaaaaaaaaaa",
            "123456789012",
            "password1234",
            "qwertyuiop12",
            "abcdefghijkl",
            "dx@city.nagano.lg.jp",
        ] {
            match parse(weak) {
                Err(WeakPassword::Guessable(advice)) => assert!(advice.len() > 2, "{weak:?}"),
                Err(other) => panic!("{weak:?}: {other}"),
                Ok(_) => panic!("{weak:?} was accepted"),
            }
        }
    }

    #[test]
    fn passphrases_pass() {
        for strong in [
            "municipal passphrase 2026",
            "council secretariat passphrase",
            "correct horse battery staple",
        ] {
            assert!(parse(strong).is_ok(), "{strong:?}");
        }
    }
}

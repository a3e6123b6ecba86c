use std::fmt;

use serde::Serialize;

/// An e-mail address, trimmed and lower-cased so that one person has one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an e-mail address")]
pub struct InvalidEmail(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        let normalized = input.trim().to_lowercase();
        // `localhost` addresses are allowed for the first administrator of a local install.
        let valid = normalized.len() <= 254
            && email_address::EmailAddress::parse_with_options(
                &normalized,
                email_address::Options::default().without_display_text(),
            )
            .is_ok();
        if valid {
            Ok(Self(normalized))
        } else {
            Err(InvalidEmail(input.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_whitespace() {
        assert_eq!(
            Email::parse("  Taro@City.Nagano.LG.JP ").unwrap().as_str(),
            "taro@city.nagano.lg.jp"
        );
    }

    #[test]
    fn accepts_the_local_admin() {
        assert!(Email::parse("admin@localhost").is_ok());
    }

    #[test]
    fn rejects_non_addresses() {
        for input in [
            "",
            "taro",
            "taro@",
            "@city.jp",
            "Taro <taro@city.jp>",
            "a b@city.jp",
        ] {
            assert!(Email::parse(input).is_err(), "{input:?}");
        }
    }
}

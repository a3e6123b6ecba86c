//! 全国地方公共団体コード: five JIS X 0402 digits and a check digit.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct LgCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LgCodeError {
    #[error("a local government code has exactly 6 digits, got {0:?}")]
    Format(String),
    #[error("the check digit of {code} is wrong: it should end in {expected}")]
    CheckDigit { code: String, expected: u32 },
}

impl LgCode {
    pub fn parse(input: &str) -> Result<Self, LgCodeError> {
        let digits: Vec<u32> = input.chars().filter_map(|c| c.to_digit(10)).collect();
        if input.len() != 6 || digits.len() != 6 {
            return Err(LgCodeError::Format(input.to_owned()));
        }
        let expected = check_digit([digits[0], digits[1], digits[2], digits[3], digits[4]]);
        if digits[5] != expected {
            return Err(LgCodeError::CheckDigit {
                code: input.to_owned(),
                expected,
            });
        }
        Ok(Self(input.to_owned()))
    }

    /// Whether `input` looks like a code at all (six ASCII digits), valid or not.
    pub fn is_code_shaped(input: &str) -> bool {
        input.len() == 6 && input.bytes().all(|b| b.is_ascii_digit())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// S = 6·d1 + 5·d2 + 4·d3 + 3·d4 + 2·d5; check = (11 − S mod 11) mod 10.
pub fn check_digit(d: [u32; 5]) -> u32 {
    let sum: u32 = d
        .iter()
        .zip([6, 5, 4, 3, 2])
        .map(|(digit, weight)| digit * weight)
        .sum();
    (11 - sum % 11) % 10
}

impl fmt::Display for LgCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LgCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_known_codes() {
        for code in ["200000", "202011", "202029", "131016", "011002"] {
            assert_eq!(
                LgCode::parse(code).map(|c| c.to_string()),
                Ok(code.to_owned())
            );
        }
    }

    #[test]
    fn rejects_wrong_check_digit_naming_the_right_one() {
        assert_eq!(
            LgCode::parse("202012"),
            Err(LgCodeError::CheckDigit {
                code: "202012".into(),
                expected: 1
            })
        );
    }

    #[test]
    fn rejects_wrong_shapes() {
        for input in ["", "20201", "2020111", "20201a", "２０２０１１", " 20201"] {
            assert!(
                matches!(LgCode::parse(input), Err(LgCodeError::Format(_))),
                "{input:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn exactly_one_check_digit_is_valid(body in 0u32..100_000) {
            let prefix = format!("{body:05}");
            let valid: Vec<u32> = (0..10)
                .filter(|d| LgCode::parse(&format!("{prefix}{d}")).is_ok())
                .collect();
            prop_assert_eq!(valid.len(), 1);
        }

        #[test]
        fn a_body_with_its_check_digit_round_trips(body in 0u32..100_000) {
            let prefix = format!("{body:05}");
            let digits: Vec<u32> = prefix.chars().filter_map(|c| c.to_digit(10)).collect();
            let code = format!("{prefix}{}", check_digit([digits[0], digits[1], digits[2], digits[3], digits[4]]));
            prop_assert_eq!(LgCode::parse(&code).map(|c| c.to_string()), Ok(code));
        }
    }
}

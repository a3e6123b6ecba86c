//! A body's answer in a round.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum ParticipationStatus {
    Joined,
    Declined,
    /// Joined or declined, then took the answer back.
    Withdrawn,
}

impl ParticipationStatus {
    /// As Japanese spreadsheets name it: 参加, 不参加, 辞退.
    pub fn label_ja(self) -> &'static str {
        match self {
            Self::Joined => "参加",
            Self::Declined => "不参加",
            Self::Withdrawn => "辞退",
        }
    }

    /// The status a Japanese label names, if any.
    pub fn from_label_ja(label: &str) -> Option<Self> {
        <Self as strum::VariantArray>::VARIANTS
            .iter()
            .copied()
            .find(|status| status.label_ja() == label)
    }
}

/// A body that has not answered, as Japanese spreadsheets name it.
pub const UNANSWERED_JA: &str = "未回答";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_back_as_their_status() {
        for &status in <ParticipationStatus as strum::VariantArray>::VARIANTS {
            assert_eq!(
                ParticipationStatus::from_label_ja(status.label_ja()),
                Some(status)
            );
        }
        assert_eq!(ParticipationStatus::from_label_ja(UNANSWERED_JA), None);
    }
}

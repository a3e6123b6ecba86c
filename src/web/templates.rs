//! The console's templates (`templates/web/`), compiled into the binary, HTML-escaped.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDateTime};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::domain::notification::{japanese_datetime, yen};
use crate::error::ApiError;

const SOURCES: [(&str, &str); 14] = [
    ("layout.j2", include_str!("../../templates/web/layout.j2")),
    ("macros.j2", include_str!("../../templates/web/macros.j2")),
    ("error.j2", include_str!("../../templates/web/error.j2")),
    ("login.j2", include_str!("../../templates/web/login.j2")),
    (
        "invitation.j2",
        include_str!("../../templates/web/invitation.j2"),
    ),
    ("home.j2", include_str!("../../templates/web/home.j2")),
    (
        "procurement.j2",
        include_str!("../../templates/web/procurement.j2"),
    ),
    ("round.j2", include_str!("../../templates/web/round.j2")),
    ("account.j2", include_str!("../../templates/web/account.j2")),
    ("outbox.j2", include_str!("../../templates/web/outbox.j2")),
    ("audit.j2", include_str!("../../templates/web/audit.j2")),
    ("pager.j2", include_str!("../../templates/web/pager.j2")),
    (
        "procurement_form.j2",
        include_str!("../../templates/web/procurement_form.j2"),
    ),
    (
        "estimate.j2",
        include_str!("../../templates/web/estimate.j2"),
    ),
];

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_filter("yen", |amount: i64| yen(amount));
    env.add_filter("jst", |value: String| jst(&value).unwrap_or(value));
    env.add_filter("label", |value: String| label(&value).to_owned());
    for (name, source) in SOURCES {
        if let Err(error) = env.add_template(name, source) {
            // Compiled in and rendered by the tests: a broken template never ships.
            tracing::error!(template = name, %error, "a console template does not compile");
        }
    }
    env
});

/// Renders page `name` with `context`.
pub fn render(name: &str, context: impl Serialize) -> Result<String, ApiError> {
    TEMPLATES
        .get_template(name)
        .and_then(|template| template.render(minijinja::value::Serde(context)))
        .map_err(|e| {
            anyhow::Error::new(e)
                .context(format!("rendering {name}"))
                .into()
        })
}

/// A UTC time as the API writes it (`2026-12-01T08:00:00Z` or without the zone), in JST words.
fn jst(value: &str) -> Option<String> {
    let utc = DateTime::parse_from_rfc3339(value)
        .map(|t| t.naive_utc())
        .or_else(|_| value.parse::<NaiveDateTime>())
        .ok()?;
    Some(japanese_datetime(utc))
}

/// Japanese words for the states and kinds the API names in English.
fn label(value: &str) -> &str {
    match value {
        "draft" => "下書き",
        "scheduled" => "受付前",
        "open" => "受付中",
        "closed" => "締切",
        "cancelled" => "中止",
        "finalized" => "確定",
        "published" => "公開中",
        "contracted" => "契約済",
        "joined" => "参加",
        "declined" => "不参加",
        "withdrawn" => "取下げ",
        "pending" => "送信待ち",
        "sending" => "送信中",
        "sent" => "送信済",
        "failed" => "失敗",
        "email" => "メール",
        "webhook" => "Webhook",
        "interest_survey" => "意向調査",
        "commitment" => "本申込",
        "renewal" => "更新",
        "administration" => "行政事務",
        "residents" => "住民サービス",
        "infrastructure" => "基盤",
        "disaster" => "防災",
        "education" => "教育",
        "other" => "その他",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in SOURCES {
            assert!(
                TEMPLATES.get_template(name).is_ok(),
                "{name} does not compile"
            );
        }
    }

    #[test]
    fn times_read_in_japan_time() {
        assert_eq!(
            jst("2026-12-01T08:00:00Z").as_deref(),
            Some("2026年12月1日(火) 17:00 JST")
        );
        assert_eq!(
            jst("2026-12-01T08:00:00").as_deref(),
            Some("2026年12月1日(火) 17:00 JST")
        );
        assert_eq!(jst("soon"), None);
    }
}

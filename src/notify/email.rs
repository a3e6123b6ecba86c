//! E-mails rendered from the outbox: one template per event (`templates/email/`), in Japanese,
//! with a plain-text and an HTML part, and the allocation's CSV attached where there is one.

use std::str::FromStr;
use std::time::SystemTime;

use lettre::Message;
use lettre::message::header::{
    ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;

use crate::db::outbox::OutboxRow;
use crate::domain::notification::Event;
use crate::notify::unsubscribe::UnsubscribeLinks;

/// Every subject starts with it, so that people can sort the service's mail.
pub const SUBJECT_PREFIX: &str = "【共同調達】";

/// The templates, compiled into the binary: one per event, each extending the layout.
const SOURCES: [(&str, &str); 10] = [
    ("layout.j2", include_str!("../../templates/email/layout.j2")),
    (
        "invitation.j2",
        include_str!("../../templates/email/invitation.j2"),
    ),
    (
        "round_opened.j2",
        include_str!("../../templates/email/round_opened.j2"),
    ),
    (
        "reminder.j2",
        include_str!("../../templates/email/reminder.j2"),
    ),
    (
        "deadline_extended.j2",
        include_str!("../../templates/email/deadline_extended.j2"),
    ),
    (
        "round_cancelled.j2",
        include_str!("../../templates/email/round_cancelled.j2"),
    ),
    (
        "round_closed.j2",
        include_str!("../../templates/email/round_closed.j2"),
    ),
    (
        "allocation_finalized.j2",
        include_str!("../../templates/email/allocation_finalized.j2"),
    ),
    (
        "question_answered.j2",
        include_str!("../../templates/email/question_answered.j2"),
    ),
    (
        "webhook_disabled.j2",
        include_str!("../../templates/email/webhook_disabled.j2"),
    ),
];

/// What the rendering of a message needs beyond the message.
#[derive(Clone)]
pub struct MailSettings {
    pub from: Mailbox,
    /// Where links point: `PUBLIC_BASE_URL`, without a trailing slash.
    pub base_url: String,
    pub unsubscribe: UnsubscribeLinks,
}

/// A message's parts, as the templates render them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// For events one may opt out of.
    pub unsubscribe_url: Option<String>,
    pub attachment: Option<CsvAttachment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsvAttachment {
    pub filename: String,
    pub content: String,
}

/// Why a message cannot be rendered: a fault of the service, never fixed by trying again.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("unknown event {0:?}")]
    UnknownEvent(String),
    #[error("the message's context is not JSON: {0}")]
    Context(#[from] serde_json::Error),
    #[error("rendering the template: {0:#}")]
    Template(#[from] minijinja::Error),
    #[error("the recipient {0:?} is not an address")]
    Recipient(String),
    #[error("building the message: {0}")]
    Build(#[from] lettre::error::Error),
}

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        // HTML is escaped unless a block says otherwise (the subject and the plain text do).
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        // A value the template names and the context lacks is a fault, not an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in SOURCES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// Renders an outbox message's parts.
    pub fn render(
        &self,
        row: &OutboxRow,
        settings: &MailSettings,
    ) -> Result<Rendered, RenderError> {
        let event = Event::from_str(&row.event)
            .map_err(|_| RenderError::UnknownEvent(row.event.clone()))?;
        let mut context: Value = serde_json::from_str(&row.context)?;
        let path = context["path"].as_str().unwrap_or("/");
        let link = format!("{}{path}", settings.base_url);
        let unsubscribe_url = event.may_opt_out().then(|| {
            format!(
                "{}/api/v1/unsubscribe/{}",
                settings.base_url,
                settings.unsubscribe.token(&row.recipient)
            )
        });
        let attachment = match (context["csv_filename"].as_str(), context["csv"].as_str()) {
            (Some(filename), Some(content)) => Some(CsvAttachment {
                filename: filename.to_owned(),
                content: content.to_owned(),
            }),
            _ => None,
        };
        if let Some(fields) = context.as_object_mut() {
            fields.remove("csv");
            fields.insert("link".to_owned(), Value::from(link));
            fields.insert(
                "unsubscribe_url".to_owned(),
                Value::from(unsubscribe_url.clone()),
            );
        }
        let template = self.env.get_template(&format!("{event}.j2"))?;
        let mut captured = template.render_captured(minijinja::value::Serde(&context))?;
        let (subject, text, html) = captured.with_state_mut(|state| {
            Ok::<_, minijinja::Error>((
                state.render_block("subject")?,
                state.render_block("text")?,
                state.render_block("html")?,
            ))
        })?;
        Ok(Rendered {
            to: row.recipient.clone(),
            subject: format!("{SUBJECT_PREFIX}{}", subject.trim()),
            text: text.trim_start().to_owned(),
            html: html.trim_start().to_owned(),
            unsubscribe_url,
            attachment,
        })
    }
}

/// How the text parts travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Whatever is safest for any SMTP server (base64 or quoted-printable for Japanese).
    ForTransport,
    /// UTF-8 as it is (`8bit`), so that an `.eml` file reads, and greps, as text.
    Readable,
}

/// A text part of `content_type`, encoded as `encoding` asks (8bit falls back to the safe choice
/// for text that 8bit cannot carry, such as a line of over 998 bytes).
fn text_part(content_type: ContentType, text: &str, encoding: Encoding) -> SinglePart {
    let builder = SinglePart::builder().header(content_type);
    let body = match encoding {
        Encoding::Readable => {
            // lettre takes 8bit only for lines under 76 bytes, which a line of Japanese passes
            // after some 25 characters; RFC 5322 allows 998 bytes, and a file needs no more.
            let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
            if crlf
                .split("\r\n")
                .all(|line| line.len() <= 998 && !line.contains(['\r', '\0']))
            {
                Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit)
            } else {
                Body::new(text.to_owned())
            }
        }
        Encoding::ForTransport => Body::new(text.to_owned()),
    };
    builder.body(body)
}

/// The e-mail of a rendered message. Its `Message-ID` is the outbox id's, so that a message sent
/// twice (a dispatcher that stopped between sending and recording it) is one message to mail
/// clients.
pub fn message(
    id: &str,
    rendered: &Rendered,
    settings: &MailSettings,
    date: SystemTime,
    encoding: Encoding,
) -> Result<Message, RenderError> {
    let to: Mailbox = rendered
        .to
        .parse()
        .map_err(|_| RenderError::Recipient(rendered.to.clone()))?;
    let domain = settings.from.email.domain().to_owned();
    let mut builder = Message::builder()
        .from(settings.from.clone())
        .to(to)
        .subject(&rendered.subject)
        .message_id(Some(format!("<{id}@{domain}>")))
        .date(date)
        .header(AutoSubmitted);
    if let Some(url) = &rendered.unsubscribe_url {
        builder = builder
            .header(ListUnsubscribe(url.clone()))
            .header(ListUnsubscribePost);
    }
    let body = MultiPart::alternative()
        .singlepart(text_part(ContentType::TEXT_PLAIN, &rendered.text, encoding))
        .singlepart(text_part(ContentType::TEXT_HTML, &rendered.html, encoding));
    let message = match &rendered.attachment {
        None => builder.multipart(body)?,
        Some(csv) => builder.multipart(MultiPart::mixed().multipart(body).singlepart(
            Attachment::new(csv.filename.clone()).body(
                csv.content.clone().into_bytes(),
                ContentType::parse("text/csv; charset=utf-8").map_err(|e| {
                    RenderError::Build(lettre::error::Error::Io(std::io::Error::other(e)))
                })?,
            ),
        ))?,
    };
    Ok(message)
}

/// `Auto-Submitted: auto-generated` (RFC 3834): out-of-office replies leave it alone.
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

/// `List-Unsubscribe: <url>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.trim_matches(['<', '>']).to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): mail clients may
/// unsubscribe with one POST to the link, without a page.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use secrecy::SecretString;
    use serde_json::json;

    fn settings() -> MailSettings {
        MailSettings {
            from: "共同調達 事務局 <no-reply@kyodo.example.lg.jp>"
                .parse()
                .unwrap(),
            base_url: "https://kyodo.example.lg.jp".to_owned(),
            unsubscribe: UnsubscribeLinks::new(&SecretString::from("s".repeat(40))),
        }
    }

    fn row(event: &str, recipient: &str, context: Value) -> OutboxRow {
        let at = NaiveDate::from_ymd_opt(2026, 12, 1)
            .and_then(|d| d.and_hms_opt(8, 0, 0))
            .unwrap();
        OutboxRow {
            id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".to_owned(),
            channel: "email".to_owned(),
            event: event.to_owned(),
            recipient: recipient.to_owned(),
            organization_id: None,
            round_id: None,
            context: context.to_string(),
            state: "pending".to_owned(),
            attempts: 0,
            next_attempt_at: at,
            claimed_until: None,
            claimed_by: None,
            last_error: None,
            created_at: at,
            sent_at: None,
        }
    }

    fn round(extra: Value) -> Value {
        let mut context = json!({
            "procurement_id": "p-1",
            "procurement_title": "AI議事録作成支援 <共同利用> & 保守",
            "round_id": "r-1",
            "round_kind": "commitment",
            "round_label": "本申込",
            "fiscal_year": null,
            "opens_at": "2026年12月1日(火) 09:00 JST",
            "closes_at": "2026年12月25日(金) 17:00 JST",
            "path": "/rounds/r-1",
            "organization_name": "阿智村",
        });
        context
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        context
    }

    fn snapshot(rendered: &Rendered) -> String {
        format!(
            "To: {}\nSubject: {}\nUnsubscribe: {}\nAttachment: {}\n\n--- text ---\n{}\n--- html ---\n{}",
            rendered.to,
            rendered.subject,
            rendered.unsubscribe_url.as_deref().unwrap_or("-"),
            rendered
                .attachment
                .as_ref()
                .map_or("-".to_owned(), |a| format!(
                    "{} ({} bytes)",
                    a.filename,
                    a.content.len()
                )),
            rendered.text,
            rendered.html
        )
    }

    /// Every event's message, as its recipient reads it.
    #[test]
    fn every_event_renders_in_japanese() {
        let templates = Templates::load().unwrap();
        let settings = settings();
        let cases = [
            row(
                "invitation",
                "hanako@vill.achi.nagano.jp",
                json!({"display_name": "信州 花子", "organization_name": "阿智村", "role": "coordinator", "role_label": "団体担当者", "inviter": "県 DX推進課", "expires_at": "2026年12月8日(火) 17:00 JST", "path": "/invitations/kyi_example"}),
            ),
            row(
                "round_opened",
                "dx@vill.achi.nagano.jp",
                round(json!({"reopened": false})),
            ),
            row(
                "round_opened",
                "dx@vill.achi.nagano.jp",
                round(json!({"reopened": true})),
            ),
            row(
                "reminder",
                "dx@vill.achi.nagano.jp",
                round(json!({"days_before": 7})),
            ),
            row(
                "deadline_extended",
                "dx@vill.achi.nagano.jp",
                round(json!({"previous_closes_at": "2026年12月18日(金) 17:00 JST"})),
            ),
            row(
                "round_cancelled",
                "dx@vill.achi.nagano.jp",
                round(json!({"reason": "予算措置の遅れのため"})),
            ),
            row(
                "round_closed",
                "dx@pref.nagano.lg.jp",
                round(
                    json!({"eligible": 87, "joined": 3, "declined": 1, "unanswered": 83, "joined_bodies": ["長野市", "松本市", "阿智村"]}),
                ),
            ),
            row(
                "allocation_finalized",
                "dx@vill.achi.nagano.jp",
                json!({"procurement_id": "p-1", "procurement_title": "AI議事録作成支援", "round_id": "r-1", "organization_name": "阿智村", "version": 1, "reason": null,
                       "shares": [{"pool": "基本", "fiscal_year": 2027, "amount": "¥418,174"}, {"pool": "LGWAN接続", "fiscal_year": 2027, "amount": "¥100,000"}],
                       "total": "¥518,174", "path": "/rounds/r-1", "csv_filename": "allocation-r-1-v1.csv", "csv": "\u{feff}団体コード,団体名\r\n203882,阿智村\r\n"}),
            ),
            row(
                "allocation_finalized",
                "dx@vill.achi.nagano.jp",
                json!({"procurement_id": "p-1", "procurement_title": "AI議事録作成支援", "round_id": "r-1", "organization_name": "阿智村", "version": 2, "reason": "契約額の訂正",
                       "shares": [{"pool": "基本", "fiscal_year": 2027, "amount": "¥400,000"}],
                       "total": "¥400,000", "path": "/rounds/r-1", "csv_filename": "allocation-r-1-v2.csv", "csv": "\u{feff}団体コード\r\n"}),
            ),
            row(
                "question_answered",
                "dx@vill.achi.nagano.jp",
                json!({"organization_name": "阿智村", "procurement_id": "p-1", "procurement_title": "AI議事録作成支援", "question": "LGWAN環境から\n利用できますか。", "answer": "はい、LGWAN-ASPとして提供されます。", "answered_at": "2026年12月2日(水) 10:30 JST", "path": "/procurements/p-1#questions"}),
            ),
        ];
        let mut all = String::new();
        for case in &cases {
            let rendered = templates.render(case, &settings).unwrap();
            assert!(rendered.subject.starts_with(SUBJECT_PREFIX), "{rendered:?}");
            // Every message builds, with its Japanese encoded for the wire.
            for encoding in [Encoding::ForTransport, Encoding::Readable] {
                message(
                    &case.id,
                    &rendered,
                    &settings,
                    std::time::UNIX_EPOCH,
                    encoding,
                )
                .unwrap();
            }
            all.push_str(&format!(
                "===== {} =====\n{}\n",
                case.event,
                snapshot(&rendered)
            ));
        }
        insta::assert_snapshot!(all);
        // Written to a file, the Japanese reads (and greps) as it is, the link with it.
        let invitation = &cases[0];
        let rendered = templates.render(invitation, &settings).unwrap();
        let file = message(
            &invitation.id,
            &rendered,
            &settings,
            std::time::UNIX_EPOCH,
            Encoding::Readable,
        )
        .unwrap()
        .formatted();
        let file = String::from_utf8(file).unwrap();
        assert!(file.contains("Content-Transfer-Encoding: 8bit"), "{file}");
        assert!(!file.contains("base64"), "{file}");
        assert!(file.contains("に招待されました"), "{file}");
        assert!(file.contains("/invitations/kyi_example"), "{file}");
    }

    #[test]
    fn html_is_escaped_in_the_html_part_only() {
        let templates = Templates::load().unwrap();
        let rendered = templates
            .render(
                &row(
                    "round_opened",
                    "dx@example.jp",
                    round(json!({"reopened": false})),
                ),
                &settings(),
            )
            .unwrap();
        assert!(
            rendered.subject.contains("<共同利用> & 保守"),
            "{}",
            rendered.subject
        );
        assert!(
            rendered.text.contains("<共同利用> & 保守"),
            "{}",
            rendered.text
        );
        assert!(
            rendered.html.contains("&lt;共同利用&gt; &amp; 保守"),
            "{}",
            rendered.html
        );
    }

    #[test]
    fn a_context_that_lacks_a_value_is_an_error_not_an_empty_string() {
        let templates = Templates::load().unwrap();
        let error = templates
            .render(
                &row("reminder", "dx@example.jp", json!({"path": "/"})),
                &settings(),
            )
            .unwrap_err();
        assert!(matches!(error, RenderError::Template(_)), "{error}");
    }
}

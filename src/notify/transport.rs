//! Where e-mail goes: an SMTP server (`SMTP_URL`), or, without one, `.eml` files in the data
//! directory's `outbox/` folder, which any mail program opens.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use lettre::transport::smtp::SmtpTransport;
use lettre::{FileTransport, Message, Transport};
use secrecy::{ExposeSecret, SecretString};

pub enum Mailer {
    Smtp(SmtpTransport),
    Files(FileTransport, PathBuf),
}

/// Why a message was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server refused it for good (a 5xx answer): trying again would not help.
    #[error("{0}")]
    Permanent(String),
    /// The server was unreachable, slow, or asked to try later.
    #[error("{0}")]
    Transient(String),
}

impl Mailer {
    /// `smtp://` (STARTTLS when the server offers it, `?tls=required` to insist), `smtps://`
    /// (TLS from the start), with `user:password@` when the server wants a login; without a URL,
    /// files in `data_dir/outbox`.
    pub fn new(
        smtp_url: Option<&SecretString>,
        data_dir: &Path,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        match smtp_url {
            Some(url) => {
                let transport = SmtpTransport::from_url(url.expose_secret())
                    .context("SMTP_URL is not a valid smtp:// or smtps:// URL")?
                    .timeout(Some(timeout))
                    .build();
                Ok(Self::Smtp(transport))
            }
            None => {
                let dir = data_dir.join("outbox");
                crate::db::create_data_dir(&dir)?;
                Ok(Self::Files(FileTransport::new(&dir), dir))
            }
        }
    }

    /// Where messages go, for the log: the SMTP server, or the folder.
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp(_) => "SMTP".to_owned(),
            Self::Files(_, dir) => format!(".eml files in {}", dir.display()),
        }
    }

    /// Delivers `message`, blocking until the server has answered.
    pub fn send(&self, message: &Message) -> Result<(), SendError> {
        match self {
            Self::Smtp(transport) => transport.send(message).map(drop).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
            Self::Files(transport, _) => transport
                .send(message)
                .map(drop)
                .map_err(|e| SendError::Transient(e.to_string())),
        }
    }
}

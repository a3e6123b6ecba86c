//! Settings come from the command line or the environment (the README's configuration table lists
//! the variables; a test keeps the table, `docker-compose.yml` and this file in step).

use std::net::SocketAddr;
use std::path::PathBuf;

use actix_web::http::Uri;
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

#[derive(Debug, Parser)]
#[command(
    name = "kyodo",
    version,
    about = "Joint-procurement coordination service for municipalities"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load the council's 89 member bodies (idempotent) and exit.
    Seed {
        /// Also load the demonstration procurements (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Create an administrator of 長野県 and exit; prints a generated password if none is given.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<SecretString>,
    },
    /// Print the OpenAPI document to standard output.
    Openapi,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// `sqlite://path/to/file.db` or `postgres://user:pass@host/db`; defaults to SQLite in DATA_DIR.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// Directory for the SQLite database and the generated signing secret.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The address clients reach the service at, e.g. `https://kyodo.example.lg.jp`; when it is
    /// https, answers tell browsers to use nothing else.
    #[arg(long, env = "PUBLIC_BASE_URL", value_parser = parse_public_base_url)]
    pub public_base_url: Option<Uri>,
    /// Address and port the HTTP server listens on.
    #[arg(long, env = "BIND_ADDRESS", default_value = "127.0.0.1:8080")]
    pub bind_address: SocketAddr,
    /// Maximum number of pooled database connections.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: u32,
    /// PostgreSQL: how many connections run write transactions, each committing the ones that
    /// wait for it together (SQLite has one).
    #[arg(long, env = "DATABASE_WRITE_LANES", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub database_write_lanes: u16,
    /// HMAC secret for access tokens; generated once into DATA_DIR when unset.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,
    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECONDS", default_value_t = 900)]
    pub access_token_ttl_seconds: i64,
    /// Lifetime of a refresh token, in days.
    #[arg(long, env = "REFRESH_TOKEN_TTL_DAYS", default_value_t = 30)]
    pub refresh_token_ttl_days: i64,
    /// How long a sign-in to the web console lasts, in hours.
    #[arg(long, env = "CONSOLE_SESSION_HOURS", default_value_t = 12)]
    pub console_session_hours: i64,
    /// E-mail of the first administrator, created on first start when there are no users.
    #[arg(long, env = "ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of the first administrator (with ADMIN_EMAIL).
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<SecretString>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 262_144)]
    pub max_body_bytes: usize,
    /// Login attempts allowed per account per minute.
    #[arg(long, env = "LOGIN_ATTEMPTS_PER_ACCOUNT", default_value_t = 5)]
    pub login_attempts_per_account: u32,
    /// Login attempts allowed per client address per minute.
    #[arg(long, env = "LOGIN_ATTEMPTS_PER_ADDRESS", default_value_t = 30)]
    pub login_attempts_per_address: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// How many proxies in front of the service append to `X-Forwarded-For`: the client address
    /// is that many entries from the right.
    #[arg(long, env = "TRUSTED_PROXY_HOPS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    pub trusted_proxy_hops: u8,
    /// Bearer secret that `/metrics` asks for; without it `/metrics` is off.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<SecretString>,
    /// Seconds between the scheduler's passes over due rounds; 0 turns the scheduler off.
    #[arg(long, env = "SCHEDULER_INTERVAL_SECONDS", default_value_t = 5)]
    pub scheduler_interval_seconds: u64,
    /// Where e-mail goes: `smtp://host:587` (STARTTLS when offered; `?tls=required` insists),
    /// `smtps://host:465` (TLS), with `user:password@` for a login. Unset, each message is written
    /// as an `.eml` file into `DATA_DIR/outbox/`.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SecretString>,
    /// Seconds the SMTP server may take to answer before an attempt counts as failed.
    #[arg(long, env = "SMTP_TIMEOUT_SECONDS", default_value_t = 30)]
    pub smtp_timeout_seconds: u64,
    /// The sender of every e-mail.
    #[arg(long, env = "MAIL_FROM", default_value = "共同調達 事務局 <no-reply@localhost>", value_parser = parse_mailbox)]
    pub mail_from: lettre::message::Mailbox,
    /// Milliseconds between the dispatcher's looks at the outbox when nothing wakes it sooner; 0
    /// leaves messages in the outbox (another instance delivers them).
    #[arg(long, env = "DISPATCH_INTERVAL_MS", default_value_t = 1000)]
    pub dispatch_interval_ms: u64,
    /// Attempts at delivering a message before it is `failed` (30 s after the first, doubling up
    /// to an hour between attempts).
    #[arg(long, env = "DELIVERY_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub delivery_attempts: u32,
    /// Let webhooks use plain http and private, loopback and link-local addresses (closed networks,
    /// tests). Off, they must be https to public addresses.
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// Seconds a webhook receiver may take to answer.
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10)]
    pub webhook_timeout_seconds: u64,
    /// Hours an endpoint may fail every delivery before it is disabled and its owner e-mailed.
    #[arg(long, env = "WEBHOOK_DISABLE_AFTER_HOURS", default_value_t = 72)]
    pub webhook_disable_after_hours: i64,
    /// Memory for cached answers to hot reads, in MiB; 0 turns the cache off.
    #[arg(long, env = "READ_CACHE_MIB", default_value_t = 8)]
    pub read_cache_mib: usize,
    /// Serve finalized allocations as OCDS (`/api/v1/ocds/releases`) without signing in: they are
    /// public budget figures. `false` asks for a login.
    #[arg(long, env = "PUBLIC_OCDS", default_value_t = true, action = clap::ArgAction::Set)]
    pub public_ocds: bool,
    /// The OCDS `ocid` prefix: `ocds-` and the prefix registered for the publisher.
    #[arg(long, env = "OCDS_OCID_PREFIX", default_value = "ocds-kyodo")]
    pub ocds_ocid_prefix: String,
    /// Log filter, e.g. `info` or `kyodo=debug,actix_web=info`.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
    /// `json` (one object per line), `text`, or `auto`: text on a terminal, JSON otherwise.
    #[arg(long, env = "LOG_FORMAT", default_value = "auto")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text when standard output is a terminal (a person is reading), JSON otherwise.
    Auto,
    Json,
    Text,
}

impl Config {
    /// The settings of a bare start: defaults, overridden by the environment.
    pub fn defaults() -> Self {
        Cli::parse_from(["kyodo"]).config
    }

    /// Every environment variable the service reads.
    pub fn environment_variables() -> Vec<String> {
        use clap::CommandFactory;
        let command = Cli::command();
        let mut names: Vec<String> = command
            .get_arguments()
            .chain(
                command
                    .get_subcommands()
                    .flat_map(|sub| sub.get_arguments()),
            )
            .filter_map(|arg| arg.get_env())
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

fn parse_public_base_url(value: &str) -> Result<Uri, String> {
    let uri: Uri = value.parse().map_err(|e| format!("{e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err("expected an absolute http:// or https:// address".to_owned()),
    }
}

fn parse_mailbox(value: &str) -> Result<lettre::message::Mailbox, String> {
    value.parse().map_err(|e| {
        format!("expected an address such as `共同調達 事務局 <no-reply@example.lg.jp>`: {e}")
    })
}

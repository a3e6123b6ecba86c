//! What a start needs before serving: the database migrated and seeded, a signing secret, and a
//! first administrator.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::password;
use crate::config::Config;
use crate::db::users::UserRow;
use crate::db::{self, DatabaseUrl, DbConnection, Pool};
use crate::domain::email::Email;
use crate::domain::id::UserId;
use crate::domain::password::Password;
use crate::domain::user::Role;
use crate::{clock, demo};

/// The prefecture, whose users run the council's secretariat.
const PREFECTURE_LG_CODE: &str = "200000";
const LOCAL_ADMIN_EMAIL: &str = "admin@localhost";
const SECRET_FILE: &str = "jwt_secret";

pub fn database_url(config: &Config) -> anyhow::Result<DatabaseUrl> {
    match &config.database_url {
        Some(url) => DatabaseUrl::parse(url.expose_secret()),
        None => Ok(DatabaseUrl::sqlite_in(&config.data_dir)),
    }
}

/// Connects, applies migrations and, on an empty database, loads the council's members.
pub fn prepare_database(config: &Config) -> anyhow::Result<(Pool, DatabaseUrl)> {
    let url = database_url(config)?;
    let pool = db::connect_pool(&url, config.database_pool_size)?;
    let mut conn = pool.get().context("getting a database connection")?;
    db::run_migrations(&mut conn)?;
    if db::organizations::count(&mut conn)? == 0 {
        let report = db::transaction(&mut conn, db::seed::seed_council)?;
        tracing::info!(
            organizations = report.organizations_created,
            "loaded the council's member bodies"
        );
        // The embedded default shows what the service does; a production database starts empty.
        // Dated by the system's time, as the seed is: this runs before the service (and its
        // clock) exists, and for the `seed` command, which has none.
        if config.database_url.is_none() {
            let created = db::transaction(&mut conn, |conn| demo::load(conn, clock::utc_now()))
                .map_err(|e| anyhow::anyhow!("loading the demonstration procurements: {e}"))?;
            tracing::info!(
                procurements = created,
                "loaded the demonstration procurements"
            );
        }
    }
    Ok((pool, url))
}

/// `JWT_SECRET`, or a secret generated once and kept (owner-only) in the data directory.
pub fn jwt_secret(config: &Config, url: &DatabaseUrl) -> anyhow::Result<SecretString> {
    if let Some(secret) = &config.jwt_secret {
        if secret.expose_secret().len() < 32 {
            bail!("JWT_SECRET must have at least 32 characters");
        }
        return Ok(secret.clone());
    }
    if matches!(url, DatabaseUrl::Postgres(_)) {
        tracing::warn!(
            "JWT_SECRET is unset: instances that do not share DATA_DIR will reject each other's tokens"
        );
    }
    let path = config.data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(secret) if secret.trim().len() >= 32 => Ok(SecretString::from(secret.trim().to_owned())),
        Ok(_) => bail!(
            "{} is shorter than 32 characters; delete it to generate a new one",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_new_secret(&path),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_new_secret(path: &Path) -> anyhow::Result<SecretString> {
    if let Some(dir) = path.parent() {
        db::create_data_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let secret = random_text(48);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(secret.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a token signing secret");
    Ok(SecretString::from(secret))
}

fn random_text(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::fill(buffer.as_mut_slice());
    URL_SAFE_NO_PAD.encode(buffer)
}

/// Credentials to show once on the console.
pub struct FirstAdmin {
    pub email: String,
    pub generated_password: Option<SecretString>,
}

/// With no users yet: the administrator from `ADMIN_EMAIL`/`ADMIN_PASSWORD`, or `admin@localhost`
/// with a random password.
pub fn ensure_first_admin(pool: &Pool, config: &Config) -> anyhow::Result<Option<FirstAdmin>> {
    let mut conn = pool.get()?;
    if db::users::count(&mut conn)? > 0 {
        return Ok(None);
    }
    let (email, password, generated) = match (&config.admin_email, &config.admin_password) {
        (Some(email), Some(password)) => (email.clone(), password.clone(), false),
        (None, None) => (
            LOCAL_ADMIN_EMAIL.to_owned(),
            SecretString::from(random_text(18)),
            true,
        ),
        _ => bail!("set both ADMIN_EMAIL and ADMIN_PASSWORD, or neither"),
    };
    match create_admin(&mut conn, &email, password.clone()) {
        Ok(user) => Ok(Some(FirstAdmin {
            email: user.email,
            generated_password: generated.then_some(password),
        })),
        // Another instance starting at the same moment created it.
        Err(e) if db::users::count(&mut conn)? > 0 => {
            tracing::info!(error = %format!("{e:#}"), "another instance created the first administrator");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Creates an active administrator of 長野県.
pub fn create_admin(
    conn: &mut DbConnection,
    email: &str,
    password: SecretString,
) -> anyhow::Result<UserRow> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let password = Password::parse(password, &[email.as_str()])
        .map_err(|e| anyhow::anyhow!("admin password: {e}"))?;
    let hash = password::hash(&password)?;
    db::transaction(conn, |conn| {
        if db::users::find_by_email(conn, email.as_str())?.is_some() {
            bail!("{email} already has an account");
        }
        let prefecture = db::organizations::find_by_lg_code(conn, PREFECTURE_LG_CODE)?
            .context("長野県 is missing: run the `seed` command first")?;
        // Also run from the command line, where there is no service and so no injected clock.
        let now = crate::clock::utc_now();
        let user = UserRow {
            id: UserId::generate(),
            organization_id: prefecture.id,
            email: email.to_string(),
            display_name: "管理者".to_owned(),
            role: Role::Admin,
            password_hash: Some(hash),
            invitation_token_hash: None,
            invitation_expires_at: None,
            created_by: None,
            created_at: now,
            updated_at: now,
        };
        db::users::insert(conn, &user)?;
        Ok(user)
    })
}

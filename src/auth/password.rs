use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::domain::password::Password;

/// Hashes computed at once. Each takes Argon2's 19 MiB for as long as it runs, so a burst of
/// logins waits here instead of growing the service by 19 MiB a login; one per core (at most
/// four) keeps every core busy.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    tokio::sync::Semaphore::new(cores.clamp(1, MAX_HASHING))
});
pub const MAX_HASHING: usize = 4;

/// Runs `work` (a hash or a verification) on the blocking pool once `HASHING` has room.
pub async fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, actix_web::error::BlockingError> {
    // The semaphore is never closed, so acquiring only waits.
    let _permit = HASHING.acquire().await.ok();
    actix_web::web::block(work).await
}

pub fn hash(password: &Password) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Verifies against `hash`, or against a dummy hash when the account has none, so that the time
/// taken does not tell whether an account exists.
pub fn verify(candidate: &str, hash: Option<&str>) -> bool {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        Argon2::default()
            .hash_password(b"no account has this password")
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    let matches = Argon2::default()
        .verify_password(candidate.as_bytes(), hash.unwrap_or(DUMMY.as_str()))
        .is_ok();
    matches && hash.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_hashed_password() {
        let password = Password::parse("correct horse battery".into(), &[]).unwrap();
        let hashed = hash(&password).unwrap();
        assert!(hashed.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&hashed)));
        assert!(!verify("correct horse battery!", Some(&hashed)));
        assert!(!verify("no account has this password", None));
    }

    #[actix_web::test]
    async fn no_more_hashes_run_at_once_than_the_bound() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let work = (0..16).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            bounded(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
            })
        });
        for done in futures_util::future::join_all(work).await {
            done.unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=MAX_HASHING).contains(&most), "{most} at once");
    }
}

//! Answers to the hottest reads, kept until the database changes. The cache stores rendered
//! responses itself and offers [`Memo`] to callers that keep values of their own (auth keeps its
//! verified API tokens in one): it knows the database's generation, not what it holds.
//!
//! Every entry carries the *generation* it was computed in; any change to the database starts a
//! new generation, and entries of an older one are never served. Changes are noticed two ways:
//! - a write transaction of this instance starts a new generation as it commits
//!   (`AppState::transaction`), so a client always reads its own writes;
//! - a watcher thread asks the database every [`WATCH_INTERVAL`] whether anything committed since
//!   its last look (SQLite: `PRAGMA data_version`; PostgreSQL: the current snapshot, which changes
//!   whenever a transaction that wrote commits), so other instances' and other processes' writes
//!   show within that interval.
//!
//! While the watcher cannot reach the database, nothing is cached or served from the cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use diesel::{QueryableByName, RunQueryDsl};

use crate::db::{self, DatabaseUrl, DbConnection};

/// How often the watcher looks for changes committed elsewhere.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(20);
/// Without an answer from the database for this long, the cache is not used.
const MAX_SILENCE: Duration = Duration::from_secs(1);

pub struct ReadCache {
    generation: AtomicU64,
    /// True while the watcher is connected and looking.
    live: AtomicBool,
    /// When the watcher last heard from the database, in milliseconds since `started`: a watcher
    /// stuck on a connection that neither answers nor fails must not leave old answers in use.
    last_look: AtomicU64,
    started: Instant,
    pub responses: Memo<Bytes>,
    /// The generation, for those who wait for the next change (live estimates).
    changes: tokio::sync::watch::Sender<u64>,
}

/// One kind of cached value, bounded by the bytes it holds; full means cleared.
pub struct Memo<V> {
    entries: Mutex<Entries<V>>,
    budget: usize,
}

struct Entries<V> {
    generation: u64,
    bytes: usize,
    map: HashMap<String, V>,
}

/// What a cached value costs, for the budget.
pub trait Weight {
    fn weight(&self) -> usize;
}

impl Weight for Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

impl ReadCache {
    /// A cache holding at most `budget` bytes of responses; 0 turns caching off.
    pub fn new(budget: usize) -> Self {
        Self {
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
            last_look: AtomicU64::new(0),
            started: Instant::now(),
            responses: Memo::new(budget),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The generation to store a value under: read it before reading the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The database changed: every entry cached so far is stale.
    pub fn invalidate(&self) {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.changes.send_replace(generation);
    }

    /// Wakes whenever the database changes: a commit of this instance, or one the watcher saw.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn usable(&self) -> Option<u64> {
        let heard = Duration::from_millis(self.last_look.load(Ordering::Acquire));
        let fresh = self.started.elapsed().saturating_sub(heard) < MAX_SILENCE;
        (fresh && self.live.load(Ordering::Acquire)).then(|| self.generation())
    }

    fn looked(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_look.store(now, Ordering::Release);
    }

    pub fn get<V: Clone>(&self, memo: &Memo<V>, key: &str) -> Option<V> {
        memo.get(key, self.usable()?)
    }

    /// Keeps `value`, computed from a read that started in `generation`, unless the database has
    /// changed since.
    pub fn put<V: Weight>(&self, memo: &Memo<V>, key: String, generation: u64, value: V) {
        if self.usable() == Some(generation) {
            memo.put(key, generation, value);
        }
    }

    fn set_live(&self, live: bool) {
        if live != self.live.load(Ordering::Acquire) {
            // Whatever was read while the watcher was away may be stale.
            self.invalidate();
            self.live.store(live, Ordering::Release);
        }
    }
}

impl<V> Memo<V> {
    /// Holds at most `budget` bytes. Read and fill it through [`ReadCache::get`] and
    /// [`ReadCache::put`]: only they know whether an entry is still current.
    pub fn new(budget: usize) -> Self {
        Self {
            entries: Mutex::new(Entries {
                generation: 0,
                bytes: 0,
                map: HashMap::new(),
            }),
            budget,
        }
    }

    fn get(&self, key: &str, generation: u64) -> Option<V>
    where
        V: Clone,
    {
        let entries = self.entries.lock().ok()?;
        (entries.generation == generation)
            .then(|| entries.map.get(key).cloned())
            .flatten()
    }

    fn put(&self, key: String, generation: u64, value: V)
    where
        V: Weight,
    {
        let weight = key.len() + value.weight();
        if weight > self.budget {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.generation != generation || entries.bytes + weight > self.budget {
            entries.map.clear();
            entries.bytes = 0;
            entries.generation = generation;
        }
        if let Some(old) = entries.map.insert(key.clone(), value) {
            entries.bytes -= key.len() + old.weight();
        }
        entries.bytes += weight;
    }
}

/// Starts the watcher on its own thread and connection; it ends when the cache is dropped.
pub fn watch(cache: &Arc<ReadCache>, url: &DatabaseUrl) -> std::io::Result<()> {
    let cache = Arc::downgrade(cache);
    let url = url.clone();
    std::thread::Builder::new()
        .name("cache-watcher".into())
        .spawn(move || run_watcher(&cache, &url))
        .map(drop)
}

fn run_watcher(cache: &Weak<ReadCache>, url: &DatabaseUrl) {
    let mut connection: Option<DbConnection> = None;
    let mut seen: Option<String> = None;
    while let Some(cache) = cache.upgrade() {
        let conn = match connection.as_mut() {
            Some(conn) => conn,
            None => match db::connect(url) {
                Ok(conn) => connection.insert(conn),
                Err(error) => {
                    tracing::warn!(%error, "the cache watcher cannot connect; not caching");
                    cache.set_live(false);
                    drop(cache);
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            },
        };
        match database_version(conn) {
            Ok(version) => {
                if seen.as_ref().is_some_and(|seen| *seen != version) {
                    cache.invalidate();
                }
                seen = Some(version);
                cache.looked();
                cache.set_live(true);
            }
            Err(error) => {
                tracing::warn!(%error, "the cache watcher lost the database; not caching");
                cache.set_live(false);
                connection = None;
                seen = None;
            }
        }
        drop(cache);
        std::thread::sleep(WATCH_INTERVAL);
    }
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// Something that differs after any commit since it was last asked on this connection.
fn database_version(conn: &mut DbConnection) -> diesel::QueryResult<String> {
    let query = match conn {
        // Counts commits by other connections, this process's pool included.
        DbConnection::Sqlite(_) => {
            "SELECT CAST(data_version AS TEXT) AS version FROM pragma_data_version()"
        }
        // `xmin:xmax:running`: a commit removes its transaction from the running list, and a
        // transaction that started writing after the last look has moved xmax.
        DbConnection::Postgres(_) => "SELECT pg_current_snapshot()::text AS version",
    };
    diesel::sql_query(query)
        .get_result::<Version>(conn)
        .map(|v| v.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(budget: usize) -> ReadCache {
        let cache = ReadCache::new(budget);
        cache.looked();
        cache.set_live(true);
        cache
    }

    #[test]
    fn a_silent_watcher_stops_the_cache() {
        let mut cache = live(1024);
        let generation = cache.generation();
        cache.put(&cache.responses, "a".into(), generation, Bytes::from("1"));
        assert!(cache.get(&cache.responses, "a").is_some());
        // As if the watcher's last answer had come longer ago than allowed.
        cache.started = cache.started.checked_sub(MAX_SILENCE * 2).unwrap();
        assert_eq!(cache.get(&cache.responses, "a"), None);
    }

    #[test]
    fn serves_only_the_generation_it_was_read_in() {
        let cache = live(1024);
        let generation = cache.generation();
        cache.put(&cache.responses, "a".into(), generation, Bytes::from("1"));
        assert_eq!(cache.get(&cache.responses, "a"), Some(Bytes::from("1")));
        cache.invalidate();
        assert_eq!(cache.get(&cache.responses, "a"), None);
        // A read that started before the change is not kept.
        cache.put(&cache.responses, "a".into(), generation, Bytes::from("1"));
        assert_eq!(cache.get(&cache.responses, "a"), None);
    }

    #[test]
    fn nothing_is_cached_while_not_watching() {
        let cache = ReadCache::new(1024);
        cache.put(
            &cache.responses,
            "a".into(),
            cache.generation(),
            Bytes::from("1"),
        );
        assert_eq!(cache.get(&cache.responses, "a"), None);
        let cache = live(1024);
        let generation = cache.generation();
        cache.put(&cache.responses, "a".into(), generation, Bytes::from("1"));
        cache.set_live(false);
        cache.set_live(true);
        assert_eq!(cache.get(&cache.responses, "a"), None);
    }

    #[test]
    fn stays_within_its_budget() {
        let cache = live(10);
        let generation = cache.generation();
        cache.put(
            &cache.responses,
            "a".into(),
            generation,
            Bytes::from("12345"),
        );
        cache.put(
            &cache.responses,
            "b".into(),
            generation,
            Bytes::from("12345"),
        );
        assert_eq!(cache.get(&cache.responses, "a"), None);
        assert!(cache.get(&cache.responses, "b").is_some());
        cache.put(
            &cache.responses,
            "c".into(),
            generation,
            Bytes::from("much too long"),
        );
        assert_eq!(cache.get(&cache.responses, "c"), None);
        let off = live(0);
        off.put(
            &off.responses,
            "a".into(),
            off.generation(),
            Bytes::from("1"),
        );
        assert_eq!(off.get(&off.responses, "a"), None);
    }
}

//! The metadata cache: file status and directory listings per mount key, so repeated opens
//! and listings (every epoch lists and opens the same dataset) ask the store once.
//!
//! Entries are fresh for `shoal.metadata.ttl` (default 30 s); "not found" answers live
//! `shoal.metadata.negative.ttl` (default 5 s); on a mount with `immutable=true` found entries
//! never expire, and a name its directory's listing lacks is "not found" for the negative TTL
//! from the listing's start. Every change made through Shoal drops the entries it can affect.
//!
//! **Revalidation costs a listing per directory, not a request per file.** A status that came
//! from a listing is refreshed with one listing of its directory (a listing carries every
//! file's ETag), as is a listing itself:
//! - in the last quarter of an entry's TTL, the first lookup that finds it starts that listing
//!   in the background (at most `MAX_BACKGROUND` at once per cache) and is served from the
//!   cache; the listing replaces the directory's entries when it returns;
//! - past its TTL an entry is served only while a listing of its directory that started before
//!   it expired is still running (stale-while-revalidate); otherwise the lookup lists the
//!   directory itself and looks again;
//! - every lookup that needs a directory listed while one is running waits for that one
//!   (single-flight per directory).
//!
//! So what a lookup returns was answered by the store at most the TTL plus one listing's
//! duration ago (each page of a listing is one call, bounded by `shoal.store.timeout`). A
//! directory is relisted page by page whatever its size (a copy of at most a quarter of the
//! cache is held while it is read; one that outgrows it is dropped and the directory
//! forgotten, so its files are then asked for one by one rather than relisted again). A status
//! the store gave alone (a HEAD), a file that is not in its directory's listing and a
//! directory of more than `shoal.metadata.relist.max.entries` entries (unlimited by default)
//! are asked for again one by one. A background listing that fails leaves the entries to
//! expire at their TTL (no retry before that); the lookup after that lists again itself and
//! returns the store's error.
//!
//! The cache is bounded in bytes (`shoal.metadata.max.size`, default 256 MiB), each entry
//! weighed by what it holds; an expired entry is held at most one more TTL. A listing keeps the
//! statuses of its entries once, sorted by key: a status is looked up in its own entry and in
//! its parent directory's listing, and in the files of that directory a flat listing of a tree
//! gave (one entry per directory), by binary search; the most recently fetched answer wins. So
//! a listed file's status costs its `Entry` and its strings, about 150 bytes for an object
//! with a 20-character key (`benchmarks/scale` measures it), and a status asked for alone
//! `STATUS_OVERHEAD` more.
//!
//! **A first listing answers for the tree below it.** A directory listed for the first time
//! (no listing of it held) is read as one flat listing of its tree where the store has one
//! (S3, GCS, Azure), for at most `shoal.metadata.tree.max.entries` objects
//! (`Namespace::list_tree`, `store::tree_listings`): the listing of every directory that
//! listing held whole is kept ([`MetadataCache::keep_tree`]), with the time the flat listing
//! started, in at most a quarter of the cache together. A directory whose entries a flat
//! listing cannot tell (an empty object: a file or a directory marker) is marked to be listed
//! alone for a TTL ([`MetadataCache::list_alone`]).
//!
//! **A listing never evicts itself.** Listings reach the caller page by page
//! (`crate::namespace::Listing`) and are copied for the cache as they go ([`ListingCopy`]): a
//! directory's listing is kept when it ends whole within a quarter of the cache, a flat listing
//! of a tree when it fits in half of it (one entry per directory, as many directories as fit).
//! A copy that outgrows its room is dropped at once and nothing of that listing is kept, so a
//! listing holds at most one page plus its room, whatever the directory's size.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::store::Entry;

pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_SIZE: u64 = 256 << 20;
/// Directories with more entries than this are revalidated one status at a time. By default
/// every directory whose listing the cache holds is revalidated by listing it again, page by
/// page (bounded memory): only a process that listed the whole directory holds its listing, and
/// listing it again costs the requests that listing did.
pub const DEFAULT_RELIST_MAX_ENTRIES: u64 = 1 << 32;
/// Objects a first listing of a directory reads as one flat listing of its tree (five S3
/// pages): the directories below it are then listed with no request of their own, and a tree
/// larger than that costs at most these pages more, which still answer for the directories
/// they held whole.
pub const DEFAULT_TREE_MAX_ENTRIES: u64 = 5000;
/// Background listings one cache runs at once; an entry that finds them all busy is refreshed
/// when it expires.
pub const MAX_BACKGROUND: usize = 8;
/// Bytes an entry costs beyond its strings: the cache's own bookkeeping (hash table slot,
/// access-order and expiry nodes) and the `Entry` itself.
pub const STATUS_OVERHEAD: u64 = 160;
/// What the deprecated `shoal.metadata.max.entries` is taken to mean, per entry.
const BYTES_PER_ENTRY: u64 = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataSettings {
    pub ttl: Duration,
    pub negative_ttl: Duration,
    /// Bytes the cache may hold, as its entries are weighed.
    pub max_size: u64,
    /// The largest directory (in entries) revalidated by listing it; 0: never.
    pub relist_max_entries: u64,
    /// Objects a first listing of a directory reads from one flat listing of its tree, to
    /// answer the listings of the directories below it too; 0: each directory listed alone.
    pub tree_max_entries: u64,
}

impl MetadataSettings {
    pub fn from_config(c: &Config) -> Result<Self> {
        // `shoal.metadata.max.entries` (deprecated) counts entries; `max.size` wins.
        let by_entries = match c.get("shoal.metadata.max.entries") {
            Some(v) if !v.trim().is_empty() => Some(
                c.get_count("shoal.metadata.max.entries", 1)?
                    .saturating_mul(BYTES_PER_ENTRY),
            ),
            _ => None,
        };
        Ok(MetadataSettings {
            ttl: c.get_duration("shoal.metadata.ttl", DEFAULT_TTL)?,
            negative_ttl: c.get_duration("shoal.metadata.negative.ttl", DEFAULT_NEGATIVE_TTL)?,
            max_size: c.get_size(
                "shoal.metadata.max.size",
                by_entries.unwrap_or(DEFAULT_MAX_SIZE),
            )?,
            relist_max_entries: c.get_count(
                "shoal.metadata.relist.max.entries",
                DEFAULT_RELIST_MAX_ENTRIES,
            )?,
            tree_max_entries: c
                .get_count("shoal.metadata.tree.max.entries", DEFAULT_TREE_MAX_ENTRIES)?,
        })
    }
}

fn entry_weight(e: &Entry) -> u64 {
    e.key.len() as u64
        + e.etag.as_ref().map_or(0, |t| t.len() as u64)
        + e.version.as_ref().map_or(0, |t| t.len() as u64)
}

/// What a cached value weighs: see the module's notes.
fn weight(key: &str, v: &Timed) -> u64 {
    key.len() as u64
        + match &v.value {
            Value::Status(None) | Value::Listed(_) => STATUS_OVERHEAD,
            Value::Status(Some(e)) => STATUS_OVERHEAD + entry_weight(e),
            Value::Listing(l) => {
                STATUS_OVERHEAD
                    + l.iter()
                        .map(|e| entry_weight(e) + std::mem::size_of::<Entry>() as u64)
                        .sum::<u64>()
            }
        }
}

#[derive(Clone)]
enum Value {
    Status(Option<Entry>),
    /// A directory's listing, or the files of a directory a flat listing gave; sorted by key.
    Listing(Arc<Vec<Entry>>),
    /// A directory was listed, with this many entries: kept after its listing is dropped, so
    /// that its files are revalidated by listing it again rather than one by one.
    Listed(usize),
}

#[derive(Clone)]
struct Timed {
    value: Value,
    /// How long it is fresh; `None`: forever.
    ttl: Option<Duration>,
    /// When the store was asked for it (a listing) or answered it (a status).
    fetched: Instant,
}

struct ByValue;

impl moka::Expiry<String, Timed> for ByValue {
    fn expire_after_create(&self, _k: &String, v: &Timed, now: Instant) -> Option<Duration> {
        let ttl = v.ttl?;
        // A found entry is held one TTL past its freshness, to be served while it is relisted.
        let keep = match v.value {
            Value::Status(None) => ttl,
            _ => ttl.saturating_mul(2),
        };
        Some(keep.saturating_sub(now.saturating_duration_since(v.fetched)))
    }
}

/// What a lookup found, and what the caller does about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<T> {
    /// Serve it; with a directory, also start a background listing of it
    /// ([`MetadataCache::start_relist`] with `background`).
    Hit(T, Option<String>),
    /// List this directory (or wait for the listing of it that is running), then look again.
    Relist(String),
    /// Not cached: ask the store.
    Miss,
}

type DirKey = (String, String);

/// One listing of a directory that refreshes the cache, and the lookups waiting for it.
#[derive(Debug)]
pub struct Flight {
    started: Instant,
    /// The process that runs it: a forked child does not wait for its parent's threads.
    pid: u32,
    done: Mutex<Option<Result<()>>>,
    cv: Condvar,
}

#[derive(Default)]
struct Flights {
    running: HashMap<DirKey, Arc<Flight>>,
    /// When the last background listing of a directory that failed was started.
    failed: HashMap<DirKey, Instant>,
}

/// What [`MetadataCache::start_relist`] says.
#[derive(Debug)]
pub enum Relist {
    /// List the directory and hand the outcome to the guard.
    Lead(RelistGuard),
    /// A listing of it is running: wait for its outcome.
    Join(Arc<Flight>),
    /// (Background only) a listing is running, or enough are.
    Busy,
}

/// The copy of a listing the cache will keep, filled page by page as the listing is read:
/// while its entries weigh at most `room` (a quarter of the cache for a directory's listing,
/// half of it for a flat listing of a tree). Past that it drops what it held and takes no more,
/// and the listing is not kept: so a listing read for a caller holds one page and at most
/// `room` bytes of copy, whatever its size, and never evicts itself.
#[derive(Debug)]
pub struct ListingCopy {
    /// `None` once the listing outgrew `room`.
    entries: Option<Arc<Vec<Entry>>>,
    weight: u64,
    room: u64,
    started: Instant,
    generation: u64,
}

impl ListingCopy {
    fn new(room: u64, started: Instant, generation: u64) -> Self {
        ListingCopy {
            entries: Some(Arc::default()),
            weight: 0,
            room,
            started,
            generation,
        }
    }

    /// A listing read whole (no room limit here: `put_relisted` decides).
    fn whole(entries: Arc<Vec<Entry>>, started: Instant) -> Self {
        ListingCopy {
            entries: Some(entries),
            weight: 0,
            room: u64::MAX,
            started,
            generation: 0,
        }
    }

    /// Copies one page; false once the listing is past what the cache keeps.
    pub fn add(&mut self, page: &[Entry]) -> bool {
        let Some(held) = self.entries.as_mut() else {
            return false;
        };
        let add: u64 = page
            .iter()
            .map(|e| entry_weight(e) + std::mem::size_of::<Entry>() as u64)
            .sum();
        if self.weight + add > self.room {
            self.entries = None;
            return false;
        }
        self.weight += add;
        Arc::make_mut(held).extend_from_slice(page);
        true
    }

    /// Entries the copy holds now.
    pub fn held(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| e.len())
    }

    /// Whether the whole listing so far fits.
    pub fn fits(&self) -> bool {
        self.entries.is_some()
    }
}

/// Held by whoever lists a directory for the cache; dropping it unfinished fails the waiters.
#[derive(Debug)]
pub struct RelistGuard {
    cache: Arc<Shared>,
    key: DirKey,
    flight: Arc<Flight>,
    background: bool,
    immutable: bool,
    /// The cache's generation when the listing started: a change made through Shoal since
    /// then (which drops entries) keeps the listing out of the cache.
    generation: u64,
    finished: bool,
}

impl RelistGuard {
    /// Caches the listing (on success), wakes the lookups waiting for it and returns it.
    pub fn finish(self, listed: Result<Vec<Entry>>) -> Result<Arc<Vec<Entry>>> {
        let listed = listed.map(|v| sorted(Arc::new(v)));
        let started = self.flight.started;
        self.finish_copy(listed.clone().map(|v| ListingCopy::whole(v, started)))?;
        listed
    }

    /// Caches a listing read page by page into `copy` (on success; forgetting the directory
    /// when the listing grew past what the cache keeps) and wakes the lookups waiting for it,
    /// which then look again.
    pub fn finish_copy(mut self, copy: Result<ListingCopy>) -> Result<()> {
        let done = copy.as_ref().map(|_| ()).map_err(Clone::clone);
        self.complete(copy.map(|c| c.entries));
        done
    }

    /// A copy for the listing this guard leads: started when the flight did.
    pub fn copy(&self) -> ListingCopy {
        ListingCopy::new(
            self.cache.settings.max_size / 4,
            self.flight.started,
            self.generation,
        )
    }

    fn complete(&mut self, listed: Result<Option<Arc<Vec<Entry>>>>) {
        self.finished = true;
        let (mount, dir) = &self.key;
        if let Ok(entries) = &listed {
            if self.cache.generation.load(Ordering::Acquire) == self.generation {
                match entries {
                    Some(entries) => self.cache.put_relisted(
                        mount,
                        dir,
                        entries.clone(),
                        self.flight.started,
                        self.immutable,
                    ),
                    None => self.cache.forget_dir(mount, dir),
                }
            }
        }
        let listed = listed.map(|_| ());
        {
            let mut f = self.cache.flights.lock().unwrap_or_else(|p| p.into_inner());
            if f.running
                .get(&self.key)
                .is_some_and(|r| Arc::ptr_eq(r, &self.flight))
            {
                f.running.remove(&self.key);
            }
            if listed.is_err() {
                if f.failed.len() >= 4096 {
                    f.failed.clear();
                }
                f.failed.insert(self.key.clone(), self.flight.started);
            } else {
                f.failed.remove(&self.key);
            }
        }
        if self.background {
            self.cache.background.fetch_sub(1, Ordering::Relaxed);
        }
        *self.flight.done.lock().unwrap_or_else(|p| p.into_inner()) = Some(listed);
        self.flight.cv.notify_all();
    }
}

impl Drop for RelistGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.complete(Err(Error::new(
                ErrorKind::Other,
                format!("list {}: the listing was abandoned", self.key.1),
            )));
        }
    }
}

impl Flight {
    /// Waits for the listing's outcome (its entries are in the cache, where they fit).
    pub fn wait(&self) -> Result<()> {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = done.as_ref() {
                return r.clone();
            }
            done = self.cv.wait(done).unwrap_or_else(|p| p.into_inner());
        }
    }
}

struct Shared {
    settings: MetadataSettings,
    entries: moka::sync::Cache<String, Timed>,
    flights: Mutex<Flights>,
    /// Background listings running.
    background: AtomicUsize,
    /// Bumped by every invalidation.
    generation: AtomicU64,
}

debug_shows!(Shared, "MetadataCache", |m| { "settings": m.settings });

#[derive(Debug)]
pub struct MetadataCache {
    shared: Arc<Shared>,
}

/// What an entry of the cache holds for a path; its key is the kind's letter, the mount and
/// the path.
#[derive(Clone, Copy)]
enum Held {
    /// A status.
    Status,
    /// A directory's listing.
    Listing,
    /// That a directory was listed.
    Listed,
    /// That a flat listing of a tree could not give a directory's listing.
    Alone,
    /// That only a status probe kept a directory's listing ([`MetadataCache::mark_probed`]).
    Probed,
    /// The files of a directory, from a flat listing of a tree.
    Files,
}

impl Held {
    fn key(self, mount: &str, path: &str) -> String {
        let kind = match self {
            Held::Status => 's',
            Held::Listing => 'l',
            Held::Listed => 'D',
            Held::Alone => 'A',
            Held::Probed => 'P',
            Held::Files => 'f',
        };
        format!("{kind}\0{mount}\0{path}")
    }
}

fn parent(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(p, _)| p)
}

fn find(entries: &[Entry], key: &str) -> Option<Entry> {
    entries
        .binary_search_by(|e| e.key.as_str().cmp(key))
        .ok()
        .map(|i| entries[i].clone())
}

fn sorted(mut entries: Arc<Vec<Entry>>) -> Arc<Vec<Entry>> {
    if !entries.windows(2).all(|w| w[0].key <= w[1].key) {
        // In place when nothing else holds them (a listing read for the cache).
        Arc::make_mut(&mut entries).sort_by(|a, b| a.key.cmp(&b.key));
    }
    entries
}

/// An answer found for a lookup: when it was fetched, for how long, and whether a listing of
/// `entries` entries gave it.
struct Found<T> {
    value: T,
    fetched: Instant,
    ttl: Option<Duration>,
    listed: Option<usize>,
}

impl Shared {
    fn ttl(&self, found: bool, immutable: bool) -> Option<Option<Duration>> {
        let ttl = match (found, immutable) {
            (true, true) => return Some(None),
            (true, false) => self.settings.ttl,
            (false, _) => self.settings.negative_ttl,
        };
        (!ttl.is_zero()).then_some(Some(ttl))
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, Flights> {
        self.flights.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the listing of `dir` running in this process started.
    fn relisting(&self, mount: &str, dir: &str) -> Option<Instant> {
        let f = self.flights();
        f.running
            .get(&(mount.to_string(), dir.to_string()))
            .filter(|r| r.pid == std::process::id())
            .map(|r| r.started)
    }

    /// Whether a background listing of `dir` started after `fetched` failed.
    fn failed_since(&self, mount: &str, dir: &str, fetched: Instant) -> bool {
        self.flights()
            .failed
            .get(&(mount.to_string(), dir.to_string()))
            .is_some_and(|t| *t >= fetched)
    }

    /// Decides what a lookup does with what it found in directory `dir`.
    fn judge<T>(&self, mount: &str, dir: &str, found: Found<T>, is_found: bool) -> Lookup<T> {
        let Some(ttl) = found.ttl else {
            return Lookup::Hit(found.value, None);
        };
        let age = found.fetched.elapsed();
        if !is_found {
            return if age < ttl {
                Lookup::Hit(found.value, None)
            } else {
                Lookup::Miss
            };
        }
        let relistable = found
            .listed
            .is_some_and(|n| n as u64 <= self.settings.relist_max_entries);
        if age < ttl - ttl / 4 {
            return Lookup::Hit(found.value, None);
        }
        if age < ttl {
            let refresh = (relistable
                && self.relisting(mount, dir).is_none()
                && !self.failed_since(mount, dir, found.fetched))
            .then(|| dir.to_string());
            return Lookup::Hit(found.value, refresh);
        }
        match self.relisting(mount, dir) {
            // Stale while the listing that revalidates it runs.
            Some(started) if started < found.fetched + ttl => Lookup::Hit(found.value, None),
            Some(_) => Lookup::Relist(dir.to_string()),
            None if relistable => Lookup::Relist(dir.to_string()),
            None => Lookup::Miss,
        }
    }

    /// Remembers that `dir` was listed with `n` entries (held until evicted by size).
    fn mark_listed(&self, mount: &str, dir: &str, n: usize) {
        self.entries.insert(
            Held::Listed.key(mount, dir),
            Timed {
                value: Value::Listed(n),
                ttl: None,
                fetched: Instant::now(),
            },
        );
    }

    /// Caches the statuses of files of a flat listing, one entry per directory, in at most
    /// `room` bytes; returns how many it kept.
    fn put_files(
        &self,
        mount: &str,
        entries: Vec<Entry>,
        ttl: Option<Duration>,
        fetched: Instant,
        room: u64,
    ) -> usize {
        let mut order: Vec<Entry> = entries.into_iter().filter(|e| !e.is_dir).collect();
        order.sort_by(|a, b| (parent(&a.key), &a.key).cmp(&(parent(&b.key), &b.key)));
        let mut used = 0u64;
        let mut kept = 0;
        // Each entry moves into its directory's group: no status is copied.
        let mut rest = order.into_iter().peekable();
        while let Some(first) = rest.next() {
            let dir = parent(&first.key).to_string();
            let mut files = vec![first];
            while let Some(e) = rest.next_if(|e| parent(&e.key) == dir) {
                files.push(e);
            }
            let n = files.len();
            let k = Held::Files.key(mount, &dir);
            let group = Timed {
                value: Value::Listing(Arc::new(files)),
                ttl,
                fetched,
            };
            used += weight(&k, &group);
            if used > room {
                break;
            }
            self.entries.insert(k, group);
            self.mark_listed(mount, &dir, n);
            kept += n;
        }
        kept
    }

    /// Caches a listing that revalidates a directory: whole when it fits in a quarter of the
    /// cache, else its files' statuses.
    fn put_relisted(
        &self,
        mount: &str,
        dir: &str,
        entries: Arc<Vec<Entry>>,
        fetched: Instant,
        immutable: bool,
    ) {
        let Some(ttl) = self.ttl(true, immutable) else {
            return;
        };
        let k = Held::Listing.key(mount, dir);
        let listing = Timed {
            value: Value::Listing(entries.clone()),
            ttl,
            fetched,
        };
        self.entries.invalidate(&Held::Files.key(mount, dir));
        if weight(&k, &listing) <= self.settings.max_size / 4 {
            self.entries.insert(k, listing);
            self.mark_listed(mount, dir, entries.len());
        } else {
            self.forget_dir(mount, dir);
        }
    }

    /// Drops what is held for directory `dir`: its listing, the files a flat listing gave of
    /// it, and that it was listed (so its files are asked for one by one, not relisted).
    fn forget_dir(&self, mount: &str, dir: &str) {
        for k in [
            Held::Listing.key(mount, dir),
            Held::Files.key(mount, dir),
            Held::Listed.key(mount, dir),
        ] {
            self.entries.invalidate(&k);
        }
    }
}

impl MetadataCache {
    pub fn new(settings: MetadataSettings) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(settings.max_size)
            .weigher(|k: &String, v: &Timed| weight(k, v).min(u32::MAX as u64) as u32)
            .expire_after(ByValue)
            .build();
        MetadataCache {
            shared: Arc::new(Shared {
                settings,
                entries,
                flights: Mutex::new(Flights::default()),
                background: AtomicUsize::new(0),
                generation: AtomicU64::new(0),
            }),
        }
    }

    fn entries(&self) -> &moka::sync::Cache<String, Timed> {
        &self.shared.entries
    }

    /// A cached status: `Some(None)` is a cached "not found". Fresh or not.
    pub fn status(&self, mount: &str, key: &str) -> Option<Option<Entry>> {
        match self.lookup_status(mount, key) {
            Lookup::Hit(e, _) => Some(e),
            _ => None,
        }
    }

    /// Looks a status up: in its own entry and in the listings of its directory that hold it,
    /// the most recently fetched first; says whether to serve it and whether to revalidate.
    pub fn lookup_status(&self, mount: &str, key: &str) -> Lookup<Option<Entry>> {
        let dir = parent(key);
        let mut best: Option<Found<Option<Entry>>> = None;
        if let Some(t) = self.entries().get(&Held::Status.key(mount, key)) {
            if let Value::Status(s) = t.value {
                best = Some(Found {
                    value: s,
                    fetched: t.fetched,
                    ttl: t.ttl,
                    listed: None,
                });
            }
        }
        // Whether the directory's listings are held, and when its own never-expiring listing
        // (an immutable mount's) started: the miss below decides by them.
        let mut held = false;
        let mut immutable_listing = None;
        for (own, k) in [
            (true, Held::Listing.key(mount, dir)),
            (false, Held::Files.key(mount, dir)),
        ] {
            if let Some(Timed {
                value: Value::Listing(l),
                ttl,
                fetched,
            }) = self.entries().get(&k)
            {
                held = true;
                if own && ttl.is_none() {
                    immutable_listing = Some(fetched);
                }
                if best.as_ref().is_some_and(|b| b.fetched >= fetched) {
                    continue;
                }
                if let Some(e) = find(&l, key) {
                    best = Some(Found {
                        value: Some(e),
                        fetched,
                        ttl,
                        listed: Some(l.len()),
                    });
                }
            }
        }
        let Some(found) = best else {
            if self.shared.relisting(mount, dir).is_some() {
                return Lookup::Relist(dir.to_string());
            }
            // On an immutable mount (its listings never expire) a listing of the directory is
            // the store's answer, when it started, that every name it lacks was not there:
            // "not found" for as long as a "not found" is kept (`shoal.metadata.negative.ttl`
            // from that start). Elsewhere, and older, it says nothing more: the name is asked
            // for alone, so that a file another writer put there since is found, as S3A finds
            // it.
            if let Some(fetched) = immutable_listing {
                let named = !key.is_empty() && key != dir && !key.ends_with('/');
                if named && fetched.elapsed() < self.shared.settings.negative_ttl {
                    return Lookup::Hit(None, None);
                }
            }
            // A directory listed before whose listing was dropped (expired past its grace, or
            // evicted): list it again rather than ask for each file.
            if !held {
                if let Some(Timed {
                    value: Value::Listed(n),
                    ..
                }) = self.entries().get(&Held::Listed.key(mount, dir))
                {
                    if n as u64 <= self.shared.settings.relist_max_entries {
                        return Lookup::Relist(dir.to_string());
                    }
                }
            }
            return Lookup::Miss;
        };
        let is_found = found.value.is_some();
        self.shared.judge(mount, dir, found, is_found)
    }

    /// Looks a directory's listing up; says whether to serve it and whether to revalidate.
    pub fn lookup_listing(&self, mount: &str, key: &str) -> Lookup<Arc<Vec<Entry>>> {
        match self.entries().get(&Held::Listing.key(mount, key)) {
            Some(Timed {
                value: Value::Listing(l),
                ttl,
                fetched,
            }) => {
                let found = Found {
                    value: l,
                    fetched,
                    ttl,
                    // Revalidating a listing is listing it again, whatever its size.
                    listed: Some(0),
                };
                self.shared.judge(mount, key, found, true)
            }
            _ => match self.shared.relisting(mount, key) {
                Some(_) => Lookup::Relist(key.to_string()),
                None => Lookup::Miss,
            },
        }
    }

    /// A cached listing, fresh or not.
    pub fn listing(&self, mount: &str, key: &str) -> Option<Arc<Vec<Entry>>> {
        match self.lookup_listing(mount, key) {
            Lookup::Hit(l, _) => Some(l),
            _ => None,
        }
    }

    /// Starts listing directory `dir` for the cache, or joins the listing of it that is
    /// running. A `background` listing is refused (`Busy`) when one of the directory is
    /// running or `MAX_BACKGROUND` are.
    pub fn start_relist(
        &self,
        mount: &str,
        dir: &str,
        background: bool,
        immutable: bool,
    ) -> Relist {
        let key = (mount.to_string(), dir.to_string());
        let mut f = self.shared.flights();
        if let Some(r) = f.running.get(&key) {
            if r.pid == std::process::id() {
                return if background {
                    Relist::Busy
                } else {
                    Relist::Join(r.clone())
                };
            }
        }
        if background {
            let running = self.shared.background.load(Ordering::Relaxed);
            if running >= MAX_BACKGROUND {
                return Relist::Busy;
            }
            self.shared.background.fetch_add(1, Ordering::Relaxed);
        }
        let flight = Arc::new(Flight {
            started: Instant::now(),
            pid: std::process::id(),
            done: Mutex::new(None),
            cv: Condvar::new(),
        });
        f.running.insert(key.clone(), flight.clone());
        Relist::Lead(RelistGuard {
            cache: self.shared.clone(),
            key,
            flight,
            background,
            immutable,
            generation: self.shared.generation.load(Ordering::Acquire),
            finished: false,
        })
    }

    /// Starts a copy of a directory's listing that a caller reads page by page
    /// ([`ListingCopy`]); room: a quarter of the cache.
    pub fn listing_copy(&self) -> ListingCopy {
        ListingCopy::new(
            self.shared.settings.max_size / 4,
            Instant::now(),
            self.shared.generation.load(Ordering::Acquire),
        )
    }

    /// Starts a copy of a flat listing of a tree; room: half of the cache.
    pub fn files_copy(&self) -> ListingCopy {
        ListingCopy::new(
            self.shared.settings.max_size / 2,
            Instant::now(),
            self.shared.generation.load(Ordering::Acquire),
        )
    }

    /// Keeps a directory's listing read whole into `copy`, unless a change was made through
    /// Shoal since it started; a listing that outgrew the copy drops what was held for the
    /// directory instead.
    pub fn keep_listing(&self, mount: &str, dir: &str, copy: ListingCopy, immutable: bool) {
        if self.shared.generation.load(Ordering::Acquire) != copy.generation {
            return;
        }
        match copy.entries {
            Some(entries) => {
                self.shared
                    .put_relisted(mount, dir, sorted(entries), copy.started, immutable)
            }
            None => self.shared.forget_dir(mount, dir),
        }
    }

    /// Keeps the directory listings a flat listing of a tree gave (`UnderStore::list_tree`),
    /// fetched when `copy` started, unless a change was made through Shoal since: in the
    /// order given (the listed directory first), as many as fit in a quarter of the cache
    /// together, so that a tree never evicts itself. Returns how many it kept.
    pub fn keep_tree(
        &self,
        mount: &str,
        copy: &ListingCopy,
        dirs: Vec<(String, Vec<Entry>)>,
        immutable: bool,
    ) -> usize {
        if self.shared.generation.load(Ordering::Acquire) != copy.generation {
            return 0;
        }
        let room = self.shared.settings.max_size / 4;
        let mut used = 0u64;
        let mut kept = 0;
        for (dir, entries) in dirs {
            used += weight(
                &Held::Listing.key(mount, &dir),
                &Timed {
                    value: Value::Listing(Arc::new(Vec::new())),
                    ttl: None,
                    fetched: copy.started,
                },
            ) + entries
                .iter()
                .map(|e| entry_weight(e) + std::mem::size_of::<Entry>() as u64)
                .sum::<u64>();
            if used > room {
                break;
            }
            self.shared
                .put_relisted(mount, &dir, Arc::new(entries), copy.started, immutable);
            kept += 1;
        }
        kept
    }

    /// Keeps the files' statuses of a flat listing read whole into `copy` (as
    /// [`MetadataCache::put_statuses`]); nothing of one that outgrew it.
    pub fn keep_files(&self, mount: &str, copy: ListingCopy, immutable: bool) -> usize {
        let (Some(entries), Some(ttl)) = (copy.entries, self.shared.ttl(true, immutable)) else {
            return 0;
        };
        if self.shared.generation.load(Ordering::Acquire) != copy.generation {
            return 0;
        }
        let room = self.shared.settings.max_size / 2;
        let entries = Arc::try_unwrap(entries).unwrap_or_else(|shared| (*shared).clone());
        self.shared
            .put_files(mount, entries, ttl, copy.started, room)
    }

    pub fn put_status(&self, mount: &str, key: &str, entry: Option<Entry>, immutable: bool) {
        if let Some(ttl) = self.shared.ttl(entry.is_some(), immutable) {
            self.entries().insert(
                Held::Status.key(mount, key),
                Timed {
                    value: Value::Status(entry),
                    ttl,
                    fetched: Instant::now(),
                },
            );
        }
    }

    /// Caches a listing, which answers for the status of every entry in it (so opening each
    /// listed file needs no request). A listing over a quarter of the cache is not kept.
    pub fn put_listing(&self, mount: &str, key: &str, entries: Arc<Vec<Entry>>, immutable: bool) {
        let Some(ttl) = self.shared.ttl(true, immutable) else {
            return;
        };
        let k = Held::Listing.key(mount, key);
        let entries_len = entries.len();
        let listing = Timed {
            value: Value::Listing(sorted(entries)),
            ttl,
            fetched: Instant::now(),
        };
        if weight(&k, &listing) <= self.shared.settings.max_size / 4 {
            self.entries().insert(k, listing);
            self.shared.mark_listed(mount, key, entries_len);
        }
    }

    /// Caches the statuses of files a flat listing of a tree gave, one entry per directory,
    /// as many directories as fit in half of the cache; returns how many statuses it kept.
    pub fn put_statuses(&self, mount: &str, entries: &[Entry], immutable: bool) -> usize {
        let Some(ttl) = self.shared.ttl(true, immutable) else {
            return 0;
        };
        let room = self.shared.settings.max_size / 2;
        self.shared
            .put_files(mount, entries.to_vec(), ttl, Instant::now(), room)
    }

    /// Remembers, for a TTL, that directory `dir` is to be listed alone (a flat listing of a
    /// tree holding it could not give its entries).
    pub fn list_alone(&self, mount: &str, dir: &str) {
        let Some(ttl) = self.shared.ttl(true, false) else {
            return;
        };
        self.entries().insert(
            Held::Alone.key(mount, dir),
            Timed {
                value: Value::Listed(0),
                ttl,
                fetched: Instant::now(),
            },
        );
    }

    /// Whether directory `dir` is to be listed alone ([`MetadataCache::list_alone`]).
    pub fn listed_alone(&self, mount: &str, dir: &str) -> bool {
        self.entries().contains_key(&Held::Alone.key(mount, dir))
    }

    /// Marks directories whose listings a status probe kept (`Namespace::stat_in_store`):
    /// held to answer lookups, but no caller listed them, so the prefetch does not take them
    /// for a directory being read (a `stat` or a FUSE lookup is not a listing). The mark lives
    /// until a caller lists the directory ([`MetadataCache::listed_by_caller`]).
    pub fn mark_probed<'a>(&self, mount: &str, dirs: impl IntoIterator<Item = &'a str>) {
        for dir in dirs {
            self.entries().insert(
                Held::Probed.key(mount, dir),
                Timed {
                    value: Value::Listed(0),
                    ttl: None,
                    fetched: Instant::now(),
                },
            );
        }
    }

    /// A caller listed directory `dir`: its listing is the caller's from now on.
    pub fn listed_by_caller(&self, mount: &str, dir: &str) {
        self.entries().invalidate(&Held::Probed.key(mount, dir));
    }

    /// Whether the listing held of `dir` is only a status probe's ([`MetadataCache::mark_probed`]).
    pub fn only_probed(&self, mount: &str, dir: &str) -> bool {
        self.entries().contains_key(&Held::Probed.key(mount, dir))
    }

    /// Objects a first listing reads from one flat listing of a tree (0: never).
    pub fn tree_max_entries(&self) -> usize {
        self.shared.settings.tree_max_entries as usize
    }

    /// Entries held (approximate until the cache has caught up with recent inserts).
    pub fn len(&self) -> u64 {
        self.entries().run_pending_tasks();
        self.entries().entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held, as entries are weighed.
    pub fn weighed_size(&self) -> u64 {
        self.entries().run_pending_tasks();
        self.entries().weighted_size()
    }

    /// Drops one path's status, and the listings of its directory that hold it.
    pub fn invalidate_status(&self, mount: &str, key: &str) {
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        self.entries().invalidate(&Held::Status.key(mount, key));
        self.entries()
            .invalidate(&Held::Listing.key(mount, parent(key)));
        self.entries()
            .invalidate(&Held::Files.key(mount, parent(key)));
    }

    /// Drops everything: after a change whose reach is a whole tree.
    pub fn invalidate_all(&self) {
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        self.entries().invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(key: &str) -> Entry {
        Entry {
            key: key.to_string(),
            is_dir: false,
            len: 7,
            mtime_ms: 1,
            etag: None,
            version: Some("7-1".into()),
        }
    }

    fn cache(max_size: u64) -> MetadataCache {
        cache_with_ttl(max_size, DEFAULT_TTL)
    }

    fn cache_with_ttl(max_size: u64, ttl: Duration) -> MetadataCache {
        MetadataCache::new(MetadataSettings {
            ttl,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_size,
            relist_max_entries: DEFAULT_RELIST_MAX_ENTRIES,
            tree_max_entries: DEFAULT_TREE_MAX_ENTRIES,
        })
    }

    fn sleep_until(t: Instant) {
        if let Some(d) = t.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }

    #[test]
    fn an_expired_entry_is_served_only_while_a_listing_started_before_expiry_runs() {
        let ttl = Duration::from_millis(400);
        let c = cache_with_ttl(1 << 20, ttl);
        let listed = Instant::now();
        c.put_listing("m", "d", Arc::new(vec![file("d/a"), file("d/b")]), false);
        assert_eq!(
            c.lookup_status("m", "d/a"),
            Lookup::Hit(Some(file("d/a")), None)
        );
        // Due: served, and the caller is told to list the directory in the background.
        sleep_until(listed + ttl * 7 / 8);
        assert_eq!(
            c.lookup_status("m", "d/a"),
            Lookup::Hit(Some(file("d/a")), Some("d".into()))
        );
        let Relist::Lead(guard) = c.start_relist("m", "d", true, false) else {
            panic!("no listing was running")
        };
        // One background listing per directory.
        assert!(matches!(
            c.start_relist("m", "d", true, false),
            Relist::Busy
        ));
        assert_eq!(
            c.lookup_status("m", "d/b"),
            Lookup::Hit(Some(file("d/b")), None)
        );
        // Expired, while the listing that started before the expiry runs: served stale.
        sleep_until(listed + ttl + Duration::from_millis(20));
        assert_eq!(
            c.lookup_status("m", "d/b"),
            Lookup::Hit(Some(file("d/b")), None)
        );
        // A lookup that must wait joins the running listing rather than starting another.
        assert!(matches!(
            c.start_relist("m", "d", false, false),
            Relist::Join(_)
        ));
        // The listing returns: "d/b" changed, "d/a" is gone (asked for alone: a miss).
        let mut b = file("d/b");
        b.len = 9;
        guard.finish(Ok(vec![b.clone()])).unwrap();
        assert_eq!(
            c.lookup_status("m", "d/b"),
            Lookup::Hit(Some(b.clone()), None)
        );
        assert_eq!(c.lookup_status("m", "d/a"), Lookup::Miss);
        assert_eq!(c.listing("m", "d").unwrap().as_slice(), &[b]);
    }

    #[test]
    fn an_expired_entry_with_no_listing_running_waits_for_one() {
        let ttl = Duration::from_millis(200);
        let c = cache_with_ttl(1 << 20, ttl);
        c.put_listing("m", "d", Arc::new(vec![file("d/a")]), false);
        c.put_status("m", "e/alone", Some(file("e/alone")), false);
        std::thread::sleep(ttl + Duration::from_millis(20));
        assert_eq!(c.lookup_status("m", "d/a"), Lookup::Relist("d".into()));
        assert_eq!(c.lookup_listing("m", "d"), Lookup::Relist("d".into()));
        // A status the store gave alone is asked for alone again.
        assert_eq!(c.lookup_status("m", "e/alone"), Lookup::Miss);
        // A listing started after the expiry is waited for, not served around.
        let Relist::Lead(guard) = c.start_relist("m", "d", false, false) else {
            panic!("no listing was running")
        };
        assert_eq!(c.lookup_status("m", "d/a"), Lookup::Relist("d".into()));
        let Relist::Join(flight) = c.start_relist("m", "d", false, false) else {
            panic!("the running listing was not joined")
        };
        let waiter = std::thread::spawn(move || flight.wait());
        guard
            .finish(Err(Error::new(ErrorKind::Other, "the store is down")))
            .unwrap_err();
        let e = waiter.join().unwrap().unwrap_err();
        assert!(e.to_string().contains("the store is down"), "{e}");
        // Still expired and listable: the next lookup lists again (and reports its error).
        assert_eq!(c.lookup_status("m", "d/a"), Lookup::Relist("d".into()));
    }

    #[test]
    fn a_failed_background_listing_is_not_retried_before_the_entry_expires() {
        let ttl = Duration::from_millis(400);
        let c = cache_with_ttl(1 << 20, ttl);
        let listed = Instant::now();
        c.put_listing("m", "d", Arc::new(vec![file("d/a")]), false);
        sleep_until(listed + ttl * 7 / 8);
        let Relist::Lead(guard) = c.start_relist("m", "d", true, false) else {
            panic!("no listing was running")
        };
        drop(guard); // abandoned: counts as failed
        assert_eq!(
            c.lookup_status("m", "d/a"),
            Lookup::Hit(Some(file("d/a")), None)
        );
        sleep_until(listed + ttl + Duration::from_millis(20));
        assert_eq!(c.lookup_status("m", "d/a"), Lookup::Relist("d".into()));
    }

    #[test]
    fn a_listing_that_started_before_a_change_is_not_cached() {
        let c = cache(1 << 20);
        let Relist::Lead(guard) = c.start_relist("m", "d", false, false) else {
            panic!("no listing was running")
        };
        // A file is deleted through Shoal while the listing runs.
        c.invalidate_status("m", "d/a");
        let got = guard.finish(Ok(vec![file("d/a")])).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(c.lookup_status("m", "d/a"), Lookup::Miss);
        assert_eq!(c.lookup_listing("m", "d"), Lookup::Miss);
    }

    #[test]
    fn a_directory_whose_listing_was_dropped_is_listed_again_not_asked_file_by_file() {
        let c = cache(1 << 20);
        c.put_listing("m", "d", Arc::new(vec![file("d/a")]), false);
        // Held, without the key: the file is asked for alone.
        assert_eq!(c.lookup_status("m", "d/zz"), Lookup::Miss);
        // Dropped (past its grace, or evicted): the directory is listed again.
        c.entries().invalidate(&Held::Listing.key("m", "d"));
        assert_eq!(c.lookup_status("m", "d/a"), Lookup::Relist("d".into()));
        // A directory never listed: asked for alone.
        assert_eq!(c.lookup_status("m", "e/a"), Lookup::Miss);
        // Flat listings mark their directories too.
        c.put_statuses("m", &[file("t/x/1")], false);
        c.entries().invalidate(&Held::Files.key("m", "t/x"));
        assert_eq!(c.lookup_status("m", "t/x/1"), Lookup::Relist("t/x".into()));
    }

    #[test]
    fn immutable_entries_never_need_revalidation() {
        let c = cache_with_ttl(1 << 20, Duration::from_millis(50));
        c.put_listing("m", "d", Arc::new(vec![file("d/a")]), true);
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(
            c.lookup_status("m", "d/a"),
            Lookup::Hit(Some(file("d/a")), None)
        );
    }

    #[test]
    fn statuses_come_from_the_listings_that_hold_them() {
        let c = cache(1 << 20);
        let dir = Arc::new(vec![file("d/b"), file("d/a"), file("d/c")]);
        c.put_listing("m", "d", dir, false);
        assert_eq!(c.status("m", "d/b"), Some(Some(file("d/b"))));
        // A name the listing lacks is asked for alone (see the next test for immutable mounts).
        assert_eq!(c.status("m", "d/z"), None);
        // A flat listing: files of several directories, in store order.
        let flat = [file("t/x.txt"), file("t/x/1"), file("t/y"), file("t/x/2")];
        assert_eq!(c.put_statuses("m", &flat, false), 4);
        for f in &flat {
            assert_eq!(c.status("m", &f.key), Some(Some(f.clone())));
        }
        // Files of a flat listing are not a directory's listing: they say nothing of a name
        // they lack (it may be a directory, or beyond what was kept).
        assert_eq!(c.status("m", "t/z"), None);
        // A change drops what holds the path.
        c.invalidate_status("m", "t/x/1");
        assert_eq!(c.status("m", "t/x/1"), None);
        assert_eq!(c.status("m", "t/y"), Some(Some(file("t/y"))));
    }

    #[test]
    fn on_an_immutable_mount_a_listing_answers_not_found_for_a_while() {
        let negative = Duration::from_millis(300);
        let settings = |negative_ttl| MetadataSettings {
            ttl: DEFAULT_TTL,
            negative_ttl,
            max_size: 1 << 20,
            relist_max_entries: DEFAULT_RELIST_MAX_ENTRIES,
            tree_max_entries: DEFAULT_TREE_MAX_ENTRIES,
        };
        let c = MetadataCache::new(settings(negative));
        let listed = Instant::now();
        c.put_listing("m", "d", Arc::new(vec![file("d/a")]), true);
        c.put_listing("m", "mutable", Arc::new(vec![file("mutable/a")]), false);
        // Spark asks for `<input>/_spark_metadata` right after listing the input: no request.
        assert_eq!(
            c.lookup_status("m", "d/_spark_metadata"),
            Lookup::Hit(None, None)
        );
        // Elsewhere another writer's new file must be found by name: asked for alone.
        assert_eq!(c.lookup_status("m", "mutable/b"), Lookup::Miss);
        // Never the directory itself (a mount's root is its own parent).
        c.put_listing("m", "", Arc::new(vec![file("a")]), true);
        assert_eq!(c.lookup_status("m", ""), Lookup::Miss);
        assert_eq!(c.lookup_status("m", "b"), Lookup::Hit(None, None));
        // Only the directory's own listing answers: not a parent's, nor a sibling's.
        assert_eq!(c.lookup_status("m", "d/x/y"), Lookup::Miss);
        assert_eq!(c.lookup_status("m", "e/a"), Lookup::Miss);
        // Past the negative TTL from the listing's start the name is asked for alone, while
        // the names the listing has are still served.
        sleep_until(listed + negative + Duration::from_millis(50));
        assert_eq!(c.lookup_status("m", "d/_spark_metadata"), Lookup::Miss);
        assert_eq!(
            c.lookup_status("m", "d/a"),
            Lookup::Hit(Some(file("d/a")), None)
        );
        // A negative TTL of 0 keeps no "not found", from a listing either.
        let off = MetadataCache::new(settings(Duration::ZERO));
        off.put_listing("m", "d", Arc::new(vec![file("d/a")]), true);
        assert_eq!(off.lookup_status("m", "d/b"), Lookup::Miss);
        // A change made through Shoal drops the listing, so a name it made is never hidden.
        c.put_listing("m", "d", Arc::new(vec![file("d/a")]), true);
        assert_eq!(c.lookup_status("m", "d/new"), Lookup::Hit(None, None));
        c.invalidate_status("m", "d/new");
        assert_eq!(c.lookup_status("m", "d/new"), Lookup::Relist("d".into()));
    }

    #[test]
    fn a_listing_larger_than_the_cache_does_not_evict_itself() {
        // Room for about 2,000 statuses; a flat listing of 10,000 in 100 directories.
        let c = cache(1 << 20);
        let flat: Vec<Entry> = (0..10_000)
            .map(|i| file(&format!("data/c{:03}/f{i:07}.jpg", i / 100)))
            .collect();
        let kept = c.put_statuses("m", &flat, true);
        assert!(kept > 1000 && kept < 10_000, "{kept}");
        // Everything it kept is still there: nothing kept was pushed out by the rest.
        let found = flat
            .iter()
            .filter(|f| c.status("m", &f.key).is_some())
            .count();
        assert_eq!(found, kept);
        assert!(c.weighed_size() <= 1 << 20);
        // A directory listing over a quarter of the cache is not kept.
        c.put_listing("m", "big", Arc::new(flat), true);
        assert!(c.listing("m", "big").is_none());
    }
}

//! The metadata cache: file status and directory listings per mount key, so repeated opens
//! and listings (every epoch lists and opens the same dataset) ask the store once.
//!
//! Entries live `shoal.metadata.ttl` (default 30 s); "not found" answers live
//! `shoal.metadata.negative.ttl` (default 5 s); on a mount with `immutable=true` found entries
//! never expire. Every change made through Shoal drops the entries it can affect.
//!
//! The cache is bounded in bytes (`shoal.metadata.max.size`, default 256 MiB), each entry
//! weighed by what it holds. A listing keeps the statuses of its entries once, sorted by key:
//! a status is looked up in its own entry, else in its parent directory's listing, else in the
//! files of that directory a flat listing of a tree gave (one entry per directory), by binary
//! search. So a listed file's status costs its `Entry` and its strings, about 150 bytes for an
//! object with a 20-character key (`benchmarks/scale` measures it), and a status asked
//! for alone `STATUS_OVERHEAD` more. A listing over a quarter of the cache is not kept (a flat
//! listing keeps the directories that fit in half of it), so a listing never evicts itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::Result;
use crate::store::Entry;

pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_SIZE: u64 = 256 << 20;
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
            Value::Status(None) => STATUS_OVERHEAD,
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
}

#[derive(Clone)]
struct Timed {
    value: Value,
    /// `None`: never expires.
    ttl: Option<Duration>,
}

struct ByValue;

impl moka::Expiry<String, Timed> for ByValue {
    fn expire_after_create(&self, _k: &String, v: &Timed, _now: Instant) -> Option<Duration> {
        v.ttl
    }
}

pub struct MetadataCache {
    settings: MetadataSettings,
    entries: moka::sync::Cache<String, Timed>,
}

impl std::fmt::Debug for MetadataCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataCache")
            .field("settings", &self.settings)
            .finish()
    }
}

fn status_key(mount: &str, key: &str) -> String {
    format!("s\0{mount}\0{key}")
}

fn listing_key(mount: &str, key: &str) -> String {
    format!("l\0{mount}\0{key}")
}

/// The files of a directory, from a flat listing of a tree.
fn files_key(mount: &str, dir: &str) -> String {
    format!("f\0{mount}\0{dir}")
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

fn sorted(entries: Arc<Vec<Entry>>) -> Arc<Vec<Entry>> {
    if entries.windows(2).all(|w| w[0].key <= w[1].key) {
        return entries;
    }
    let mut v = (*entries).clone();
    v.sort_by(|a, b| a.key.cmp(&b.key));
    Arc::new(v)
}

impl MetadataCache {
    pub fn new(settings: MetadataSettings) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(settings.max_size)
            .weigher(|k: &String, v: &Timed| weight(k, v).min(u32::MAX as u64) as u32)
            .expire_after(ByValue)
            .build();
        MetadataCache { settings, entries }
    }

    fn ttl(&self, found: bool, immutable: bool) -> Option<Option<Duration>> {
        let ttl = match (found, immutable) {
            (true, true) => return Some(None),
            (true, false) => self.settings.ttl,
            (false, _) => self.settings.negative_ttl,
        };
        (!ttl.is_zero()).then_some(Some(ttl))
    }

    /// A cached status: `Some(None)` is a cached "not found".
    pub fn status(&self, mount: &str, key: &str) -> Option<Option<Entry>> {
        if let Some(t) = self.entries.get(&status_key(mount, key)) {
            if let Value::Status(s) = t.value {
                return Some(s);
            }
        }
        let dir = parent(key);
        for k in [listing_key(mount, dir), files_key(mount, dir)] {
            if let Some(Timed {
                value: Value::Listing(l),
                ..
            }) = self.entries.get(&k)
            {
                if let Some(e) = find(&l, key) {
                    return Some(Some(e));
                }
            }
        }
        None
    }

    pub fn put_status(&self, mount: &str, key: &str, entry: Option<Entry>, immutable: bool) {
        if let Some(ttl) = self.ttl(entry.is_some(), immutable) {
            self.entries.insert(
                status_key(mount, key),
                Timed {
                    value: Value::Status(entry),
                    ttl,
                },
            );
        }
    }

    pub fn listing(&self, mount: &str, key: &str) -> Option<Arc<Vec<Entry>>> {
        match self.entries.get(&listing_key(mount, key))?.value {
            Value::Listing(l) => Some(l),
            Value::Status(_) => None,
        }
    }

    /// Caches a listing, which answers for the status of every entry in it (so opening each
    /// listed file needs no request). A listing over a quarter of the cache is not kept.
    pub fn put_listing(&self, mount: &str, key: &str, entries: Arc<Vec<Entry>>, immutable: bool) {
        let Some(ttl) = self.ttl(true, immutable) else {
            return;
        };
        let k = listing_key(mount, key);
        let listing = Timed {
            value: Value::Listing(sorted(entries)),
            ttl,
        };
        if weight(&k, &listing) <= self.settings.max_size / 4 {
            self.entries.insert(k, listing);
        }
    }

    /// Caches the statuses of files a flat listing of a tree gave, one entry per directory,
    /// as many directories as fit in half of the cache; returns how many statuses it kept.
    pub fn put_statuses(&self, mount: &str, entries: &[Entry], immutable: bool) -> usize {
        let Some(ttl) = self.ttl(true, immutable) else {
            return 0;
        };
        let room = self.settings.max_size / 2;
        let mut order: Vec<&Entry> = entries.iter().collect();
        order.sort_by(|a, b| (parent(&a.key), &a.key).cmp(&(parent(&b.key), &b.key)));
        let mut used = 0u64;
        let mut kept = 0;
        let mut start = 0;
        while start < order.len() {
            let dir = parent(&order[start].key);
            let mut end = start + 1;
            while end < order.len() && parent(&order[end].key) == dir {
                end += 1;
            }
            let k = files_key(mount, dir);
            let files: Vec<Entry> = order[start..end].iter().map(|e| (*e).clone()).collect();
            let group = Timed {
                value: Value::Listing(Arc::new(files)),
                ttl,
            };
            used += weight(&k, &group);
            if used > room {
                break;
            }
            self.entries.insert(k, group);
            kept += end - start;
            start = end;
        }
        kept
    }

    /// Entries held (approximate until the cache has caught up with recent inserts).
    pub fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held, as entries are weighed.
    pub fn weighed_size(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    /// Drops one path's status, and the listings of its directory that hold it.
    pub fn invalidate_status(&self, mount: &str, key: &str) {
        self.entries.invalidate(&status_key(mount, key));
        self.entries.invalidate(&listing_key(mount, parent(key)));
        self.entries.invalidate(&files_key(mount, parent(key)));
    }

    /// Drops everything: after a change whose reach is a whole tree.
    pub fn invalidate_all(&self) {
        self.entries.invalidate_all();
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
        MetadataCache::new(MetadataSettings {
            ttl: DEFAULT_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_size,
        })
    }

    #[test]
    fn statuses_come_from_the_listings_that_hold_them() {
        let c = cache(1 << 20);
        let dir = Arc::new(vec![file("d/b"), file("d/a"), file("d/c")]);
        c.put_listing("m", "d", dir, false);
        assert_eq!(c.status("m", "d/b"), Some(Some(file("d/b"))));
        assert_eq!(c.status("m", "d/z"), None);
        // A flat listing: files of several directories, in store order.
        let flat = [file("t/x.txt"), file("t/x/1"), file("t/y"), file("t/x/2")];
        assert_eq!(c.put_statuses("m", &flat, false), 4);
        for f in &flat {
            assert_eq!(c.status("m", &f.key), Some(Some(f.clone())));
        }
        // A change drops what holds the path.
        c.invalidate_status("m", "t/x/1");
        assert_eq!(c.status("m", "t/x/1"), None);
        assert_eq!(c.status("m", "t/y"), Some(Some(file("t/y"))));
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

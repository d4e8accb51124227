//! The metadata cache: file status and directory listings per mount key, so repeated opens
//! and listings (every epoch lists and opens the same dataset) ask the store once.
//!
//! Entries live `shoal.metadata.ttl` (default 30 s); "not found" answers live
//! `shoal.metadata.negative.ttl` (default 5 s); on a mount with `immutable=true` found entries
//! never expire. Every change made through Shoal drops the entries it can affect.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::Result;
use crate::store::Entry;

pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
const DEFAULT_MAX_ENTRIES: u64 = 200_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataSettings {
    pub ttl: Duration,
    pub negative_ttl: Duration,
    pub max_entries: u64,
}

impl MetadataSettings {
    pub fn from_config(c: &Config) -> Result<Self> {
        Ok(MetadataSettings {
            ttl: c.get_duration("shoal.metadata.ttl", DEFAULT_TTL)?,
            negative_ttl: c.get_duration("shoal.metadata.negative.ttl", DEFAULT_NEGATIVE_TTL)?,
            max_entries: c.get_usize("shoal.metadata.max.entries", DEFAULT_MAX_ENTRIES as usize)?
                as u64,
        })
    }
}

#[derive(Clone)]
enum Value {
    Status(Option<Entry>),
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

impl MetadataCache {
    pub fn new(settings: MetadataSettings) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(settings.max_entries)
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
        match self.entries.get(&status_key(mount, key))?.value {
            Value::Status(s) => Some(s),
            Value::Listing(_) => None,
        }
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

    /// Caches a listing, and the status of every entry in it (so opening each listed file
    /// needs no request).
    pub fn put_listing(&self, mount: &str, key: &str, entries: Arc<Vec<Entry>>, immutable: bool) {
        let Some(ttl) = self.ttl(true, immutable) else {
            return;
        };
        for e in entries.iter() {
            self.put_status(mount, &e.key, Some(e.clone()), immutable);
        }
        self.entries.insert(
            listing_key(mount, key),
            Timed {
                value: Value::Listing(entries),
                ttl,
            },
        );
    }

    /// Drops one path's status.
    pub fn invalidate_status(&self, mount: &str, key: &str) {
        self.entries.invalidate(&status_key(mount, key));
    }

    /// Drops everything: after a change whose reach is a whole tree.
    pub fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }
}

//! The node cache: pages of files, keyed by the file's version, in an in-process memory tier in
//! front of one or more local disk directories shared by every process on the node.
//!
//! A miss is fetched once however many readers want it (single flight), lands in both tiers,
//! and is handed to every waiter. Read-ahead fetches pages before a sequential reader asks for
//! them, bounded by the bytes it may have in flight.

pub mod disk;
pub mod open_pages;
pub mod page_file;
pub mod write_stage;

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::stats::Stats;
use crate::store::{Entry, UnderStore};
pub use disk::DiskDir;
pub use page_file::PageId;

pub const DEFAULT_PAGE_SIZE: u64 = 1 << 20;
pub const DEFAULT_MEMORY_SIZE: u64 = 128 << 20;
pub const DEFAULT_DISK_CAPACITY: u64 = 4 << 30;
pub const DEFAULT_READAHEAD_BYTES: u64 = 64 << 20;
pub const DEFAULT_READAHEAD_PAGES: u64 = 16;

/// Cache settings, from `shoal.cache.*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheSettings {
    pub page_size: u64,
    pub memory_size: u64,
    pub dirs: Vec<(PathBuf, u64)>,
    /// Bytes of read-ahead in flight at once, for the whole process.
    pub readahead_bytes: u64,
    /// The largest read-ahead window, in pages.
    pub readahead_pages: u64,
    /// Page files kept open by the process, all directories together.
    pub open_pages: usize,
}

impl CacheSettings {
    /// `None` when `shoal.cache.enabled=false`.
    pub fn from_config(c: &Config) -> Result<Option<Self>> {
        if !c.get_bool("shoal.cache.enabled", true)? {
            return Ok(None);
        }
        let page_size = c.get_size("shoal.cache.page.size", DEFAULT_PAGE_SIZE)?;
        if !(4096..=(64 << 20)).contains(&page_size) {
            return Err(Error::config(format!(
                "shoal.cache.page.size must be between 4k and 64m, not {page_size}"
            )));
        }
        let dirs = match c.get("shoal.cache.dirs") {
            None | Some("") => vec![(default_dir(), DEFAULT_DISK_CAPACITY)],
            Some(v) => parse_dirs(v)?,
        };
        Ok(Some(CacheSettings {
            page_size,
            memory_size: c.get_size("shoal.cache.memory.size", DEFAULT_MEMORY_SIZE)?,
            dirs,
            readahead_bytes: c.get_size("shoal.cache.readahead.max", DEFAULT_READAHEAD_BYTES)?,
            readahead_pages: c.get_usize(
                "shoal.cache.readahead.pages",
                DEFAULT_READAHEAD_PAGES as usize,
            )? as u64,
            open_pages: c.get_usize("shoal.cache.open.pages", open_pages::DEFAULT_OPEN_PAGES)?,
        }))
    }
}

/// `<system temp dir>/shoal-cache-<uid>`.
pub fn default_dir() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("shoal-cache-{uid}"))
}

/// Parses `/mnt/a/shoal:200g,/mnt/b/shoal:200g` (a directory without `:size` gets the
/// default capacity).
pub fn parse_dirs(text: &str) -> Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (path, size) = match item.rsplit_once(':') {
            Some((p, s)) => (
                p,
                crate::config::parse_size(s)
                    .map_err(|e| Error::config(format!("shoal.cache.dirs entry '{item}': {e}")))?,
            ),
            None => (item, DEFAULT_DISK_CAPACITY),
        };
        if !path.starts_with('/') {
            return Err(Error::config(format!(
                "shoal.cache.dirs entry '{item}': the directory must be an absolute path"
            )));
        }
        out.push((PathBuf::from(path), size));
    }
    if out.is_empty() {
        return Err(Error::config("shoal.cache.dirs names no directory"));
    }
    Ok(out)
}

/// What a page is cut from: one version of one file of one store.
#[derive(Debug)]
pub struct FileSource {
    pub store: Arc<dyn UnderStore>,
    pub key: String,
    pub entry: Entry,
    pub file_id: u128,
}

impl FileSource {
    pub fn new(store: Arc<dyn UnderStore>, key: String, entry: Entry) -> Self {
        let file_id = file_id(
            &store.describe(),
            &key,
            entry.version.as_deref().unwrap_or(""),
        );
        FileSource {
            store,
            key,
            entry,
            file_id,
        }
    }
}

/// The identity pages of one file version are keyed by.
pub fn file_id(store: &str, key: &str, version: &str) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in [store, key, version] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    h.digest128()
}

type PageFuture = Shared<BoxFuture<'static, Result<Bytes>>>;

/// Counters to bump for one request: its filesystem's and its stream's.
pub type StatsSet = Arc<[Arc<Stats>]>;

pub struct PageCache {
    pub settings: CacheSettings,
    memory: Option<moka::sync::Cache<PageId, Bytes>>,
    dirs: Vec<Arc<DiskDir>>,
    inflight: Mutex<HashMap<PageId, PageFuture>>,
    readahead_budget: Arc<tokio::sync::Semaphore>,
    /// Evictions and corrupt pages, which belong to the cache rather than to a filesystem.
    pub stats: Arc<Stats>,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("settings", &self.settings)
            .finish()
    }
}

impl PageCache {
    /// The process's cache for these settings: filesystems configured alike share one, so
    /// they share the memory tier and single-flight fetches. A forked child (a PyTorch
    /// DataLoader worker) gets caches of its own: the parent's may wait on fetches and
    /// threads that do not exist in the child.
    pub fn shared(settings: &CacheSettings) -> Arc<PageCache> {
        type Registry = HashMap<(u32, CacheSettings), Weak<PageCache>>;
        static CACHES: OnceLock<Mutex<Registry>> = OnceLock::new();
        let mut map = CACHES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let key = (std::process::id(), settings.clone());
        if let Some(c) = map.get(&key).and_then(Weak::upgrade) {
            return c;
        }
        let c = Arc::new(PageCache::new(settings.clone()));
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(key, Arc::downgrade(&c));
        c
    }

    pub fn new(settings: CacheSettings) -> Self {
        let stats = Arc::new(Stats::default());
        let memory = (settings.memory_size > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(settings.memory_size)
                .weigher(|_k: &PageId, v: &Bytes| v.len().min(u32::MAX as usize) as u32)
                .build()
        });
        let handles =
            open_pages::bound_by_fd_limit(settings.open_pages).div_ceil(settings.dirs.len().max(1));
        let dirs = settings
            .dirs
            .iter()
            .map(|(p, cap)| DiskDir::open(p, *cap, handles, stats.clone()))
            .collect();
        let permits = (settings.readahead_bytes / settings.page_size).max(1) as usize;
        PageCache {
            memory,
            dirs,
            inflight: Mutex::new(HashMap::new()),
            readahead_budget: Arc::new(tokio::sync::Semaphore::new(permits)),
            stats,
            settings,
        }
    }

    pub fn page_size(&self) -> u64 {
        self.settings.page_size
    }

    pub fn dirs(&self) -> &[Arc<DiskDir>] {
        &self.dirs
    }

    /// The byte range of page `index` of a file of `len` bytes.
    pub fn page_range(&self, len: u64, index: u64) -> Range<u64> {
        let start = index * self.settings.page_size;
        start..(start + self.settings.page_size).min(len)
    }

    pub fn memory_get(&self, id: &PageId) -> Option<Bytes> {
        self.memory.as_ref().and_then(|m| m.get(id))
    }

    pub fn memory_put(&self, id: PageId, data: Bytes) {
        if let Some(m) = &self.memory {
            m.insert(id, data);
        }
    }

    pub fn memory_remove(&self, id: &PageId) {
        if let Some(m) = &self.memory {
            m.invalidate(id);
        }
    }

    /// The directory a page lives in: rendezvous hashing weighted by capacity, so each page
    /// has one home and adding a directory moves only its share.
    pub fn dir_for(&self, id: &PageId) -> Option<&Arc<DiskDir>> {
        if self.dirs.len() <= 1 {
            return self.dirs.first();
        }
        let mut best: Option<(f64, &Arc<DiskDir>)> = None;
        for (i, d) in self.dirs.iter().enumerate() {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(&id.file.to_le_bytes());
            h.update(&id.index.to_le_bytes());
            h.update(&(i as u64).to_le_bytes());
            let u = (h.digest() as f64 + 1.0) / (u64::MAX as f64 + 2.0);
            let score = -(d.capacity().max(1) as f64) / u.ln();
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, d));
            }
        }
        best.map(|(_, d)| d)
    }

    /// Whether a fetched page would be kept: false when the memory tier is off and the page's
    /// directory takes no writes (read-only, failed). Readers then read just what they need.
    pub fn can_hold(&self, id: &PageId) -> bool {
        self.memory.is_some() || self.dir_for(id).is_some_and(|d| d.writable())
    }

    /// Whether a page is in memory, on disk, or on its way.
    pub fn is_present(&self, id: &PageId) -> bool {
        self.memory_get(id).is_some()
            || self
                .inflight
                .lock()
                .map(|m| m.contains_key(id))
                .unwrap_or(false)
            || self.dir_for(id).is_some_and(|d| d.has_page(*id))
    }

    /// Fetches a page from the store once, however many callers ask at the same time; the
    /// page lands in memory and on disk before the waiters get it.
    pub fn fetch(
        self: &Arc<Self>,
        src: &Arc<FileSource>,
        index: u64,
        stats: &StatsSet,
    ) -> PageFuture {
        let id = PageId {
            file: src.file_id,
            index,
        };
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = map.get(&id) {
            return f.clone();
        }
        let me = self.clone();
        let src = src.clone();
        let stats = stats.clone();
        let range = self.page_range(src.entry.len, index);
        let fut = async move {
            for s in stats.iter() {
                crate::bump!(store_get_requests, 1, s);
                crate::bump!(cache_misses, 1, s);
            }
            let want = range.end - range.start;
            let got = src.store.fetch_range(&src.key, &src.entry, range).await;
            let result = match got {
                Ok(b) if b.len() as u64 == want => {
                    for s in stats.iter() {
                        crate::bump!(bytes_from_store, want, s);
                    }
                    me.memory_put(id, b.clone());
                    if let Some(dir) = me.dir_for(&id).cloned() {
                        if dir.writable() {
                            let data = b.clone();
                            let chunk = page_file::chunk_size_for(me.settings.page_size);
                            let _ = tokio::task::spawn_blocking(move || {
                                dir.write_page(id, &page_file::encode(id, chunk, &data))
                            })
                            .await;
                        }
                    }
                    Ok(b)
                }
                Ok(b) => Err(Error::new(
                    ErrorKind::Corrupt,
                    format!(
                        "the store returned {} bytes for a page of {want} (was the object \
                         changed or truncated?)",
                        b.len()
                    ),
                )),
                Err(e) => Err(e),
            };
            me.inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            result
        }
        .boxed()
        .shared();
        map.insert(id, fut.clone());
        fut
    }

    /// Fetches pages in the background, within the read-ahead budget; pages already present
    /// or in flight are skipped, and pages beyond the budget are left for the reader.
    pub fn prefetch(
        self: &Arc<Self>,
        src: &Arc<FileSource>,
        indices: Range<u64>,
        stats: &StatsSet,
    ) {
        for index in indices {
            let id = PageId {
                file: src.file_id,
                index,
            };
            if self.is_present(&id) {
                continue;
            }
            // With no tier able to keep it, a page fetched ahead would be fetched twice.
            if !self.can_hold(&id) {
                return;
            }
            let Ok(permit) = self.readahead_budget.clone().try_acquire_owned() else {
                return;
            };
            for s in stats.iter() {
                crate::bump!(readahead_pages, 1, s);
            }
            let fut = self.fetch(src, index, stats);
            crate::runtime::handle().spawn(async move {
                let _ = fut.await;
                drop(permit);
            });
        }
    }
}

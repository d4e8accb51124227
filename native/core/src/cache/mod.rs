//! The node cache: pages of files, keyed by the file's version, in an in-process memory tier in
//! front of one or more local disk directories shared by every process on the node.
//!
//! A miss is fetched once however many readers want it (single flight: in the process by a
//! shared future, across the processes of the node by a lock in the directory), lands in both
//! tiers, and is handed to every waiter. Read-ahead fetches pages before a sequential reader
//! asks for them, bounded by the bytes it may have in flight.
//!
//! A page's identity covers everything that decides which bytes it holds: the store's identity
//! (endpoint, account, bucket), the key, the version, the page size and the index. Every page
//! also carries the ETag it was read with, and a reader is bound to one ETag: it serves no
//! byte read under another (`FileSource`).

pub mod disk;
pub mod evict;
pub mod open_pages;
pub mod pack;
pub mod page_file;
pub mod parquet;
pub mod read;
pub mod trust;
pub mod write_stage;

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::stats::Stats;
use crate::store::{Entry, UnderStore};
pub use disk::DiskDir;
pub use page_file::PageId;
pub use read::ReadStream;

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
    /// Bytes of read-ahead in flight at once, for the whole process; `load` keeps as many.
    pub readahead_bytes: u64,
    /// The largest read-ahead window, in pages.
    pub readahead_pages: u64,
    /// Page files kept open by the process, all directories together.
    pub open_pages: usize,
    /// Objects up to this size are packed many to a file (`pack`); 0: each is a page file.
    pub pack_max_object: u64,
    /// How long a fetch waits for another process of the node fetching the same page
    /// (`shoal.store.timeout`: as long as a store that does not answer may hold a call).
    pub lock_wait: Duration,
    /// `shoal.parquet.*`: Parquet-aware reads (`parquet.rs`).
    pub parquet: parquet::ParquetSettings,
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
            Some(v) => parse_dirs(v, page_size)?,
        };
        let open_pages = c.get_usize("shoal.cache.open.pages", open_pages::DEFAULT_OPEN_PAGES)?;
        Ok(Some(CacheSettings {
            page_size,
            memory_size: c.get_size("shoal.cache.memory.size", DEFAULT_MEMORY_SIZE)?,
            dirs,
            readahead_bytes: c.get_size("shoal.cache.readahead.max", DEFAULT_READAHEAD_BYTES)?,
            readahead_pages: c.get_usize(
                "shoal.cache.readahead.pages",
                DEFAULT_READAHEAD_PAGES as usize,
            )? as u64,
            open_pages,
            pack_max_object: c.get_size("shoal.cache.pack.max.object", pack::DEFAULT_MAX_OBJECT)?,
            lock_wait: c.store_settings()?.timeout,
            parquet: parquet::ParquetSettings::from_config(c)?,
        }))
    }
}

/// The default cache directory: private to the user, never a predictable name in a directory
/// every user may write. `$XDG_CACHE_HOME/shoal`, else `$HOME/.cache/shoal`, else the same under
/// the home directory the password database gives, when that directory exists and belongs to
/// this user (Spark executors under YARN may have no usable `HOME`); only when none is usable,
/// `<temp dir>/shoal-cache-<uid>`, which is refused (with a warning) if another user made it.
pub fn default_dir() -> PathBuf {
    let uid = trust::euid();
    let usable = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        p.is_absolute() && std::fs::metadata(p).is_ok_and(|m| m.is_dir() && m.uid() == uid)
    };
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        if x.is_absolute() {
            return x.join("shoal");
        }
    }
    let homes = [
        std::env::var_os("HOME").map(PathBuf::from),
        passwd_home(uid),
    ];
    for home in homes.into_iter().flatten() {
        if usable(&home) {
            return home.join(".cache").join("shoal");
        }
    }
    std::env::temp_dir().join(format!("shoal-cache-{uid}"))
}

/// The home directory of `uid` in the password database.
fn passwd_home(uid: u32) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut buf = vec![0 as libc::c_char; 16 << 10];
    // Safety: getpwuid_r fills `pw` with pointers into `buf`, which outlives their use here.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut found) };
    if r != 0 || found.is_null() || pw.pw_dir.is_null() {
        return None;
    }
    // Safety: a NUL-terminated string inside `buf`.
    let dir = unsafe { std::ffi::CStr::from_ptr(pw.pw_dir) };
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes())))
}

/// Parses `/mnt/a/shoal:200g,/mnt/b/shoal:200g` (a directory without `:size` gets the
/// default capacity). A capacity below one page of `page_size` is an error: it could cache
/// nothing.
pub fn parse_dirs(text: &str, page_size: u64) -> Result<Vec<(PathBuf, u64)>> {
    if text.contains('\0') {
        return Err(Error::config(
            "shoal.cache.dirs holds a NUL byte, which no path can hold",
        ));
    }
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
        if size < page_size {
            return Err(Error::config(format!(
                "shoal.cache.dirs entry '{item}': a capacity of {size} bytes holds not even one \
                 page of {page_size} bytes (shoal.cache.page.size); to cache nothing, set \
                 shoal.cache.enabled=false"
            )));
        }
        out.push((PathBuf::from(path), size));
    }
    if out.is_empty() {
        return Err(Error::config("shoal.cache.dirs names no directory"));
    }
    Ok(out)
}

/// What a page is cut from: one version of one file of one store, as one reader sees it.
///
/// The reader is bound to one ETag of the object: the one its status gave, else the first one
/// a page or a response shows it. It serves no byte read under another ETag: cached pages of
/// another ETag are fetched anew, requests carry `If-Match` with the bound ETag where the
/// reader knows it, and a response of another ETag fails the read (the object changed while it
/// was read). Where the store gives no ETag (local files, HDFS, some HTTP servers) the version
/// (length and modification time) is all that tells versions apart.
#[derive(Debug)]
pub struct FileSource {
    pub store: Arc<dyn UnderStore>,
    pub key: String,
    pub entry: Entry,
    pub file_id: u128,
    /// The ETag this reader is bound to: its binding (`page_file::etag_tag`) and the ETag
    /// itself when known (it is not when the binding came from a cached page).
    bound: OnceLock<(u64, Option<String>)>,
}

impl FileSource {
    pub fn new(store: Arc<dyn UnderStore>, key: String, entry: Entry) -> Self {
        let file_id = file_id(
            &store.identity(),
            &key,
            entry.version.as_deref().unwrap_or(""),
        );
        let bound = OnceLock::new();
        if let Some(e) = &entry.etag {
            let _ = bound.set((page_file::etag_tag(Some(e)), Some(e.clone())));
        }
        FileSource {
            store,
            key,
            entry,
            file_id,
            bound,
        }
    }

    /// The binding this reader holds now (0: none yet).
    pub fn bound_tag(&self) -> u64 {
        self.bound.get().map_or(0, |b| b.0)
    }

    /// The entry to send with requests: its ETag is the one the reader is bound to, if known.
    pub fn expect(&self) -> Entry {
        let mut e = self.entry.clone();
        e.etag = self.bound.get().and_then(|b| b.1.clone());
        e
    }

    /// Whether bytes read under the ETag binding `tag` may be served to this reader; an
    /// unbound reader is bound to it. Bytes with no binding (0) go only to readers with none.
    pub fn accepts(&self, tag: u64, etag: Option<&str>) -> bool {
        if tag == 0 {
            return self.bound.get().is_none();
        }
        let (bound, _) = self.bound.get_or_init(|| (tag, etag.map(str::to_string)));
        *bound == tag
    }

    /// The error of a read that met bytes of another ETag than its own.
    pub fn changed(&self) -> Error {
        Error::new(
            ErrorKind::Corrupt,
            "the object changed in the store while it was being read (its ETag is no longer \
             the one the read began with); open it again",
        )
    }

    /// Reads `out.len()` bytes at `pos` straight from the store (no cache), bound like any
    /// read: returns how many.
    pub fn read_direct(&self, pos: u64, out: &mut [u8]) -> Result<usize> {
        let expect = self.expect();
        let (n, etag) = self.store.read_at(&self.key, &expect, pos, out)?;
        let etag = etag.or(expect.etag);
        if n > 0 && !self.accepts(page_file::etag_tag(etag.as_deref()), etag.as_deref()) {
            return Err(self.changed());
        }
        Ok(n)
    }
}

/// The identity pages of one file version are keyed by: the store's identity (hashed, never
/// shown), the key and the version.
pub fn file_id(store: &str, key: &str, version: &str) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in [store, key, version] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    h.digest128()
}

/// A page's bytes and the ETag they were read under.
#[derive(Debug, Clone)]
pub struct Page {
    pub data: Bytes,
    /// The ETag binding (`page_file::etag_tag`); 0 when the store gave no ETag.
    pub tag: u64,
    /// The ETag itself, when the page came from the store with one.
    pub etag: Option<Arc<str>>,
}

impl Page {
    /// Whether `src` may serve these bytes (binding it when it is not bound yet).
    pub fn fits(&self, src: &FileSource) -> bool {
        src.accepts(self.tag, self.etag.as_deref())
    }
}

type PageFuture = Shared<BoxFuture<'static, Result<Page>>>;

/// The fetch in flight that a reader of `id` bound to the ETag binding `bound` may wait on:
/// one for the same binding; else, for a bound reader, one of an unbound reader, and for an
/// unbound reader, any. Pages of another ETag than a reader's are refused by `Page::fits`, as
/// if it had fetched them itself; without this, two readers of one listed version, one bound
/// by its first page and one not yet (a prefetch), fetch the same page twice.
fn joinable(
    map: &HashMap<(PageId, u64), PageFuture>,
    id: PageId,
    bound: u64,
) -> Option<&PageFuture> {
    map.get(&(id, bound)).or_else(|| {
        if bound != 0 {
            map.get(&(id, 0))
        } else {
            map.iter().find(|((i, _), _)| *i == id).map(|(_, f)| f)
        }
    })
}

/// Counters to bump for one request: its filesystem's and its stream's.
pub type StatsSet = Arc<[Arc<Stats>]>;

pub struct PageCache {
    pub settings: CacheSettings,
    memory: Option<moka::sync::Cache<PageId, Page>>,
    dirs: Vec<Arc<DiskDir>>,
    /// Fetches in flight, by page and the binding of the reader that asked.
    inflight: Mutex<HashMap<(PageId, u64), PageFuture>>,
    readahead_budget: Arc<tokio::sync::Semaphore>,
    /// Pages `fetch_ranges` (load) may have in flight, for the whole process.
    load_budget: Arc<tokio::sync::Semaphore>,
    /// Bytes of pages being fetched now, and the most there ever were.
    fetching: AtomicU64,
    fetching_peak: AtomicU64,
    /// Evictions and corrupt pages, which belong to the cache rather than to a filesystem.
    pub stats: Arc<Stats>,
    /// Parsed Parquet footers and the budget of row-group fetches.
    pub parquet: parquet::ParquetReads,
}

debug_shows!(PageCache, "PageCache", |c| { "settings": c.settings });

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
                .weigher(|_k: &PageId, v: &Page| v.data.len().min(u32::MAX as usize) as u32)
                .build()
        });
        let handles =
            open_pages::bound_by_fd_limit(settings.open_pages).div_ceil(settings.dirs.len().max(1));
        let dirs = settings
            .dirs
            .iter()
            .map(|(p, cap)| {
                let d = DiskDir::open(p, *cap, settings.page_size, handles, stats.clone());
                d.pack_small(settings.pack_max_object);
                d
            })
            .collect();
        let permits = (settings.readahead_bytes / settings.page_size).max(1) as usize;
        PageCache {
            memory,
            dirs,
            inflight: Mutex::new(HashMap::new()),
            readahead_budget: Arc::new(tokio::sync::Semaphore::new(permits)),
            load_budget: Arc::new(tokio::sync::Semaphore::new(permits)),
            fetching: AtomicU64::new(0),
            fetching_peak: AtomicU64::new(0),
            stats,
            parquet: parquet::ParquetReads::new(settings.parquet.clone(), settings.page_size),
            settings,
        }
    }

    pub fn page_size(&self) -> u64 {
        self.settings.page_size
    }

    pub fn dirs(&self) -> &[Arc<DiskDir>] {
        &self.dirs
    }

    /// The most bytes of pages this cache ever had in flight from the stores at once.
    pub fn fetching_peak(&self) -> u64 {
        self.fetching_peak.load(Ordering::Relaxed)
    }

    /// The byte range of page `index` of a file of `len` bytes.
    pub fn page_range(&self, len: u64, index: u64) -> Range<u64> {
        let start = index * self.settings.page_size;
        start..(start + self.settings.page_size).min(len)
    }

    pub fn memory_get(&self, id: &PageId) -> Option<Page> {
        self.memory.as_ref().and_then(|m| m.get(id))
    }

    pub fn memory_put(&self, id: PageId, page: Page) {
        if let Some(m) = &self.memory {
            m.insert(id, page);
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
                .map(|m| m.keys().any(|(i, _)| i == id))
                .unwrap_or(false)
            || self.dir_for(id).is_some_and(|d| d.has_page(*id))
    }

    /// Fetches a page from the store once, however many callers ask at the same time, in this
    /// process and (through the directory's fetch lock) in the others of the node; the page
    /// lands in memory and on disk before the waiters get it, with the ETag binding it was read
    /// under. Callers check that binding (`FileSource::accepts`).
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
        let bound = src.bound_tag();
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = joinable(&map, id, bound) {
            return f.clone();
        }
        let me = self.clone();
        let src = src.clone();
        let stats = stats.clone();
        let range = self.page_range(src.entry.len, index);
        let fut = async move {
            let result = me.fetch_page(&src, id, bound, range, &stats).await;
            me.inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&(id, bound));
            result
        }
        .boxed()
        .shared();
        map.insert((id, bound), fut.clone());
        fut
    }

    async fn fetch_page(
        self: &Arc<Self>,
        src: &Arc<FileSource>,
        id: PageId,
        bound: u64,
        range: Range<u64>,
        stats: &StatsSet,
    ) -> Result<Page> {
        let want = range.end - range.start;
        let dir = self.dir_for(&id).filter(|d| d.writable()).cloned();
        // One process of the node fetches; the others wait, then find the page on disk.
        let _lock = match &dir {
            Some(d) => d.fetch_lock(id, self.settings.lock_wait).await,
            None => None,
        };
        if let Some(d) = &dir {
            let d = d.clone();
            let found = tokio::task::spawn_blocking(move || d.read_page(id, want as u32))
                .await
                .ok()
                .flatten();
            if let Some((data, tag)) = found.filter(|(_, tag)| bound == 0 || *tag == bound) {
                for s in stats.iter() {
                    crate::bump!(cache_hits, 1, s);
                    crate::bump!(bytes_from_disk, want, s);
                }
                let page = Page {
                    data,
                    tag,
                    etag: None,
                };
                self.memory_put(id, page.clone());
                return Ok(page);
            }
        }
        for s in stats.iter() {
            crate::bump!(store_get_requests, 1, s);
            crate::bump!(cache_misses, 1, s);
        }
        let expect = src.expect();
        let got = self
            .in_flight(want, src.store.fetch_range(&src.key, &expect, range))
            .await?;
        if got.data.len() as u64 != want {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "the store returned {} bytes for a page of {want} (was the object \
                     changed or truncated?)",
                    got.data.len()
                ),
            ));
        }
        // A response with no ETag to a request that named one (If-Match) holds that one.
        let etag: Option<Arc<str>> = got.etag.or(expect.etag).map(Arc::from);
        let tag = page_file::etag_tag(etag.as_deref());
        for s in stats.iter() {
            crate::bump!(bytes_from_store, want, s);
        }
        let page = Page {
            data: got.data,
            tag,
            etag,
        };
        self.keep(id, &page).await;
        Ok(page)
    }

    /// Counts `bytes` as in flight from the stores while `fetch` runs.
    async fn in_flight<T>(&self, bytes: u64, fetch: impl std::future::Future<Output = T>) -> T {
        let now = self.fetching.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.fetching_peak.fetch_max(now, Ordering::Relaxed);
        let got = fetch.await;
        self.fetching.fetch_sub(bytes, Ordering::Relaxed);
        got
    }

    /// Puts a page fetched from the store in memory and, written to a temporary name and
    /// renamed, in its directory on disk.
    async fn keep(&self, id: PageId, page: &Page) {
        self.memory_put(id, page.clone());
        if let Some(dir) = self.dir_for(&id).filter(|d| d.writable()).cloned() {
            let data = page.data.clone();
            let (tag, len) = (page.tag, data.len() as u32);
            let e = page_file::Expect {
                id,
                page_size: self.settings.page_size as u32,
                len,
            };
            let _ = tokio::task::spawn_blocking(move || {
                dir.write_page_parts(id, &[&data, &page_file::tail(e, tag, &data)])
            })
            .await;
        }
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

    /// Fetches the pages `indices` of `src` (those missing), at most
    /// `shoal.cache.readahead.max` bytes of them in flight at once for the whole process, and
    /// keeps none of their bytes beyond the tiers: memory stays bounded whatever the file's
    /// size. Fails when a page's ETag is not the one `src` is bound to.
    pub async fn fetch_all(
        self: Arc<Self>,
        src: Arc<FileSource>,
        indices: Vec<u64>,
        stats: StatsSet,
    ) -> Result<()> {
        use futures::StreamExt;
        let window = self.load_budget_size();
        let mut pages = futures::stream::iter(indices)
            .map(|index| {
                let me = self.clone();
                let src = src.clone();
                let stats = stats.clone();
                async move {
                    let _permit = me.load_budget.clone().acquire_owned().await;
                    let page = me.fetch(&src, index, &stats).await?;
                    if page.fits(&src) {
                        Ok(())
                    } else {
                        Err(src.changed())
                    }
                }
            })
            .buffer_unordered(window);
        while let Some(r) = pages.next().await {
            r?;
        }
        Ok(())
    }

    fn load_budget_size(&self) -> usize {
        (self.settings.readahead_bytes / self.settings.page_size).max(1) as usize
    }
}

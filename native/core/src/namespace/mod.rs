//! The Shoal namespace: every operation a front end offers, on Shoal paths, over the mount
//! table. Paths above mount points are synthesized directories; paths outside every mount do
//! not exist. Every error names the Shoal path it concerns.
//!
//! Reading (`reader`) and writing (`writer`) a file have modules of their own; what a read does
//! with the node cache is the cache's (`crate::cache::read`).

mod listing;
mod reader;
mod writer;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub use listing::Listing;
pub use reader::FileReader;
pub use writer::FileWriter;

use crate::cache::write_stage::WriteStage;
use crate::cache::{CacheSettings, FileSource, PageCache, StatsSet};
use crate::cancel::Cancel;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::metadata::{Lookup, MetadataCache, MetadataSettings, Relist};
use crate::mount::{Location, Mount, MountTable, Resolved};
use crate::stats::Stats;
use crate::store::{join_key, Entry};

/// A file's place, the version its pages are cut from, and the cache that holds them.
type CachedFile<'a> = (Resolved, Arc<FileSource>, &'a Arc<PageCache>);

/// What loading one file did (`Namespace::load_files`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Bytes the cache held already (the file's length less what was fetched).
    pub cached_before: u64,
    /// Bytes fetched from the store.
    pub fetched: u64,
}

/// Page fetches `load_files` keeps in flight by default (`shoal.load.parallel`).
pub const DEFAULT_LOAD_PARALLEL: usize = 32;

/// Files `free_files` and `cached_files` work on at once: local disk work, a few threads.
const LOCAL_PARALLEL: usize = 4;

/// Runs `work` on `threads` threads at once (this one among them) and returns when all are
/// done; a thread that cannot start leaves its share to the others.
fn on_threads(threads: usize, name: &str, work: impl Fn() + Sync) {
    std::thread::scope(|s| {
        for _ in 1..threads {
            let _ = std::thread::Builder::new()
                .name(name.into())
                .spawn_scoped(s, &work);
        }
        work();
    });
}

/// A file or directory as front ends see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Absolute Shoal path.
    pub path: String,
    pub is_dir: bool,
    pub len: u64,
    pub mtime_ms: i64,
    pub etag: Option<String>,
    pub version: Option<String>,
}

impl FileInfo {
    fn synthetic_dir(path: String) -> Self {
        FileInfo {
            path,
            is_dir: true,
            len: 0,
            mtime_ms: 0,
            etag: None,
            version: None,
        }
    }

    fn from_entry(r: &Resolved, e: Entry) -> Self {
        FileInfo {
            path: r.mount.shoal_path(&e.key),
            is_dir: e.is_dir,
            len: e.len,
            mtime_ms: e.mtime_ms,
            etag: e.etag,
            version: e.version,
        }
    }
}

/// The namespace of one configuration.
#[derive(Debug)]
pub struct Namespace {
    mounts: MountTable,
    /// `shoal.cluster.hosts`, used when no live membership has been reported.
    static_hosts: Option<crate::placement::HashRing>,
    metadata: Arc<MetadataCache>,
    cache: Option<Arc<PageCache>>,
    /// Prefetch across files (`crate::prefetch`); `None` when off or with no cache.
    prefetch: Option<Arc<crate::prefetch::Prefetcher>>,
    stats: Arc<Stats>,
    /// `shoal.load.parallel`.
    load_parallel: usize,
}

impl Namespace {
    pub fn new(config: &Config) -> Result<Self> {
        // Every shoal.* value is checked first; unknown keys are warnings, not errors.
        for warning in config.check()? {
            tracing::warn!(target: "shoal_core::config", "{warning}");
        }
        let threads = match config
            .get("shoal.runtime.threads")
            .filter(|v| !v.is_empty())
        {
            Some(_) => Some(config.get_usize("shoal.runtime.threads", 1)?),
            None => None,
        };
        crate::runtime::init(threads)?;
        let mounts = MountTable::from_specs(&config.mounts()?, &config.store_settings()?)?;
        let metadata = MetadataCache::new(MetadataSettings::from_config(config)?);
        let cache = CacheSettings::from_config(config)?.map(|s| PageCache::shared(&s));
        let static_hosts = config
            .get("shoal.cluster.hosts")
            .map(|v| v.split(',').collect::<Vec<_>>())
            .map(|h| crate::placement::HashRing::new(&h, crate::placement::DEFAULT_VNODES))
            .filter(|r| !r.is_empty());
        let stats = Arc::new(Stats::default());
        let prefetch = match &cache {
            Some(c) => crate::prefetch::Prefetcher::new(
                crate::prefetch::PrefetchSettings::from_config(config)?,
                c.clone(),
                Arc::from(vec![stats.clone(), crate::stats::process().clone()]),
            ),
            None => None,
        };
        Ok(Namespace {
            mounts,
            static_hosts,
            metadata: Arc::new(metadata),
            cache,
            prefetch,
            stats,
            load_parallel: config.get_usize("shoal.load.parallel", DEFAULT_LOAD_PARALLEL)?,
        })
    }

    pub fn mount_table(&self) -> &MountTable {
        &self.mounts
    }

    /// The page cache, when caching is on.
    pub fn page_cache(&self) -> Option<&Arc<PageCache>> {
        self.cache.as_ref()
    }

    /// The listing of the directory `path` that the metadata cache holds, with no request
    /// (mount points below it left out); `None` when it holds none, or only the one a status
    /// probe kept (no caller listed the directory).
    pub(crate) fn cached_listing(&self, path: &str) -> Option<Vec<FileInfo>> {
        match self.mounts.locate(path) {
            // A listing only a status probe kept is not one this process made.
            Ok(Location::Mounted(r)) if self.metadata.only_probed(&r.mount.name, &r.key) => None,
            Ok(Location::Mounted(r)) => self.metadata.listing(&r.mount.name, &r.key).map(|l| {
                l.iter()
                    .map(|e| FileInfo::from_entry(&r, e.clone()))
                    .collect()
            }),
            _ => None,
        }
    }

    /// Lists the directory `path` on a thread of its own, for the metadata cache and for
    /// `then` (the prefetch of a directory this process did not list, which must not hold up
    /// the reader that opened its file); false when none started (a listing of it runs).
    pub(crate) fn list_in_background(
        &self,
        path: &str,
        then: impl FnOnce(Result<Vec<FileInfo>>) + Send + 'static,
    ) -> bool {
        let Ok(Location::Mounted(r)) = self.mounts.locate(path) else {
            return false;
        };
        let Relist::Lead(guard) =
            self.metadata
                .start_relist(&r.mount.name, &r.key, true, r.mount.immutable)
        else {
            return false;
        };
        self.count_metadata_request();
        std::thread::Builder::new()
            .name("shoal-prefetch-list".into())
            .spawn(move || {
                // Cached as any listing is, only while it fits (`MetadataCache`'s bound).
                let listed = list_dir(&r.mount, &r.key).and_then(|l| {
                    let mut copy = guard.copy();
                    copy.add(&l);
                    guard.finish_copy(Ok(copy)).map(|()| l)
                });
                then(listed.map(|l| {
                    l.iter()
                        .map(|e| FileInfo::from_entry(&r, e.clone()))
                        .collect()
                }))
            })
            .is_ok()
    }

    /// The prefetcher, when prefetching across files is on.
    pub fn prefetcher(&self) -> Option<&Arc<crate::prefetch::Prefetcher>> {
        self.prefetch.as_ref()
    }

    /// This filesystem's counters, with the cache's evictions and corrupt pages.
    pub fn stats(&self) -> Vec<u64> {
        let mut v = self.stats.snapshot();
        if let Some(c) = &self.cache {
            let names = crate::stats::COUNTER_NAMES;
            let cache = c.stats.snapshot();
            for (i, n) in names.iter().enumerate() {
                if *n == "evictions" || *n == "corrupt_pages" {
                    v[i] = cache[i];
                }
            }
        }
        v
    }

    /// The hosts that own each `block_size` block of a file: from the live membership the
    /// Spark plugin reports, else `shoal.cluster.hosts`; empty when neither is known.
    /// Whether one of `names` is a host of the placement ring (true when there is no ring, as
    /// every file is then this node's).
    pub(crate) fn on_placement_ring(&self, names: &std::collections::HashSet<String>) -> bool {
        let live = crate::placement::live_hosts();
        match live.as_deref().or(self.static_hosts.as_ref()) {
            Some(ring) if !ring.is_empty() => ring.hosts().iter().any(|h| names.contains(h)),
            _ => true,
        }
    }

    pub fn block_owners(&self, path: &str, len: u64, block_size: u64) -> Vec<String> {
        let live = crate::placement::live_hosts();
        let ring = live.as_deref().or(self.static_hosts.as_ref());
        crate::placement::block_owners(ring, path, len, block_size)
    }

    /// Every file at or under `path` (the file itself when it is one), sorted by path: one flat
    /// listing per mount involved (mounts nested below `path` included), not a directory walk.
    /// Held whole: [`Namespace::walk_stream`] hands the same files on batch by batch.
    pub fn walk_files(&self, path: &str) -> Result<Vec<FileInfo>> {
        let mut out = Vec::new();
        for batch in self.walk_stream(path)? {
            out.extend(batch?);
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Every file at or under `path` (the file itself when it is one), batch by batch as the
    /// stores' flat listings page (one per mount involved, mounts nested below `path`
    /// included), each mount's files in its store's key order. A missing `path` fails here;
    /// a store's error later fails the batch that meets it.
    pub fn walk_stream(&self, path: &str) -> Result<Listing> {
        let top = self.status(path)?;
        if !top.is_dir {
            return Ok(Listing::of(vec![top], self));
        }
        let base = crate::path::join(&crate::path::segments(path)?);
        // The mounts strictly below `dir`, whose files its listing does not show.
        let nested_in = |dir: &str| -> Vec<String> {
            let prefix = format!("{}/", dir.trim_end_matches('/'));
            self.mounts
                .mounts()
                .filter(|m| m.path != dir && m.path.starts_with(&prefix))
                .map(|m| m.path.clone())
                .collect()
        };
        let mut parts = Vec::new();
        // The mount holding `path` itself (none when it is above every mount).
        if let Location::Mounted(r) = self.mounts.locate(&base)? {
            let nested = nested_in(&r.mount.path);
            parts.push(listing::Part { r, nested });
        }
        // Mounts below `path`; deeper mounts nested inside each are listed on their own turn.
        let prefix = if base == "/" {
            "/".to_string()
        } else {
            format!("{base}/")
        };
        for m in self.mounts.mounts() {
            if m.path.starts_with(&prefix) && m.path != base {
                let r = Resolved {
                    mount: m.clone(),
                    key: String::new(),
                    path: m.path.clone(),
                };
                parts.push(listing::Part {
                    nested: nested_in(&m.path),
                    r,
                });
            }
        }
        Ok(Listing::files(parts, self))
    }

    /// (bytes held, capacity) of this namespace's cache directories together, as counted by
    /// every process sharing them; (0, 0) when caching is off.
    pub fn cache_usage(&self) -> (u64, u64) {
        self.cache.as_ref().map_or((0, 0), |c| c.usage())
    }

    /// Drops cached metadata after a change made through this namespace.
    fn changed(&self) {
        self.metadata.invalidate_all();
    }

    fn mounted(&self, op: &str, path: &str) -> Result<Resolved> {
        match self.mounts.locate(path).map_err(|e| e.context(op, path))? {
            Location::Mounted(r) => Ok(r),
            Location::Ancestor(p) => Err(Error::new(
                ErrorKind::ReadOnly,
                format!("{op} {p}: this directory holds mount points and is not in any mount"),
            )),
            Location::Outside(p) => Err(not_mounted(op, &p)),
        }
    }

    /// Whether the statuses of files under `path` carry their store's ETag, the same from a
    /// listing as from a status request (Hadoop's `fs.capability.etags.available`).
    pub fn etags_available(&self, path: &str) -> Result<bool> {
        match self
            .mounts
            .locate(path)
            .map_err(|e| e.context("capability", path))?
        {
            Location::Mounted(r) => r.mount.store.etags_available(&r.key).map_err(|e| {
                e.context(
                    "capability",
                    &format!("{} (in {})", r.path, r.mount.store.describe()),
                )
            }),
            _ => Ok(false),
        }
    }

    fn writable(&self, op: &str, path: &str) -> Result<Resolved> {
        let r = self.mounted(op, path)?;
        if let Some(why) = r.mount.store.read_only() {
            return Err(Error::new(
                ErrorKind::ReadOnly,
                format!(
                    "{op} {}: mount '{}' is read-only: {why}",
                    r.path, r.mount.name
                ),
            ));
        }
        if r.mount.readonly {
            return Err(Error::new(
                ErrorKind::ReadOnly,
                format!(
                    "{op} {}: mount '{}' is read-only (shoal.mount.{}.readonly=true)",
                    r.path, r.mount.name, r.mount.name
                ),
            ));
        }
        Ok(r)
    }

    /// Counts a metadata lookup: a cache hit, or a miss that costs one store request.
    fn count_metadata(&self, hit: bool) {
        let process = crate::stats::process();
        if hit {
            crate::bump!(metadata_hits, 1, self.stats, process);
        } else {
            crate::bump!(metadata_misses, 1, self.stats, process);
            crate::bump!(store_metadata_requests, 1, self.stats, process);
        }
    }

    /// Counts a store request made for metadata.
    fn count_metadata_request(&self) {
        crate::bump!(
            store_metadata_requests,
            1,
            self.stats,
            crate::stats::process()
        );
    }

    fn stat_resolved(&self, r: &Resolved) -> Result<Option<Entry>> {
        let m = &r.mount.name;
        match self.metadata.lookup_status(m, &r.key) {
            Lookup::Hit(hit, refresh) => {
                self.count_metadata(true);
                if let Some(dir) = refresh {
                    self.relist_in_background(&r.mount, &dir);
                }
                return Ok(hit);
            }
            Lookup::Relist(dir) => {
                crate::bump!(metadata_misses, 1, self.stats, crate::stats::process());
                self.relist(&r.mount, &dir)?;
                if let Lookup::Hit(hit, _) = self.metadata.lookup_status(m, &r.key) {
                    return Ok(hit);
                }
                // Not in its directory's listing: asked for alone.
                self.count_metadata_request();
            }
            Lookup::Miss => self.count_metadata(false),
        }
        let found = self.stat_in_store(r).map_err(|e| {
            e.context(
                "status",
                &format!("{} (in {})", r.path, r.mount.store.describe()),
            )
        })?;
        self.metadata
            .put_status(&r.mount.name, &r.key, found.clone(), r.mount.immutable);
        Ok(found)
    }

    /// A status from the store. Where a flat listing of the tree may be made, a key that is no
    /// object is probed as a directory with the first page of one, and the listings it holds
    /// whole are kept (`UnderStore::stat_tree`): Spark's `getFileStatus` of an input path and
    /// the listing of it that follows then cost a HEAD and one LIST, not a HEAD and two LISTs.
    fn stat_in_store(&self, r: &Resolved) -> Result<Option<Entry>> {
        if self.tree_max_entries(r).is_some() {
            let copy = self.metadata.listing_copy();
            if let Some((found, tree)) = r.mount.store.stat_tree(&r.key)? {
                if let Some(tree) = tree {
                    self.count_tree(&tree);
                    // Only a directory read whole in the one page is kept. A larger tree is
                    // read by the directory's first listing, within the bound.
                    if tree.root_whole && found.as_ref().is_some_and(|e| e.is_dir) {
                        let kept = tree.dirs.iter().map(|(d, _)| d.as_str());
                        self.metadata.mark_probed(&r.mount.name, kept);
                        self.keep_tree(r, &copy, tree);
                    }
                }
                return Ok(found);
            }
        }
        r.mount.store.stat(&r.key)
    }

    /// Lists directory `dir` of a mount for the metadata cache, or waits for the listing of it
    /// that is running (single-flight per directory); the cache keeps what it returns, where it
    /// fits (see `crate::metadata`).
    fn relist(&self, mount: &Arc<Mount>, dir: &str) -> Result<()> {
        match self
            .metadata
            .start_relist(&mount.name, dir, false, mount.immutable)
        {
            Relist::Lead(guard) => relist_into(guard, mount, dir, &self.stats),
            Relist::Join(flight) => flight.wait(),
            Relist::Busy => unreachable!("only a background listing is refused"),
        }
    }

    /// Starts listing directory `dir` in the background to revalidate its cached entries,
    /// unless it is being listed already or enough background listings run.
    fn relist_in_background(&self, mount: &Arc<Mount>, dir: &str) {
        let Relist::Lead(guard) =
            self.metadata
                .start_relist(&mount.name, dir, true, mount.immutable)
        else {
            return;
        };
        let mount = mount.clone();
        let dir = dir.to_string();
        let stats = self.stats.clone();
        // A thread that cannot start drops the guard, which ends the listing as failed.
        let _ = std::thread::Builder::new()
            .name("shoal-relist".into())
            .spawn(move || {
                if let Err(e) = relist_into(guard, &mount, &dir, &stats) {
                    tracing::warn!(
                        "revalidating the metadata of {} failed, its cached entries expire \
                         at their TTL: {e}",
                        mount.shoal_path(&dir)
                    );
                }
            });
    }

    /// A directory's listing, from the metadata cache when it holds it, else from the store,
    /// after the entries in `first`; names in `hidden` (mount points) are left out.
    fn listing_of(
        &self,
        r: Resolved,
        hidden: Vec<String>,
        first: Vec<FileInfo>,
    ) -> Result<Listing> {
        let dir = listing::Dir { r, hidden };
        self.metadata
            .listed_by_caller(&dir.r.mount.name, &dir.r.key);
        match self.metadata.lookup_listing(&dir.r.mount.name, &dir.r.key) {
            Lookup::Hit(hit, refresh) => {
                self.count_metadata(true);
                if let Some(d) = refresh {
                    self.relist_in_background(&dir.r.mount, &d);
                }
                Ok(Listing::cached(first, dir, hit, self))
            }
            Lookup::Relist(_) | Lookup::Miss => {
                crate::bump!(metadata_misses, 1, self.stats, crate::stats::process());
                match self.list_tree(&dir.r)? {
                    Some(entries) => Ok(Listing::cached(first, dir, entries, self)),
                    None => Listing::from_store(first, dir, self),
                }
            }
        }
    }

    /// A directory's first listing as one flat listing of its tree, where its store has one
    /// and `shoal.metadata.tree.max.entries` allows: the metadata cache keeps the listing of
    /// every directory it held whole, so the directories below are then listed with no request
    /// (a dataset's class directories, which Spark lists one after the other). The
    /// directory's own entries when the tree was read whole, else `None` (a larger tree: the
    /// directory is listed alone, and the directories the flat listing held are kept).
    fn list_tree(&self, r: &Resolved) -> Result<Option<Arc<Vec<Entry>>>> {
        let Some(max) = self.tree_max_entries(r) else {
            return Ok(None);
        };
        let copy = self.metadata.listing_copy();
        let Some(tree) = r
            .mount
            .store
            .list_tree(&r.key, max)
            .map_err(|e| listing::list_error(r, e))?
        else {
            return Ok(None);
        };
        self.count_tree(&tree);
        if !tree.root_whole {
            // Too large (or unclear) to read whole: when it is listed again, it is listed alone.
            self.metadata.list_alone(&r.mount.name, &r.key);
        }
        Ok(self.keep_tree(r, &copy, tree))
    }

    /// Counts the requests of a flat listing.
    fn count_tree(&self, tree: &crate::store::TreeListings) {
        let process = crate::stats::process();
        crate::bump!(store_metadata_requests, tree.requests, self.stats, process);
    }

    /// How many objects a flat listing of `r`'s tree may read, where one may be made.
    fn tree_max_entries(&self, r: &Resolved) -> Option<usize> {
        let max = self.metadata.tree_max_entries();
        (max > 0 && !self.metadata.listed_alone(&r.mount.name, &r.key)).then_some(max)
    }

    /// Keeps the listings a flat listing of `r`'s tree gave (`copy`: the metadata's generation
    /// when it started); the directory's own entries where it was read whole.
    fn keep_tree(
        &self,
        r: &Resolved,
        copy: &crate::metadata::ListingCopy,
        tree: crate::store::TreeListings,
    ) -> Option<Arc<Vec<Entry>>> {
        let root = tree
            .root_whole
            .then(|| tree.dirs.iter().find(|(d, _)| *d == r.key))
            .flatten()
            .map(|(_, e)| Arc::new(e.clone()));
        let mut dirs = tree.dirs;
        // The listed directory first: it is the one kept if the cache has room for one.
        dirs.sort_by_key(|(d, _)| *d != r.key);
        self.metadata
            .keep_tree(&r.mount.name, copy, dirs, r.mount.immutable);
        // A directory whose entries the flat listing could not tell apart is listed alone
        // when it is listed, not by another flat listing of its own tree.
        for d in &tree.alone {
            self.metadata.list_alone(&r.mount.name, d);
        }
        root
    }

    /// The status of one path.
    pub fn status(&self, path: &str) -> Result<FileInfo> {
        match self
            .mounts
            .locate(path)
            .map_err(|e| e.context("status", path))?
        {
            Location::Ancestor(p) => Ok(FileInfo::synthetic_dir(p)),
            Location::Outside(p) => Err(not_mounted("status", &p)),
            Location::Mounted(r) => match self.stat_resolved(&r)? {
                Some(e) => Ok(FileInfo::from_entry(&r, e)),
                None if r.key.is_empty() => Ok(FileInfo::synthetic_dir(r.path)),
                None => Err(Error::not_found(format!(
                    "status {}: no such file or directory",
                    r.path
                ))),
            },
        }
    }

    /// The entries of a directory, or the file itself. Mount points below `path` appear as
    /// directories, and hide whatever the enclosing store has under the same name. Sorted by
    /// path, held whole: [`Namespace::list_stream`] hands the same entries on batch by batch.
    pub fn list(&self, path: &str) -> Result<Vec<FileInfo>> {
        let mut out = Vec::new();
        for batch in self.list_stream(path)? {
            out.extend(batch?);
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        // A name that is both an object and a prefix (`x` and `x/...`) is listed once.
        out.dedup_by(|a, b| a.path == b.path);
        Ok(out)
    }

    /// The entries of a directory (or the file itself), batch by batch as the store's listing
    /// pages: mount points below `path` first, then the store's entries in its key order. A
    /// missing `path` fails here; a store's error later fails the batch that meets it.
    pub fn list_stream(&self, path: &str) -> Result<Listing> {
        let children = self
            .mounts
            .child_mount_points(path)
            .map_err(|e| e.context("list", path))?;
        let base = crate::path::join(&crate::path::segments(path)?);
        let points: Vec<FileInfo> = children
            .iter()
            .map(|c| {
                FileInfo::synthetic_dir(if base == "/" {
                    format!("/{c}")
                } else {
                    format!("{base}/{c}")
                })
            })
            .collect();
        match self
            .mounts
            .locate(path)
            .map_err(|e| e.context("list", path))?
        {
            Location::Ancestor(_) => Ok(Listing::of(points, self)),
            Location::Outside(p) => Err(not_mounted("list", &p)),
            Location::Mounted(r) => {
                let (key, at) = (r.key.clone(), r.path.clone());
                let mut listing = self.listing_of(r, children, points)?;
                if !key.is_empty() && !listing.fill()? {
                    // Empty directory, a file, or nothing at all.
                    let st = self.status(&at)?;
                    if !st.is_dir {
                        return Ok(Listing::of(vec![st], self));
                    }
                }
                Ok(listing)
            }
        }
    }

    /// Opens a file for positioned reads. With `known` (from an earlier status) no metadata
    /// request is made.
    pub fn open(&self, path: &str, known: Option<FileInfo>) -> Result<FileReader> {
        let (r, source) = self.source("open", path, known)?;
        let cache = self.cache.clone().filter(|_| r.mount.cached);
        if let (Some(p), Some(_)) = (&self.prefetch, &cache) {
            p.opened(self, &r.path, &source);
        }
        Ok(FileReader::new(
            r,
            source,
            cache,
            self.metadata.clone(),
            &self.stats,
        ))
    }

    /// The version of a file pages are cut from: the one `known` names, else the one its
    /// status reports now.
    pub(crate) fn source(
        &self,
        op: &str,
        path: &str,
        known: Option<FileInfo>,
    ) -> Result<(Resolved, Arc<FileSource>)> {
        let r = match self.mounts.locate(path).map_err(|e| e.context(op, path))? {
            Location::Mounted(r) => r,
            Location::Ancestor(p) => {
                return Err(Error::new(
                    ErrorKind::IsADirectory,
                    format!("{op} {p}: is a directory"),
                ))
            }
            Location::Outside(p) => return Err(not_mounted(op, &p)),
        };
        let entry = match known {
            Some(k) => Entry {
                key: r.key.clone(),
                is_dir: false,
                len: k.len,
                mtime_ms: k.mtime_ms,
                etag: k.etag,
                version: k.version,
            },
            None => match self.stat_resolved(&r)? {
                Some(e) => e,
                None if r.key.is_empty() => Entry::dir("", 0),
                None => return Err(Error::not_found(format!("{op} {}: no such file", r.path))),
            },
        };
        if entry.is_dir {
            return Err(Error::new(
                ErrorKind::IsADirectory,
                format!("{op} {}: is a directory", r.path),
            ));
        }
        let source = Arc::new(FileSource::new(r.mount.store.clone(), r.key.clone(), entry));
        Ok((r, source))
    }

    /// The cache a file's pages live in, with the version they are keyed by; `None` when its
    /// mount is not cached.
    fn cached_source(
        &self,
        op: &str,
        path: &str,
        known: Option<FileInfo>,
    ) -> Result<Option<CachedFile<'_>>> {
        let (r, source) = self.source(op, path, known)?;
        Ok(match &self.cache {
            Some(c) if r.mount.cached => Some((r, source, c)),
            _ => None,
        })
    }

    fn counters(&self) -> StatsSet {
        Arc::from(vec![self.stats.clone(), crate::stats::process().clone()])
    }

    /// Brings a whole file (the version `known` names, else the current one) into this node's
    /// cache; returns the bytes fetched from the store (0 when the mount is not cached).
    pub fn load(&self, path: &str, known: Option<FileInfo>) -> Result<u64> {
        self.load_with(path, known, PageCache::load)
    }

    /// Runs `fetch` (`PageCache::load` or `load_footer`) on a file's source (the version
    /// `known` names, else the current one) in its mount's cache, its errors named `load`;
    /// the bytes fetched from the store, 0 when the mount is not cached.
    fn load_with(
        &self,
        path: &str,
        known: Option<FileInfo>,
        fetch: fn(&Arc<PageCache>, &Arc<FileSource>, &StatsSet) -> Result<u64>,
    ) -> Result<u64> {
        let Some((r, source, cache)) = self.cached_source("load", path, known)? else {
            return Ok(0);
        };
        fetch(cache, &source, &self.counters()).map_err(|e| e.context("load", &r.path))
    }

    /// Brings many files (each the version its `FileInfo` names) into this node's cache,
    /// `shoal.load.parallel` page fetches at a time for the whole call, across as many files:
    /// a small file is one fetch, a large one is many, so at most that many GETs (each of at
    /// most one page) are in flight, whatever the files' sizes. `done` is called once per
    /// file, with its index in `files`, from the thread that finished it. A file whose
    /// `FileInfo` names no version is loaded in the version its status reports now.
    ///
    /// Once `cancel` is cancelled no page fetch starts (it is checked before each file is
    /// planned and before each fetch); the fetches in flight finish, each page whole or not
    /// at all (`crate::cancel`), and every file not finished is reported `Error::cancelled`.
    pub fn load_files<F>(&self, files: &[FileInfo], cancel: &Cancel, done: F)
    where
        F: Fn(usize, Result<Loaded>) + Sync,
    {
        struct Job {
            source: Arc<FileSource>,
            cache: Arc<PageCache>,
            path: String,
            left: AtomicU64,
            failed: Mutex<Option<Error>>,
            fetched: Arc<Stats>,
            stats: StatsSet,
        }
        let mut jobs: Vec<Option<Job>> = Vec::with_capacity(files.len());
        // (file, page): a unit of work, one page fetch at most.
        let mut units: Vec<(usize, u64)> = Vec::new();
        for (i, f) in files.iter().enumerate() {
            if cancel.is_cancelled() {
                done(i, Err(Error::cancelled("load", &f.path)));
                jobs.push(None);
                continue;
            }
            let known = f.version.is_some().then(|| f.clone());
            let job = match self.cached_source("load", &f.path, known) {
                Err(e) => {
                    done(i, Err(e));
                    None
                }
                Ok(Some((r, source, cache))) if source.entry.len > 0 => {
                    let pages = source.entry.len.div_ceil(cache.page_size());
                    units.extend((0..pages).map(|p| (i, p)));
                    let fetched = Arc::new(Stats::default());
                    let stats: StatsSet = self
                        .counters()
                        .iter()
                        .cloned()
                        .chain([fetched.clone()])
                        .collect();
                    Some(Job {
                        source,
                        cache: cache.clone(),
                        path: r.path,
                        left: AtomicU64::new(pages),
                        failed: Mutex::new(None),
                        fetched,
                        stats,
                    })
                }
                // Empty, or in a mount that is not cached.
                Ok(_) => {
                    done(
                        i,
                        Ok(Loaded {
                            cached_before: 0,
                            fetched: 0,
                        }),
                    );
                    None
                }
            };
            jobs.push(job);
        }
        let next = AtomicUsize::new(0);
        let work = || {
            while let Some(&(i, page)) = units.get(next.fetch_add(1, Ordering::Relaxed)) {
                let Some(job) = &jobs[i] else { continue };
                let mut ok = job
                    .failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_none();
                if ok && cancel.is_cancelled() {
                    // The file's remaining pages are passed over, each counted off below.
                    let mut failed = job.failed.lock().unwrap_or_else(|p| p.into_inner());
                    failed.get_or_insert_with(|| Error::cancelled("load", &job.path));
                    ok = false;
                }
                if ok {
                    let ps = job.cache.page_size();
                    if let Err(e) =
                        job.cache
                            .fetch_ranges(&job.source, &[(page * ps, ps)], &job.stats)
                    {
                        let mut failed = job.failed.lock().unwrap_or_else(|p| p.into_inner());
                        failed.get_or_insert_with(|| e.context("load", &job.path));
                    }
                }
                if job.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    let fetched = job.fetched.bytes_from_store.load(Ordering::Relaxed);
                    let failed = job.failed.lock().unwrap_or_else(|p| p.into_inner()).take();
                    done(
                        i,
                        match failed {
                            Some(e) => Err(e),
                            None => Ok(Loaded {
                                cached_before: job.source.entry.len.saturating_sub(fetched),
                                fetched,
                            }),
                        },
                    );
                }
            }
        };
        on_threads(self.load_parallel.min(units.len()), "shoal-load", work);
    }

    /// Brings a file's Parquet footer (the version `known` names, else the current one) into
    /// this node's cache and parses it, so that planning a query on this node reads no footer
    /// from the store (`load --footers`); returns the bytes fetched from the store. A file
    /// that is not Parquet costs its last page; 0 when the mount is not cached.
    pub fn load_footer(&self, path: &str, known: Option<FileInfo>) -> Result<u64> {
        self.load_with(path, known, PageCache::load_footer)
    }

    /// `load_footer` of many files, `shoal.load.parallel` of them at a time (one or two small
    /// GETs each: latency, not bandwidth, is what they cost), each in the version its
    /// `FileInfo` names (the current one where it names none). `done` is called once per file,
    /// with its index, the bytes of the file cached before and those fetched, from the thread
    /// that finished it.
    pub fn load_footers<F>(&self, files: &[FileInfo], cancel: &Cancel, done: F)
    where
        F: Fn(usize, Result<Loaded>) + Sync,
    {
        self.each_file(
            "load",
            files,
            self.load_parallel,
            cancel,
            |f, known| {
                let cached_before = self.cached_bytes(&f.path, known.clone())?;
                let fetched = self.load_footer(&f.path, known)?;
                Ok(Loaded {
                    cached_before,
                    fetched,
                })
            },
            done,
        );
    }

    /// What this node's cache holds of many files: `cached_bytes` of each (the version its
    /// `FileInfo` names, the current one where it names none), a few files at a time. `done`
    /// is called once per file, with its index, from the thread that finished it.
    pub fn cached_files<F>(&self, files: &[FileInfo], cancel: &Cancel, done: F)
    where
        F: Fn(usize, Result<u64>) + Sync,
    {
        self.each_file(
            "cached bytes",
            files,
            LOCAL_PARALLEL,
            cancel,
            |f, known| self.cached_bytes(&f.path, known),
            done,
        );
    }

    /// Frees many files from this node's cache (each the version its `FileInfo` names, the
    /// current one where it names none), a few at a time; `done` gets each file's index and
    /// `(bytes cached before, bytes freed on disk)`.
    pub fn free_files<F>(&self, files: &[FileInfo], cancel: &Cancel, done: F)
    where
        F: Fn(usize, Result<(u64, u64)>) + Sync,
    {
        self.each_file(
            "free",
            files,
            LOCAL_PARALLEL,
            cancel,
            |f, known| {
                let before = self.cached_bytes(&f.path, known.clone())?;
                Ok((before, self.free(&f.path, known)?))
            },
            done,
        );
    }

    /// Runs `op` (named `name` in errors) on every file, at most `parallel` at a time, and
    /// hands each outcome to `done`; once `cancel` is cancelled, the files not started yet are
    /// reported `Error::cancelled` without running `op`.
    fn each_file<T, O, F>(
        &self,
        name: &str,
        files: &[FileInfo],
        parallel: usize,
        cancel: &Cancel,
        op: O,
        done: F,
    ) where
        O: Fn(&FileInfo, Option<FileInfo>) -> Result<T> + Sync,
        F: Fn(usize, Result<T>) + Sync,
    {
        let next = AtomicUsize::new(0);
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(f) = files.get(i) else { break };
            if cancel.is_cancelled() {
                done(i, Err(Error::cancelled(name, &f.path)));
                continue;
            }
            let known = f.version.is_some().then(|| f.clone());
            done(i, op(f, known));
        };
        on_threads(parallel.min(files.len()), "shoal-files", work);
    }

    /// Drops a file's pages (the version `known` names, else the current one) from this
    /// node's cache, leaving the store alone; returns the bytes freed on disk.
    pub fn free(&self, path: &str, known: Option<FileInfo>) -> Result<u64> {
        Ok(match self.cached_source("free", path, known)? {
            Some((_, source, cache)) => cache.free(&source),
            None => 0,
        })
    }

    /// Bytes of a file (the version `known` names, else the current one) this node's cache
    /// holds, in memory or on disk.
    pub fn cached_bytes(&self, path: &str, known: Option<FileInfo>) -> Result<u64> {
        Ok(match self.cached_source("cached bytes", path, known)? {
            Some((_, source, cache)) => cache.cached_bytes(&source),
            None => 0,
        })
    }

    /// Starts writing a file. Refused when a directory is there, or a file and not
    /// `overwrite`, or when the parent is a file.
    pub fn create(&self, path: &str, overwrite: bool) -> Result<FileWriter> {
        let r = self.writable("create", path)?;
        if r.key.is_empty() || !self.mounts.child_mount_points(&r.path)?.is_empty() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("create {}: a directory (a mount point) is there", r.path),
            ));
        }
        match self.stat_resolved(&r)? {
            Some(e) if e.is_dir => {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("create {}: a directory is there", r.path),
                ))
            }
            Some(_) if !overwrite => {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("create {}: the file exists and overwrite is false", r.path),
                ))
            }
            _ => {}
        }
        // No ancestor may be a file; the first one that is a directory ends the walk.
        let mut ancestor = r.key.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            let at = Resolved {
                mount: r.mount.clone(),
                key: parent.to_string(),
                path: r.mount.shoal_path(parent),
            };
            match self.stat_resolved(&at)? {
                Some(p) if p.is_dir => break,
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::NotADirectory,
                        format!("create {}: ancestor {} is a file", r.path, at.path),
                    ))
                }
                None => ancestor = parent,
            }
        }
        let inner = r
            .mount
            .store
            .writer(&r.key)
            .map_err(|e| e.context("create", &r.path))?;
        self.changed();
        let stage = match &self.cache {
            Some(cache) if r.mount.cached && r.mount.cache_writes => WriteStage::new(cache.clone()),
            _ => None,
        };
        Ok(FileWriter::new(inner, self.metadata.clone(), stage, r))
    }

    /// Makes a directory and its parents.
    pub fn mkdirs(&self, path: &str) -> Result<()> {
        if let Location::Ancestor(_) = self
            .mounts
            .locate(path)
            .map_err(|e| e.context("mkdirs", path))?
        {
            return Ok(());
        }
        let r = self.writable("mkdirs", path)?;
        if r.key.is_empty() {
            return Ok(());
        }
        // Every existing ancestor within the mount must be a directory; a directory already
        // there needs nothing written (no second marker).
        let segs: Vec<&str> = r.key.split('/').collect();
        for i in 1..=segs.len() {
            let k = segs[..i].join("/");
            match r
                .mount
                .store
                .stat(&k)
                .map_err(|e| e.context("mkdirs", &r.path))?
            {
                Some(e) if !e.is_dir => {
                    let kind = if i == segs.len() {
                        ErrorKind::AlreadyExists
                    } else {
                        ErrorKind::NotADirectory
                    };
                    return Err(Error::new(
                        kind,
                        format!("mkdirs {}: {} is a file", r.path, r.mount.shoal_path(&k)),
                    ));
                }
                Some(_) if i == segs.len() => return Ok(()),
                Some(_) => {}
                None => break,
            }
        }
        let done = r
            .mount
            .store
            .mkdirs(&r.key)
            .map_err(|e| e.context("mkdirs", &r.path));
        self.changed();
        done
    }

    /// Deletes a file or a directory. Returns false when nothing was there.
    pub fn delete(&self, path: &str, recursive: bool) -> Result<bool> {
        match self
            .mounts
            .locate(path)
            .map_err(|e| e.context("delete", path))?
        {
            Location::Outside(_) => return Ok(false),
            Location::Ancestor(p) => {
                return Err(Error::new(
                    ErrorKind::ReadOnly,
                    format!("delete {p}: mount points cannot be deleted; change the configuration"),
                ))
            }
            Location::Mounted(_) => {}
        }
        let r = self.writable("delete", path)?;
        let Some(entry) = self.stat_resolved(&r)? else {
            return Ok(false);
        };
        if entry.is_dir {
            if !self.mounts.child_mount_points(&r.path)?.is_empty() {
                return Err(Error::new(
                    ErrorKind::ReadOnly,
                    format!("delete {}: it holds mount points", r.path),
                ));
            }
            let empty = !self.listing_of(r.clone(), Vec::new(), Vec::new())?.fill()?;
            if !empty && !recursive {
                return Err(Error::new(
                    ErrorKind::NotEmpty,
                    format!(
                        "delete {}: directory is not empty and recursive is false",
                        r.path
                    ),
                ));
            }
            if r.key.is_empty() && empty {
                return Ok(false);
            }
        }
        let done = r
            .mount
            .store
            .delete(&entry)
            .map_err(|e| e.context("delete", &r.path));
        self.changed();
        done?;
        self.keep_parent(&r)
            .map_err(|e| e.context("delete", &r.path))?;
        Ok(true)
    }

    /// After a delete or a rename took `r` away: in a store where directories exist only while
    /// something is in them (or a marker keeps them), its parent gets a marker when nothing
    /// else keeps it, so the parent stays, as on a filesystem (S3A does the same).
    fn keep_parent(&self, r: &Resolved) -> Result<()> {
        let store = &r.mount.store;
        if !store.writes_dir_markers() {
            return Ok(());
        }
        // The mount's root always exists.
        let Some((parent, _)) = r.key.rsplit_once('/') else {
            return Ok(());
        };
        if store.stat(parent)?.is_none() {
            store.mkdirs(parent)?;
            self.changed();
        }
        Ok(())
    }

    /// Renames a file or directory within one mount, following Hadoop's rules: into an
    /// existing directory it moves beneath it; it returns false when the source is missing,
    /// the destination file exists, or the destination's parent does not exist.
    pub fn rename(&self, src: &str, dst: &str) -> Result<bool> {
        let s = self.writable("rename", src)?;
        let mut d = self.writable("rename", dst)?;
        if !Arc::ptr_eq(&s.mount, &d.mount) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "rename {} to {}: they are in different mounts ('{}' and '{}'); copy instead",
                    s.path, d.path, s.mount.name, d.mount.name
                ),
            ));
        }
        if s.key.is_empty() {
            return Err(Error::invalid(format!(
                "rename {}: a mount point cannot be renamed",
                s.path
            )));
        }
        let Some(src_entry) = self.stat_resolved(&s)? else {
            return Ok(false);
        };
        if s.path == d.path {
            // Renaming a file onto itself succeeds; a directory onto itself does not.
            return Ok(!src_entry.is_dir);
        }
        if src_entry.is_dir && d.key.starts_with(&format!("{}/", s.key)) {
            return Err(Error::invalid(format!(
                "rename {} to {}: a directory cannot move beneath itself",
                s.path, d.path
            )));
        }
        match self.stat_resolved(&d)? {
            Some(e) if e.is_dir => {
                let key = join_key(&d.key, src_entry.name());
                if s.mount.store.stat(&key)?.is_some() {
                    return Ok(false);
                }
                d = Resolved {
                    path: d.mount.shoal_path(&key),
                    key,
                    mount: d.mount,
                };
            }
            Some(_) => return Ok(false),
            None => {
                if let Some((parent, _)) = d.key.rsplit_once('/') {
                    match d.mount.store.stat(parent)? {
                        Some(p) if p.is_dir => {}
                        _ => return Ok(false),
                    }
                }
            }
        }
        let done = s
            .mount
            .store
            .rename(&src_entry, &d.key)
            .map_err(|e| e.context("rename", &format!("{} to {}", s.path, d.path)));
        self.changed();
        done?;
        self.keep_parent(&s)
            .map_err(|e| e.context("rename", &format!("{} to {}", s.path, d.path)))?;
        Ok(true)
    }
}

/// Lists directory `dir` of a mount page by page for the metadata cache, as the leader of its
/// single-flight `guard`: the listing is copied while it fits (and not read further once it
/// does not), and the lookups waiting for it then look again.
fn relist_into(
    guard: crate::metadata::RelistGuard,
    mount: &Mount,
    dir: &str,
    stats: &Arc<Stats>,
) -> Result<()> {
    let mut copy = guard.copy();
    let listed = (|| {
        let mut pages = crate::store::list_pages(&mount.store, dir)?;
        while let Some(page) = pages.next_page()? {
            crate::bump!(store_metadata_requests, 1, stats, crate::stats::process());
            if !copy.add(&page) {
                break;
            }
        }
        Ok(())
    })()
    .map_err(|e: Error| {
        e.context(
            "list",
            &format!("{} (in {})", mount.shoal_path(dir), mount.store.describe()),
        )
    });
    guard.finish_copy(listed.map(|_| copy))
}

/// Directory `dir` of a mount, listed whole, with the error naming it.
fn list_dir(mount: &Mount, dir: &str) -> Result<Vec<Entry>> {
    mount.store.list(dir).map_err(|e| {
        e.context(
            "list",
            &format!("{} (in {})", mount.shoal_path(dir), mount.store.describe()),
        )
    })
}

fn not_mounted(op: &str, path: &str) -> Error {
    Error::not_found(format!(
        "{op} {path}: no such file or directory (the path is in no mount; \
         see shoal.mount.<name>.path)"
    ))
}

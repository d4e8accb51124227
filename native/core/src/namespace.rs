//! The Shoal namespace: every operation a front end offers, on Shoal paths, over the mount
//! table. Paths above mount points are synthesized directories; paths outside every mount do
//! not exist. Every error names the Shoal path it concerns.

use std::sync::{Arc, Mutex};

use crate::cache::write_stage::WriteStage;
use crate::cache::{page_file, CacheSettings, FileSource, PageCache, PageId, StatsSet};
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::metadata::{MetadataCache, MetadataSettings};
use crate::mount::{Location, MountTable, Resolved};
use crate::stats::Stats;
use crate::store::{join_key, Entry, StoreWriter};

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
    stats: Arc<Stats>,
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
        Ok(Namespace {
            mounts,
            static_hosts,
            metadata: Arc::new(metadata),
            cache,
            stats: Arc::new(Stats::default()),
        })
    }

    pub fn mount_table(&self) -> &MountTable {
        &self.mounts
    }

    /// The page cache, when caching is on.
    pub fn page_cache(&self) -> Option<&Arc<PageCache>> {
        self.cache.as_ref()
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
    pub fn block_owners(&self, path: &str, len: u64, block_size: u64) -> Vec<String> {
        let live = crate::placement::live_hosts();
        let ring = live.as_deref().or(self.static_hosts.as_ref());
        crate::placement::block_owners(ring, path, len, block_size)
    }

    /// Every file at or under `path` (the file itself when it is one), sorted by path: one flat
    /// listing per mount involved (mounts nested below `path` included), not a directory walk.
    pub fn walk_files(&self, path: &str) -> Result<Vec<FileInfo>> {
        let top = self.status(path)?;
        if !top.is_dir {
            return Ok(vec![top]);
        }
        let base = crate::path::join(&crate::path::segments(path)?);
        let mut out = Vec::new();
        // The mount holding `path` itself (none when it is above every mount).
        if let Location::Mounted(r) = self.mounts.locate(&base)? {
            let nested: Vec<&str> = self
                .mounts
                .mounts()
                .filter(|m| {
                    m.path != r.mount.path
                        && m.path
                            .starts_with(&format!("{}/", r.path.trim_end_matches('/')))
                })
                .map(|m| m.path.as_str())
                .collect();
            crate::bump!(
                store_metadata_requests,
                1,
                self.stats,
                crate::stats::process()
            );
            let files = r.mount.store.list_files(&r.key).map_err(|e| {
                e.context(
                    "list",
                    &format!("{} (in {})", r.path, r.mount.store.describe()),
                )
            })?;
            self.remember_files(&r.mount, &files);
            out.extend(
                files
                    .into_iter()
                    .map(|e| FileInfo::from_entry(&r, e))
                    // What a nested mount shadows is not visible.
                    .filter(|f| !nested.iter().any(|n| f.path.starts_with(&format!("{n}/")))),
            );
        }
        // Mounts below `path`.
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
                // Deeper mounts nested inside this one are listed on their own turn.
                let nested: Vec<&str> = self
                    .mounts
                    .mounts()
                    .filter(|n| n.path.starts_with(&format!("{}/", m.path)))
                    .map(|n| n.path.as_str())
                    .collect();
                crate::bump!(
                    store_metadata_requests,
                    1,
                    self.stats,
                    crate::stats::process()
                );
                let files = m.store.list_files("").map_err(|e| {
                    e.context("list", &format!("{} (in {})", m.path, m.store.describe()))
                })?;
                self.remember_files(m, &files);
                out.extend(
                    files
                        .into_iter()
                        .map(|e| FileInfo::from_entry(&r, e))
                        .filter(|f| !nested.iter().any(|n| f.path.starts_with(&format!("{n}/")))),
                );
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// (bytes held, capacity) of this namespace's cache directories together, as counted by
    /// every process sharing them; (0, 0) when caching is off.
    pub fn cache_usage(&self) -> (u64, u64) {
        match &self.cache {
            Some(c) => c.dirs().iter().fold((0, 0), |(u, cap), d| {
                (u + d.usage().unwrap_or(0), cap + d.capacity())
            }),
            None => (0, 0),
        }
    }

    /// Caches the status of files a recursive listing returned, so opening them asks nothing.
    fn remember_files(&self, mount: &crate::mount::Mount, files: &[Entry]) {
        for f in files {
            self.metadata
                .put_status(&mount.name, &f.key, Some(f.clone()), mount.immutable);
        }
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

    fn stat_resolved(&self, r: &Resolved) -> Result<Option<Entry>> {
        if let Some(hit) = self.metadata.status(&r.mount.name, &r.key) {
            self.count_metadata(true);
            return Ok(hit);
        }
        self.count_metadata(false);
        let found = r.mount.store.stat(&r.key).map_err(|e| {
            e.context(
                "status",
                &format!("{} (in {})", r.path, r.mount.store.describe()),
            )
        })?;
        self.metadata
            .put_status(&r.mount.name, &r.key, found.clone(), r.mount.immutable);
        Ok(found)
    }

    fn list_resolved(&self, r: &Resolved) -> Result<Arc<Vec<Entry>>> {
        if let Some(hit) = self.metadata.listing(&r.mount.name, &r.key) {
            self.count_metadata(true);
            return Ok(hit);
        }
        self.count_metadata(false);
        let entries = Arc::new(r.mount.store.list(&r.key).map_err(|e| {
            e.context(
                "list",
                &format!("{} (in {})", r.path, r.mount.store.describe()),
            )
        })?);
        self.metadata
            .put_listing(&r.mount.name, &r.key, entries.clone(), r.mount.immutable);
        Ok(entries)
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
    /// directories, and hide whatever the enclosing store has under the same name.
    pub fn list(&self, path: &str) -> Result<Vec<FileInfo>> {
        let children = self
            .mounts
            .child_mount_points(path)
            .map_err(|e| e.context("list", path))?;
        let mut out = match self
            .mounts
            .locate(path)
            .map_err(|e| e.context("list", path))?
        {
            Location::Ancestor(_) => Vec::new(),
            Location::Outside(p) => return Err(not_mounted("list", &p)),
            Location::Mounted(r) => {
                let entries = self.list_resolved(&r)?;
                if entries.is_empty() && children.is_empty() && !r.key.is_empty() {
                    // Empty directory, a file, or nothing at all.
                    let st = self.status(&r.path)?;
                    if !st.is_dir {
                        return Ok(vec![st]);
                    }
                }
                entries
                    .iter()
                    .filter(|e| !children.iter().any(|c| c == e.name()))
                    .map(|e| FileInfo::from_entry(&r, e.clone()))
                    .collect()
            }
        };
        let base = crate::path::join(&crate::path::segments(path)?);
        for c in children {
            let p = if base == "/" {
                format!("/{c}")
            } else {
                format!("{base}/{c}")
            };
            out.push(FileInfo::synthetic_dir(p));
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Opens a file for positioned reads. With `known` (from an earlier status) no metadata
    /// request is made.
    pub fn open(&self, path: &str, known: Option<FileInfo>) -> Result<FileReader> {
        let r = self.mounted("open", path)?;
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
                None => return Err(Error::not_found(format!("open {}: no such file", r.path))),
            },
        };
        if entry.is_dir {
            return Err(Error::new(
                ErrorKind::IsADirectory,
                format!("open {}: is a directory", r.path),
            ));
        }
        let cache = self.cache.clone().filter(|_| r.mount.cached);
        let stream_stats = Arc::new(Stats::default());
        Ok(FileReader {
            source: Arc::new(FileSource::new(r.mount.store.clone(), r.key.clone(), entry)),
            stats: Arc::from(vec![
                self.stats.clone(),
                stream_stats.clone(),
                crate::stats::process().clone(),
            ]),
            stream_stats,
            metadata: self.metadata.clone(),
            cache,
            state: Mutex::new(ReaderState::default()),
            resolved: r,
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
        Ok(FileWriter {
            inner: Some(inner),
            metadata: self.metadata.clone(),
            stage,
            resolved: r,
        })
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
            let children = self.list_resolved(&r)?;
            if !children.is_empty() && !recursive {
                return Err(Error::new(
                    ErrorKind::NotEmpty,
                    format!(
                        "delete {}: directory is not empty and recursive is false",
                        r.path
                    ),
                ));
            }
            if r.key.is_empty() && children.is_empty() {
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

fn not_mounted(op: &str, path: &str) -> Error {
    Error::not_found(format!(
        "{op} {path}: no such file or directory (the path is in no mount; \
         see shoal.mount.<name>.path)"
    ))
}

/// An open file: positioned reads of one version of it, through the page cache when the
/// mount is cached.
pub struct FileReader {
    resolved: Resolved,
    source: Arc<FileSource>,
    cache: Option<Arc<PageCache>>,
    metadata: Arc<MetadataCache>,
    /// The filesystem's counters and this stream's.
    stats: StatsSet,
    stream_stats: Arc<Stats>,
    state: Mutex<ReaderState>,
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("path", &self.resolved.path)
            .field("len", &self.source.entry.len)
            .finish()
    }
}

#[derive(Default)]
struct ReaderState {
    /// Whole chunks of a read not aligned to them, while they are checked.
    scratch: Vec<u8>,
    /// Where the last read ended, to recognise sequential reading.
    last_end: Option<u64>,
    /// Read-ahead window in pages; 0 while reading is not sequential.
    window: u64,
    /// Pages before this one have been asked for ahead already.
    ahead_until: u64,
}

impl FileReader {
    pub fn len(&self) -> u64 {
        self.source.entry.len
    }

    pub fn is_empty(&self) -> bool {
        self.source.entry.len == 0
    }

    pub fn path(&self) -> &str {
        &self.resolved.path
    }

    /// This stream's counters (names in `stats::COUNTER_NAMES`).
    pub fn stats(&self) -> Vec<u64> {
        self.stream_stats.snapshot()
    }

    /// Reads into `out` at `pos`: all of it unless the file ends first; 0 at or past the end.
    pub fn read_at(&self, pos: u64, out: &mut [u8]) -> Result<usize> {
        let len = self.source.entry.len;
        if pos >= len || out.is_empty() {
            return Ok(0);
        }
        let want = ((len - pos).min(out.len() as u64)) as usize;
        let out = &mut out[..want];
        let r = match &self.cache {
            Some(cache) => self.read_cached(cache, pos, out),
            None => self.read_direct(pos, out),
        };
        r.map_err(|e| {
            if e.kind() == ErrorKind::Corrupt {
                // The object may have changed: the next open asks the store again.
                self.metadata
                    .invalidate_status(&self.resolved.mount.name, &self.resolved.key);
            }
            e.context("read", &self.resolved.path)
        })?;
        Ok(want)
    }

    /// The ids of this file's pages, when the mount is cached.
    fn page_ids(&self) -> Vec<PageId> {
        match &self.cache {
            Some(c) => (0..self.source.entry.len.div_ceil(c.page_size()))
                .map(|index| PageId {
                    file: self.source.file_id,
                    index,
                })
                .collect(),
            None => Vec::new(),
        }
    }

    /// Bytes of this file held by this node's cache (memory or disk).
    pub fn cached_bytes(&self) -> u64 {
        let Some(c) = &self.cache else {
            return 0;
        };
        self.page_ids()
            .into_iter()
            .filter(|id| {
                c.memory_get(id).is_some() || c.dir_for(id).is_some_and(|d| d.has_page(*id))
            })
            .map(|id| {
                let r = c.page_range(self.source.entry.len, id.index);
                r.end - r.start
            })
            .sum()
    }

    /// Brings the whole file into the cache; returns the bytes fetched from the store.
    pub fn load(&self) -> Result<u64> {
        let before = self.stream_stats.snapshot();
        self.fetch_ranges(&[(0, self.source.entry.len)])?;
        let after = self.stream_stats.snapshot();
        let i = crate::stats::COUNTER_NAMES
            .iter()
            .position(|n| *n == "bytes_from_store")
            .expect("counter exists");
        Ok(after[i] - before[i])
    }

    /// Drops this file's pages from this node's cache (memory and disk), leaving the store
    /// alone; returns the bytes freed on disk. On disk, the pages of every page size go.
    pub fn free(&self) -> u64 {
        let Some(c) = &self.cache else {
            return 0;
        };
        for id in self.page_ids() {
            c.memory_remove(&id);
        }
        c.dirs()
            .iter()
            .map(|d| d.remove_file_pages(self.source.file_id).unwrap_or(0))
            .sum()
    }

    /// Brings every page the given `(position, length)` ranges touch into the cache, fetching
    /// the missing ones in parallel; a vectored read then serves each range from the cache.
    /// Ranges close together share pages, so they cost one fetch. Without a cache this does
    /// nothing.
    pub fn fetch_ranges(&self, ranges: &[(u64, u64)]) -> Result<()> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        let len = self.source.entry.len;
        let ps = cache.page_size();
        let mut pages: Vec<u64> = Vec::new();
        for &(pos, n) in ranges {
            if n == 0 || pos >= len {
                continue;
            }
            let end = (pos + n).min(len);
            pages.extend(pos / ps..=(end - 1) / ps);
        }
        pages.sort_unstable();
        pages.dedup();
        pages.retain(|i| {
            let id = PageId {
                file: self.source.file_id,
                index: *i,
            };
            cache.can_hold(&id) && !cache.is_present(&id)
        });
        if pages.is_empty() {
            return Ok(());
        }
        // A window of pages at a time, none kept in memory here: a load of any size holds at
        // most shoal.cache.readahead.max bytes.
        let fetch = cache
            .clone()
            .fetch_all(self.source.clone(), pages, self.stats.clone());
        crate::runtime::block_on(fetch)?.map_err(|e| e.context("read", &self.resolved.path))
    }

    fn read_direct(&self, pos: u64, out: &mut [u8]) -> Result<()> {
        let mut done = 0;
        while done < out.len() {
            for s in self.stats.iter() {
                crate::bump!(store_get_requests, 1, s);
            }
            let n = self
                .source
                .read_direct(pos + done as u64, &mut out[done..])?;
            if n == 0 {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!(
                        "the store returned fewer bytes than the file's length {} \
                         (was it changed or truncated?)",
                        self.source.entry.len
                    ),
                ));
            }
            for s in self.stats.iter() {
                crate::bump!(bytes_from_store, n, s);
            }
            done += n;
        }
        Ok(())
    }

    fn read_cached(&self, cache: &Arc<PageCache>, pos: u64, out: &mut [u8]) -> Result<()> {
        let ps = cache.page_size();
        let len = self.source.entry.len;
        let end = pos + out.len() as u64;
        let first = pos / ps;
        let last = (end - 1) / ps;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut missing = Vec::new();
        for index in first..=last {
            let page = cache.page_range(len, index);
            let (from, to) = (pos.max(page.start), end.min(page.end));
            let dst = &mut out[(from - pos) as usize..(to - pos) as usize];
            let id = PageId {
                file: self.source.file_id,
                index,
            };
            if let Some(p) = cache.memory_get(&id).filter(|p| p.fits(&self.source)) {
                let off = (from - page.start) as usize;
                dst.copy_from_slice(&p.data[off..off + dst.len()]);
                for s in self.stats.iter() {
                    crate::bump!(cache_hits, 1, s);
                    crate::bump!(bytes_from_memory, dst.len(), s);
                }
                continue;
            }
            let page_len = (page.end - page.start) as u32;
            match state.read_disk(cache, &self.source, id, page_len, from - page.start, dst) {
                Ok(true) => {
                    for s in self.stats.iter() {
                        crate::bump!(cache_hits, 1, s);
                        crate::bump!(bytes_from_disk, dst.len(), s);
                    }
                }
                // Nowhere to keep the page: read just the bytes asked for.
                Ok(false) if !cache.can_hold(&id) => self.read_direct(from, dst)?,
                Ok(false) => missing.push(index),
                Err(e) => {
                    if e.kind() == ErrorKind::Corrupt {
                        tracing::warn!(path = %self.resolved.path, page = index, "corrupt cache page removed: {e}");
                        crate::bump!(corrupt_pages, 1, cache.stats, crate::stats::process());
                        if let Some(d) = cache.dir_for(&id) {
                            d.remove_page(id);
                        }
                    } else {
                        tracing::warn!(path = %self.resolved.path, page = index, "cache page unreadable: {e}");
                        if let Some(d) = cache.dir_for(&id) {
                            d.forget(id);
                        }
                    }
                    missing.push(index);
                }
            }
        }
        if !missing.is_empty() {
            let futures: Vec<_> = missing
                .iter()
                .map(|i| cache.fetch(&self.source, *i, &self.stats))
                .collect();
            let pages = crate::runtime::block_on(futures::future::join_all(futures))?;
            for (index, page) in missing.iter().zip(pages) {
                let page = page?;
                if !page.fits(&self.source) {
                    return Err(self.source.changed());
                }
                let range = cache.page_range(len, *index);
                let (from, to) = (pos.max(range.start), end.min(range.end));
                let off = (from - range.start) as usize;
                out[(from - pos) as usize..(to - pos) as usize]
                    .copy_from_slice(&page.data[off..off + (to - from) as usize]);
            }
        }
        // Read-ahead: a sequential reader gets a window that doubles up to the limit.
        let sequential = state.last_end == Some(pos) || (pos == 0 && state.last_end.is_none());
        state.last_end = Some(end);
        if sequential {
            state.window = (state.window * 2).clamp(1, cache.settings.readahead_pages);
            let pages = len.div_ceil(ps);
            let from = state.ahead_until.max(last + 1);
            let to = (last + 1 + state.window).min(pages);
            if from < to {
                cache.prefetch(&self.source, from..to, &self.stats);
                state.ahead_until = to;
            }
        } else {
            state.window = 0;
            state.ahead_until = 0;
        }
        Ok(())
    }
}

impl ReaderState {
    /// Serves `dst` from the page's disk file; false when the page is not on disk, or holds
    /// bytes of another ETag than the reader's (it is then fetched anew).
    fn read_disk(
        &mut self,
        cache: &PageCache,
        src: &FileSource,
        id: PageId,
        page_len: u32,
        offset: u64,
        dst: &mut [u8],
    ) -> Result<bool> {
        let Some(dir) = cache.dir_for(&id) else {
            return Ok(false);
        };
        let Some(page) = dir.page(id, page_len)? else {
            return Ok(false);
        };
        if !src.accepts(page.header.etag, None) {
            return Ok(false);
        }
        page_file::read_checked(
            &page.file,
            &page.header,
            &page.verified,
            offset,
            dst,
            &mut self.scratch,
        )?;
        Ok(true)
    }
}

/// A file being written; the store shows it once `close` succeeds.
pub struct FileWriter {
    inner: Option<Box<dyn StoreWriter>>,
    metadata: Arc<MetadataCache>,
    /// The pages being written into the node cache too, on cache-through mounts.
    stage: Option<WriteStage>,
    resolved: Resolved,
}

impl FileWriter {
    pub fn path(&self) -> &str {
        &self.resolved.path
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.inner {
            Some(w) => {
                w.write(data)
                    .map_err(|e| e.context("write", &self.resolved.path))?;
                if let Some(stage) = &mut self.stage {
                    stage.write(data);
                }
                Ok(())
            }
            None => Err(Error::invalid(format!(
                "write {}: stream is closed",
                self.resolved.path
            ))),
        }
    }

    /// Commits the file. On a cache-through mount its pages then go into the node cache, keyed
    /// by the version the store reports for it (one status request).
    pub fn close(mut self) -> Result<()> {
        let r = match self.inner.take() {
            Some(w) => w
                .commit()
                .map_err(|e| e.context("close", &self.resolved.path)),
            None => Ok(()),
        };
        self.metadata.invalidate_all();
        r?;
        if let Some(stage) = self.stage.take() {
            let m = &self.resolved.mount;
            let key = &self.resolved.key;
            // The file is in the store whatever happens here; caching it is best effort.
            if let Ok(Some(entry)) = m.store.stat(key) {
                if !entry.is_dir {
                    self.metadata
                        .put_status(&m.name, key, Some(entry.clone()), m.immutable);
                    stage.finish(&FileSource::new(m.store.clone(), key.clone(), entry));
                }
            }
        }
        Ok(())
    }

    /// Discards what was written.
    pub fn abort(mut self) {
        if let Some(w) = self.inner.take() {
            w.abort();
        }
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if let Some(w) = self.inner.take() {
            w.abort();
        }
    }
}

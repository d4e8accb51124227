//! One cache directory on local disk, shared by every process of the node that names it.
//!
//! Layout: `<dir>/v1/<aa>/<bb>/<file id>_<page index>` (see `page_file` for the format), plus
//! `<dir>/v1/usage` (the bytes held, a u64 updated under an exclusive file lock by whichever
//! process adds or removes pages) and `<dir>/v1/janitor.lock` (held by the one process that
//! scans and evicts at a time). A new process reads pages at once; nothing is scanned before
//! the first hit. Pages are written to `.tmp-*` names and renamed into place.
//!
//! Eviction is least-recently-used at minute resolution: a hit refreshes a page's mtime when
//! it is over a minute old, and the janitor removes the pages with the oldest mtimes until the
//! directory is at 90% of its capacity. Its cost is one scan of the directory (a `stat` per
//! page), done in the background when the capacity is reached and once when a process first
//! uses the directory (to correct the usage counter after crashes or manual deletions).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind as IoKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::page_file::PageId;
use crate::error::{Error, Result};
use crate::stats::Stats;

const LAYOUT: &str = "v1";
/// Temporary files older than this belong to a process that died mid-write.
const STALE_TMP: Duration = Duration::from_secs(600);
/// A hit refreshes the page's recency at most this often.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct DiskDir {
    root: PathBuf,
    capacity: u64,
    /// Set once when a write fails: this directory then only serves what it holds.
    writes_off: AtomicBool,
    janitor_running: AtomicBool,
    seq: AtomicU64,
    stats: Arc<Stats>,
}

impl DiskDir {
    fn evicted(&self, n: u64) {
        crate::bump!(evictions, n, self.stats, crate::stats::process());
    }

    /// Opens (creating if needed) a cache directory. A directory that cannot be created or
    /// written still serves what it holds; caching into it is turned off with one warning.
    pub fn open(dir: &Path, capacity: u64, stats: Arc<Stats>) -> Arc<Self> {
        let root = dir.join(LAYOUT);
        let d = Arc::new(DiskDir {
            root,
            capacity,
            writes_off: AtomicBool::new(false),
            janitor_running: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            stats,
        });
        if let Err(e) = private_dirs(&d.root) {
            d.turn_off_writes(&format!("cannot create it: {e}"));
        } else if let Err(e) = d.probe_writable() {
            d.turn_off_writes(&format!("cannot write in it: {e}"));
        } else {
            // Correct the shared usage figure in the background; hits do not wait for it.
            d.start_janitor(false);
        }
        d
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn writable(&self) -> bool {
        !self.writes_off.load(Ordering::Relaxed)
    }

    fn probe_writable(&self) -> std::io::Result<()> {
        let p = self.root.join(format!(".tmp-probe-{}", std::process::id()));
        let r = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&p)
            .and_then(|mut f| f.write_all(b"probe"));
        let _ = fs::remove_file(&p);
        r
    }

    fn turn_off_writes(&self, why: &str) {
        if !self.writes_off.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                dir = %self.root.display(),
                "Shoal cache directory {}: {why}; caching into it is off, reads go on from the \
                 store and from the pages it already holds",
                self.root.display()
            );
        }
    }

    pub fn page_path(&self, id: PageId) -> PathBuf {
        let hex = format!("{:032x}", id.file);
        self.root
            .join(&hex[0..2])
            .join(&hex[2..4])
            .join(format!("{hex}_{}", id.index))
    }

    /// Opens a page file for reading; `None` when it is not there.
    pub fn open_page(&self, id: PageId) -> Result<Option<File>> {
        match File::open(self.page_path(id)) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == IoKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn has_page(&self, id: PageId) -> bool {
        self.page_path(id).exists()
    }

    /// Removes a page (found corrupt, or freed); returns the bytes it held, 0 when another
    /// process removed it first.
    pub fn remove_page(&self, id: PageId) -> u64 {
        let p = self.page_path(id);
        if let Ok(m) = fs::metadata(&p) {
            if fs::remove_file(&p).is_ok() {
                let _ = self.add_usage(-(m.len() as i64));
                return m.len();
            }
        }
        0
    }

    /// What the directory holds, by a scan: (pages, bytes).
    pub fn scan_usage(&self) -> Result<(u64, u64)> {
        let pages = self.scan()?;
        Ok((pages.len() as u64, pages.iter().map(|p| p.1).sum()))
    }

    /// Verifies every page file; returns (pages checked, corrupt page paths). With `remove`,
    /// corrupt pages are deleted.
    pub fn verify(&self, remove: bool) -> Result<(u64, Vec<PathBuf>)> {
        let mut bad = Vec::new();
        let pages = self.scan()?;
        for (path, _, _) in &pages {
            if super::page_file::verify_file(path).is_err() {
                if remove && fs::remove_file(path).is_ok() {
                    crate::bump!(corrupt_pages, 1, self.stats);
                }
                bad.push(path.clone());
            }
        }
        if remove && !bad.is_empty() {
            let (_, bytes) = self.scan_usage()?;
            let counted = self.usage()?;
            let _ = self.correct_usage(counted, bytes);
        }
        Ok((pages.len() as u64, bad))
    }

    /// Marks a page recently used (for eviction), if it was not marked in the last minute.
    pub fn touch(&self, file: &File) {
        let now = SystemTime::now();
        let recent = file
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default() < TOUCH_EVERY)
            .unwrap_or(true);
        if !recent {
            let _ = file.set_modified(now);
        }
    }

    /// Writes an encoded page under a temporary name and renames it into place. The page's
    /// size is reserved in the shared usage counter first, so all processes together never
    /// pass the capacity; when it is full the page is not cached (the read still succeeds) and
    /// the janitor makes room. Errors other than a full directory turn writes off.
    pub fn write_page(self: &Arc<Self>, id: PageId, encoded: &[u8]) -> bool {
        if !self.writable() {
            return false;
        }
        let size = encoded.len() as u64;
        match self.reserve(size) {
            Ok(true) => {}
            Ok(false) => {
                self.start_janitor(true);
                return false;
            }
            Err(e) => {
                self.turn_off_writes(&format!("cannot update its usage file: {e}"));
                return false;
            }
        }
        let target = self.page_path(id);
        let parent = target.parent().expect("page paths have parents");
        let tmp = parent.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| -> std::io::Result<()> {
            private_dirs(parent)?;
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(encoded)?;
            drop(f);
            fs::rename(&tmp, &target)
        })();
        match result {
            Ok(()) => true,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                let _ = self.add_usage(-(size as i64));
                self.turn_off_writes(&e.to_string());
                false
            }
        }
    }

    /// Adds `size` to the usage counter if it fits the capacity.
    fn reserve(&self, size: u64) -> std::io::Result<bool> {
        let mut f = self.usage_file()?;
        f.lock()?;
        let r = (|| {
            let v = read_u64(&mut f)?;
            if v + size > self.capacity {
                return Ok(false);
            }
            write_u64(&mut f, v + size)?;
            Ok(true)
        })();
        let _ = f.unlock();
        r
    }

    fn usage_file(&self) -> std::io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.root.join("usage"))
    }

    /// Bytes held, as all processes together recorded them.
    pub fn usage(&self) -> std::io::Result<u64> {
        let mut f = self.usage_file()?;
        f.lock_shared()?;
        let v = read_u64(&mut f);
        let _ = f.unlock();
        v
    }

    fn add_usage(&self, delta: i64) -> std::io::Result<()> {
        let mut f = self.usage_file()?;
        f.lock()?;
        let r = (|| {
            let v = read_u64(&mut f)?;
            let nv = (v as i64 + delta).max(0) as u64;
            write_u64(&mut f, nv)
        })();
        let _ = f.unlock();
        r
    }

    /// Sets the counter to what a scan found, keeping what others added since it began.
    fn correct_usage(&self, counted_at_start: u64, scanned: u64) -> std::io::Result<()> {
        let mut f = self.usage_file()?;
        f.lock()?;
        let r = (|| {
            let now = read_u64(&mut f)?;
            let since = now.saturating_sub(counted_at_start);
            write_u64(&mut f, scanned + since)
        })();
        let _ = f.unlock();
        r
    }

    /// Starts a background scan (and eviction when `evict` or over capacity) unless this
    /// process runs one already; another process holding the janitor lock makes it a no-op.
    pub fn start_janitor(self: &Arc<Self>, evict: bool) {
        if self.janitor_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("shoal-janitor".into())
            .spawn(move || {
                if let Err(e) = me.janitor(evict) {
                    tracing::warn!(dir = %me.root.display(), "cache janitor failed: {e}");
                }
                me.janitor_running.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.janitor_running.store(false, Ordering::Release);
        }
    }

    /// Runs the janitor in the calling thread (tests, `shoal cache` commands).
    pub fn run_janitor(&self, evict: bool) -> Result<()> {
        self.janitor(evict)
    }

    fn janitor(&self, evict: bool) -> Result<()> {
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.root.join("janitor.lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(()), // another process is on it
            Err(fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        let counted_at_start = self.usage()?;
        let mut pages = self.scan()?;
        let mut total: u64 = pages.iter().map(|p| p.1).sum();
        if evict || total > self.capacity {
            let target = self.capacity / 10 * 9;
            pages.sort_by_key(|p| p.2);
            for (path, size, _) in pages {
                if total <= target {
                    break;
                }
                if fs::remove_file(&path).is_ok() {
                    total = total.saturating_sub(size);
                    self.evicted(1);
                }
            }
        }
        self.correct_usage(counted_at_start, total)?;
        Ok(())
    }

    /// Every page file with its size and mtime; removes temporary files of dead writers.
    fn scan(&self) -> Result<Vec<(PathBuf, u64, SystemTime)>> {
        let mut out = Vec::new();
        let now = SystemTime::now();
        for a in read_dir_or_empty(&self.root)? {
            if !a.is_dir() {
                continue;
            }
            for b in read_dir_or_empty(&a)? {
                if !b.is_dir() {
                    continue;
                }
                for p in read_dir_or_empty(&b)? {
                    let Ok(m) = fs::symlink_metadata(&p) else {
                        continue;
                    };
                    let mtime = m.modified().unwrap_or(now);
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    if name.starts_with(".tmp-") {
                        if now.duration_since(mtime).unwrap_or_default() > STALE_TMP {
                            let _ = fs::remove_file(&p);
                        }
                        continue;
                    }
                    if m.is_file() {
                        out.push((p, m.len(), mtime));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Removes every page of a file (all versions share no id, so only this one).
    pub fn remove_file_pages(&self, file: u128) -> Result<u64> {
        let hex = format!("{file:032x}");
        let leaf = self.root.join(&hex[0..2]).join(&hex[2..4]);
        let prefix = format!("{hex}_");
        let mut freed = 0;
        for p in read_dir_or_empty(&leaf)? {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with(&prefix) {
                if let Ok(m) = fs::metadata(&p) {
                    if fs::remove_file(&p).is_ok() {
                        freed += m.len();
                    }
                }
            }
        }
        if freed > 0 {
            let _ = self.add_usage(-(freed as i64));
        }
        Ok(freed)
    }
}

fn read_dir_or_empty(p: &Path) -> Result<Vec<PathBuf>> {
    match fs::read_dir(p) {
        Ok(d) => Ok(d.filter_map(|e| e.ok().map(|e| e.path())).collect()),
        Err(e) if e.kind() == IoKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::from(e)),
    }
}

/// Creates a directory (and parents) readable only by this user.
fn private_dirs(p: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(p)
}

fn read_u64(f: &mut File) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    f.seek(SeekFrom::Start(0))?;
    let mut n = 0;
    while n < 8 {
        match f.read(&mut b[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(if n == 8 { u64::from_le_bytes(b) } else { 0 })
}

fn write_u64(f: &mut File, v: u64) -> std::io::Result<()> {
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&v.to_le_bytes())
}

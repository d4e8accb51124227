//! One cache directory on local disk, shared by every process of the node that names it.
//!
//! Layout: `<dir>/v1/<aa>/<bb>/<file id>_<page index>` (see `page_file` for the format), plus
//! `<dir>/v1/usage` (the bytes held, a u64 updated under an exclusive file lock by whichever
//! process adds or removes pages) and `<dir>/v1/janitor.lock` (held by the one process that
//! scans and evicts at a time). A new process reads pages at once; nothing is scanned before
//! the first hit. Pages are written to `.tmp-*` names and renamed into place.
//!
//! Eviction is least-recently-used at minute resolution: a hit refreshes a page's mtime when
//! it is over a minute old (looked at when the page file is opened, and at most every ten
//! seconds of reads while this process keeps it open, see `open_pages`), and the janitor
//! removes the pages with the oldest mtimes until the directory is at 90% of its capacity. Its cost is one scan of the directory (a `stat` per
//! page), done in the background when the capacity is reached and once when a process first
//! uses the directory (to correct the usage counter after crashes or manual deletions).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind as IoKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::open_pages::{stale_mtime, Lookup, OpenPage, OpenPages, Removals};
use super::page_file::{self, PageId};
use crate::error::{Error, Result};
use crate::stats::Stats;

const LAYOUT: &str = "v1";
/// Temporary files older than this belong to a process that died mid-write.
const STALE_TMP: Duration = Duration::from_secs(600);
/// A hit refreshes the page's recency at most this often.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A page file written before its id was known; see `DiskDir::stage_page`.
#[derive(Debug)]
pub struct StagedPage {
    tmp: PathBuf,
    size: u64,
}

#[derive(Debug)]
pub struct DiskDir {
    root: PathBuf,
    capacity: u64,
    /// Set once when a write fails: this directory then only serves what it holds.
    writes_off: AtomicBool,
    janitor_running: AtomicBool,
    seq: AtomicU64,
    stats: Arc<Stats>,
    /// Page files this process keeps open; an entry goes when this process removes its file.
    open_pages: OpenPages,
}

impl DiskDir {
    fn evicted(&self, n: u64) {
        crate::bump!(evictions, n, self.stats, crate::stats::process());
    }

    /// Opens (creating if needed) a cache directory, keeping at most `open_pages` page files
    /// open. A directory that cannot be created or written still serves what it holds; caching
    /// into it is turned off with one warning.
    pub fn open(dir: &Path, capacity: u64, open_pages: usize, stats: Arc<Stats>) -> Arc<Self> {
        Self::with_open_pages(dir, capacity, OpenPages::new(open_pages), stats)
    }

    /// `open` with a table of open pages of the caller's making (tests shorten its intervals).
    pub fn with_open_pages(
        dir: &Path,
        capacity: u64,
        open_pages: OpenPages,
        stats: Arc<Stats>,
    ) -> Arc<Self> {
        let root = dir.join(LAYOUT);
        let d = Arc::new(DiskDir {
            root,
            capacity,
            writes_off: AtomicBool::new(false),
            janitor_running: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            stats,
            open_pages,
        });
        let made = private_dirs(&d.root);
        d.open_pages
            .attach_removals(Removals::open(&d.root.join("removals")));
        if let Err(e) = made {
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

    /// The open page file of a page of `page_len` bytes, its header checked; `None` when it
    /// is not there. Kept open for the next reader (see `open_pages`); opening one marks the
    /// page used for eviction, and so does a read at most every `open_pages::RECHECK`.
    pub fn page(&self, id: PageId, page_len: u32) -> Result<Option<Arc<OpenPage>>> {
        let removals = self.open_pages.removals_now();
        match self.open_pages.get(&id) {
            Lookup::Fresh(p) => return Ok(Some(p)),
            Lookup::Recheck(p) => match fs::metadata(self.page_path(id)) {
                Ok(m) if p.same_file(&m) && p.header.len == page_len => {
                    self.open_pages.checked(&p, &m, removals);
                    if stale_mtime(&m, TOUCH_EVERY)
                        && p.file.set_modified(SystemTime::now()).is_ok()
                    {
                        if let Ok(m) = p.file.metadata() {
                            p.touched(&m);
                        }
                    }
                    return Ok(Some(p));
                }
                // Removed or replaced by another process: read what its name holds now.
                _ => self.open_pages.remove(&id),
            },
            Lookup::Absent => {}
        }
        let file = match open_for_reading(&self.page_path(id)) {
            Ok(f) => f,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut meta = file.metadata()?;
        let header = page_file::read_header(&file, meta.len(), id, page_len)?;
        if stale_mtime(&meta, TOUCH_EVERY) && file.set_modified(SystemTime::now()).is_ok() {
            // The handle remembers the ctime of its own touch, not a change to re-check.
            meta = file.metadata()?;
        }
        Ok(Some(self.open_pages.insert(
            id,
            OpenPage::new(file, &meta, header),
            removals,
        )))
    }

    /// Closes a page's kept handle (after a read through it failed), leaving the file.
    pub fn forget(&self, id: PageId) {
        self.open_pages.remove(&id);
    }

    /// The handles this process keeps open.
    pub fn open_pages(&self) -> &OpenPages {
        &self.open_pages
    }

    /// Whether the page is on disk: a handle checked in the last `open_pages::RECHECK` says so
    /// without a `stat`.
    pub fn has_page(&self, id: PageId) -> bool {
        self.open_pages.contains_checked(&id) || self.page_path(id).exists()
    }

    /// Removes a page (found corrupt, or freed); returns the bytes it held, 0 when another
    /// process removed it first.
    pub fn remove_page(&self, id: PageId) -> u64 {
        self.open_pages.remove(&id);
        let p = self.page_path(id);
        if let Ok(m) = fs::metadata(&p) {
            if fs::remove_file(&p).is_ok() {
                self.open_pages.page_files_removed();
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
                    self.open_pages.remove_path(path);
                    crate::bump!(corrupt_pages, 1, self.stats);
                }
                bad.push(path.clone());
            }
        }
        if remove && !bad.is_empty() {
            self.open_pages.page_files_removed();
            let (_, bytes) = self.scan_usage()?;
            let counted = self.usage()?;
            let _ = self.correct_usage(counted, bytes);
        }
        Ok((pages.len() as u64, bad))
    }

    /// Writes an encoded page under a temporary name and renames it into place. The page's
    /// size is reserved in the shared usage counter first, so all processes together never
    /// pass the capacity; when it is full the page is not cached (the read still succeeds) and
    /// the janitor makes room. Errors other than a full directory turn writes off.
    pub fn write_page(self: &Arc<Self>, id: PageId, encoded: &[u8]) -> bool {
        let target = self.page_path(id);
        let parent = target.parent().expect("page paths have parents");
        match self.write_tmp(parent, encoded) {
            Some(tmp) => match fs::rename(&tmp, &target) {
                Ok(()) => true,
                Err(e) => {
                    self.discard_tmp(&tmp, encoded.len() as u64);
                    self.turn_off_writes(&e.to_string());
                    false
                }
            },
            None => false,
        }
    }

    /// Writes a page encoded for a placeholder id (its file's version is not known yet: the
    /// file is being written through the cache) under a temporary name, its size reserved like
    /// any page's. `place_staged` gives it its id and puts it in place; `drop_staged` undoes it.
    /// `None` when the directory is full or not writable.
    pub fn stage_page(self: &Arc<Self>, encoded: &[u8]) -> Option<StagedPage> {
        // Staged files live beside pages (the janitor removes them when their writer died).
        let parent = self.root.join("00").join("00");
        let tmp = self.write_tmp(&parent, encoded)?;
        Some(StagedPage {
            tmp,
            size: encoded.len() as u64,
        })
    }

    /// Gives a staged page the header of `id` and renames it into place; `len` and `chunk` are
    /// what it was encoded with. On failure the page is dropped (the file is simply not cached).
    pub fn place_staged(&self, staged: StagedPage, id: PageId, len: u32, chunk: u32) -> bool {
        let target = self.page_path(id);
        let result = (|| -> Result<()> {
            let f = OpenOptions::new().write(true).open(&staged.tmp)?;
            page_file::set_id(&f, id, len, chunk)?;
            drop(f);
            private_dirs(target.parent().expect("page paths have parents"))?;
            Ok(fs::rename(&staged.tmp, &target)?)
        })();
        match result {
            Ok(()) => true,
            Err(_) => {
                self.drop_staged(staged);
                false
            }
        }
    }

    /// The bytes of a staged page, to move it to another directory.
    pub fn read_staged(&self, staged: &StagedPage) -> Option<Vec<u8>> {
        fs::read(&staged.tmp).ok()
    }

    /// Removes a staged page and gives its size back.
    pub fn drop_staged(&self, staged: StagedPage) {
        self.discard_tmp(&staged.tmp, staged.size);
    }

    /// Reserves the size of `encoded` and writes it to a new temporary file in `parent`.
    /// `None` when the directory is full (the janitor is started) or a write failed (writes
    /// are then turned off).
    fn write_tmp(self: &Arc<Self>, parent: &Path, encoded: &[u8]) -> Option<PathBuf> {
        if !self.writable() {
            return None;
        }
        let size = encoded.len() as u64;
        match self.reserve(size) {
            Ok(true) => {}
            Ok(false) => {
                self.start_janitor(true);
                return None;
            }
            Err(e) => {
                self.turn_off_writes(&format!("cannot update its usage file: {e}"));
                return None;
            }
        }
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
            f.write_all(encoded)
        })();
        match result {
            Ok(()) => Some(tmp),
            Err(e) => {
                self.discard_tmp(&tmp, size);
                self.turn_off_writes(&e.to_string());
                None
            }
        }
    }

    fn discard_tmp(&self, tmp: &Path, size: u64) {
        let _ = fs::remove_file(tmp);
        let _ = self.add_usage(-(size as i64));
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
            let mut removed = false;
            for (path, size, _) in pages {
                if total <= target {
                    break;
                }
                if fs::remove_file(&path).is_ok() {
                    self.open_pages.remove_path(&path);
                    total = total.saturating_sub(size);
                    self.evicted(1);
                    removed = true;
                }
            }
            if removed {
                self.open_pages.page_files_removed();
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
        self.open_pages.remove_file(file);
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
            self.open_pages.page_files_removed();
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

/// Opens a page file to read it, without updating its access time where the kernel allows
/// (`O_NOATIME`: the file's owner only, which the user running the cache is): recency for
/// eviction is kept in the mtime, and the access-time check costs every `pread` on a hit.
fn open_for_reading(path: &Path) -> std::io::Result<File> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME)
        .open(path)
    {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => File::open(path),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::open_pages::OpenPages;
    use crate::cache::page_file::{encode, read_checked};
    use crate::error::ErrorKind;
    use std::os::unix::fs::FileExt;

    const LEN: usize = 20_000;

    fn dir(top: &Path, capacity: u64, open: OpenPages) -> Arc<DiskDir> {
        let d = DiskDir::with_open_pages(top, capacity, open, Arc::new(Stats::default()));
        // The first scan runs in the background; let it finish so that `run_janitor` runs.
        while d.janitor_running.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(5));
        }
        d
    }

    fn id(index: u64) -> PageId {
        PageId { file: 42, index }
    }

    fn data(index: u64) -> Vec<u8> {
        (0..LEN).map(|i| (i as u64 * 31 + index) as u8).collect()
    }

    fn write(d: &Arc<DiskDir>, index: u64) {
        assert!(d.write_page(id(index), &encode(id(index), 4096, &data(index))));
    }

    /// Reads the whole page through the kept handle: `None` when the page is not on disk.
    fn read(d: &DiskDir, index: u64) -> Option<Result<Vec<u8>>> {
        let p = match d.page(id(index), LEN as u32) {
            Ok(Some(p)) => p,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let mut out = vec![0u8; LEN];
        Some(
            read_checked(
                &p.file,
                &p.header,
                &p.verified,
                0,
                &mut out,
                &mut Vec::new(),
            )
            .map(|_| out),
        )
    }

    #[test]
    fn a_page_another_process_removes_is_not_served_from_a_kept_handle_at_once() {
        // Two tables on one directory, as two executor JVMs on a node; the recheck interval is
        // long, so only the shared removal counter can tell the reader.
        let top = tempfile::tempdir().unwrap();
        let reader = dir(top.path(), 1 << 30, OpenPages::new(64));
        let freer = dir(top.path(), 1 << 30, OpenPages::new(64));
        for i in 0..3 {
            write(&reader, i);
            assert_eq!(read(&reader, i).unwrap().unwrap(), data(i));
            assert!(reader.has_page(id(i)));
        }
        // Page by page (a corrupt page, `free` of part of a file).
        assert!(freer.remove_page(id(0)) > 0);
        assert!(!reader.has_page(id(0)));
        assert!(read(&reader, 0).is_none());
        // Pages untouched are still served, after one recheck of their names.
        assert_eq!(read(&reader, 1).unwrap().unwrap(), data(1));
        // A whole file freed.
        assert!(freer.remove_file_pages(42).unwrap() > 0);
        assert!((1..3).all(|i| !reader.has_page(id(i)) && read(&reader, i).is_none()));
        // Written again by either process, they are served again.
        write(&freer, 2);
        assert_eq!(read(&reader, 2).unwrap().unwrap(), data(2));
        assert!(top.path().join(LAYOUT).join("removals").exists());
    }

    #[test]
    fn a_page_removed_freed_or_evicted_is_not_served_from_its_kept_handle() {
        let top = tempfile::tempdir().unwrap();
        let d = dir(top.path(), 1 << 30, OpenPages::new(64));
        for i in 0..4 {
            write(&d, i);
            assert_eq!(read(&d, i).unwrap().unwrap(), data(i));
            assert!(d.open_pages().contains(&id(i)));
        }
        // Removed (found corrupt elsewhere, or freed page by page).
        assert!(d.remove_page(id(0)) > 0);
        assert!(!d.open_pages().contains(&id(0)) && !d.has_page(id(0)));
        assert!(read(&d, 0).is_none());
        // Freed as a file.
        assert!(d.remove_file_pages(42).unwrap() > 0);
        assert!(d.open_pages().is_empty());
        assert!((1..4).all(|i| read(&d, i).is_none()));
        // Evicted by this process's janitor: capacity for two pages, four written.
        let small = tempfile::tempdir().unwrap();
        let page_bytes = (page_file::DATA_OFFSET as usize + LEN) as u64;
        let d = dir(
            small.path(),
            page_bytes * 2 + page_bytes / 2,
            OpenPages::new(64),
        );
        for i in 0..2 {
            write(&d, i);
            read(&d, i).unwrap().unwrap();
        }
        // Make page 0 the least recently used, then overfill by hand (as another process
        // would) and let the janitor evict down to 90%.
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(d.page_path(id(0)))
            .unwrap()
            .set_modified(old)
            .unwrap();
        fs::write(d.page_path(id(2)), encode(id(2), 4096, &data(2))).unwrap();
        d.run_janitor(true).unwrap();
        assert!(!d.page_path(id(0)).exists());
        assert!(!d.open_pages().contains(&id(0)));
        assert!(read(&d, 0).is_none());
        assert!(d.open_pages().contains(&id(1)) || d.page_path(id(1)).exists());
    }

    #[test]
    fn a_corrupt_chunk_is_found_through_a_kept_handle() {
        let top = tempfile::tempdir().unwrap();
        let d = dir(top.path(), 1 << 30, OpenPages::new(64));
        write(&d, 0);
        // Handle and header kept, data never read through it yet.
        let p = d.page(id(0), LEN as u32).unwrap().unwrap();
        drop(p);
        let f = File::options()
            .write(true)
            .open(d.page_path(id(0)))
            .unwrap();
        f.write_at(b"X", page_file::DATA_OFFSET as usize as u64 + 12_345)
            .unwrap();
        let e = read(&d, 0).unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        // What the reader then does: the page goes, handle and file.
        d.remove_page(id(0));
        assert!(read(&d, 0).is_none());
    }

    #[test]
    fn kept_handles_are_rechecked_against_the_file_name() {
        let top = tempfile::tempdir().unwrap();
        let recheck = Duration::from_millis(50);
        let d = dir(top.path(), 1 << 30, OpenPages::with_recheck(64, recheck));
        for i in 0..4 {
            write(&d, i);
            assert_eq!(read(&d, i).unwrap().unwrap(), data(i));
        }
        // Another process removes page 0, replaces page 1 by a fresh copy, and a failing disk
        // damages page 2 in place after it was verified through the handle.
        fs::remove_file(d.page_path(id(0))).unwrap();
        fs::remove_file(d.page_path(id(1))).unwrap();
        fs::write(d.page_path(id(1)), encode(id(1), 4096, &data(1))).unwrap();
        File::options()
            .write(true)
            .open(d.page_path(id(2)))
            .unwrap()
            .write_at(b"X", page_file::DATA_OFFSET as usize as u64 + 7)
            .unwrap();
        std::thread::sleep(recheck * 2);
        assert!(read(&d, 0).is_none());
        assert!(!d.open_pages().contains(&id(0)));
        // Page 3, left alone, keeps its marks through the recheck.
        let p3 = d.page(id(3), LEN as u32).unwrap().unwrap();
        assert!(p3.verified.is_set(0));
        let before = d.open_pages().len();
        assert_eq!(read(&d, 1).unwrap().unwrap(), data(1));
        assert_eq!(d.open_pages().len(), before);
        assert_eq!(read(&d, 2).unwrap().unwrap_err().kind(), ErrorKind::Corrupt);
    }

    #[test]
    fn kept_handles_are_bounded() {
        let top = tempfile::tempdir().unwrap();
        let d = dir(top.path(), 1 << 30, OpenPages::new(16));
        for i in 0..200 {
            write(&d, i);
            assert_eq!(read(&d, i).unwrap().unwrap(), data(i));
            assert!(d.open_pages().len() <= 16);
        }
        for i in 0..200 {
            assert_eq!(read(&d, i).unwrap().unwrap(), data(i));
        }
        assert!(d.open_pages().len() <= 16);
    }

    #[test]
    fn reading_a_page_leaves_its_access_time() {
        use std::fs::FileTimes;
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        let top = tempfile::tempdir().unwrap();
        let d = dir(top.path(), 1 << 30, OpenPages::new(64));
        write(&d, 0);
        let page = d.page_path(id(0));
        let control = top.path().join("control");
        fs::write(&control, b"x").unwrap();
        // An access time older than the mtime: a read updates it under relatime and strictatime.
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let times = FileTimes::new()
            .set_accessed(old)
            .set_modified(SystemTime::now());
        for p in [&page, &control] {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_times(times)
                .unwrap();
        }
        let atime = |p: &Path| fs::metadata(p).unwrap().atime();
        File::open(&control)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap();
        if atime(&control) == 1_000_000 {
            eprintln!("this filesystem keeps no access times (noatime); nothing to check");
            return;
        }
        assert_eq!(read(&d, 0).unwrap().unwrap(), data(0));
        assert_eq!(
            atime(&page),
            1_000_000,
            "a cache hit updated the page's access time"
        );
    }
}

//! One cache directory on local disk, shared by every process of the node that names it.
//!
//! Layout (`v2`; see `page_file` for a page's format):
//!
//! ```text
//! <dir>/v2/<aa>/<file id>_<page size>_<index>   pages: aa = the file id's first two hex digits
//! <dir>/v2/<aa>/.tmp-<pid ns>-<pid>-<n>          pages being written (renamed into place)
//! <dir>/v2/<aa>/pack-<id>, packs.idx             small objects packed many to a file, and
//!                                                where each is (`pack`)
//! <dir>/v2/usage        the usage ledger: bytes held (a u64), when a walk last reconciled
//!                       it (unix seconds), and the size counted for each layout directory
//!                       (256 u64s); updated under an exclusive lock by whoever adds or
//!                       removes pages
//! <dir>/v2/removals     how many page files were removed (see `open_pages::Removals`)
//! <dir>/v2/janitor.lock held by the one process that scans and evicts at a time
//! <dir>/v2/fetch.lock   byte-range locks, one byte per stripe of pages: the process fetching a
//!                       page holds its stripe, so the other processes wait and then read it
//! ```
//!
//! A new process reads pages at once; nothing is scanned before the first hit. The page size
//! is part of a page's name and trailer, so processes with different page sizes share a
//! directory without reading each other's pages. A directory that is not private to this user
//! (`trust`) is not used at all. The layout before (`v1`) is never read; the janitor removes it.
//!
//! Capacity counts what the directory occupies on disk, as `du` sees it: the blocks allocated to
//! page files, trailers included, to the layout directories and to the small files above. A
//! page's blocks are reserved in `usage` before it is written, so all processes together stay
//! within the capacity; empty layout directories are removed.
//!
//! Eviction is segmented (probation, protected; see `evict` for the policy and why): a hit
//! refreshes a page's mtime, and marks it protected, when it is over a minute old (looked at
//! when the page file is opened, and at most every ten seconds of reads while this process
//! keeps it open, see `open_pages`). When the capacity is reached the janitor (one process of
//! the node at a time, in the background) frees down to 90% of it: it samples a bounded number
//! of pages, then sweeps the layout removing those the sample marks old, holding nothing per
//! page. Neither it nor a new process lists the directory to learn what it holds: the ledger
//! says. A walk reconciles the ledger with the directory (after crashes or files removed by
//! hand) at most once a day, by one process in the background, and whenever `shoal cache`
//! commands run the janitor; the walk removes the temporary files of writers that died (their
//! process is gone), and so does the eviction sweep where it passes.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind as IoKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::evict::{self, AgeHistogram, Plan, Segment};
use super::open_pages::{stale_mtime, Lookup, OpenPage, OpenPages, Removals};
use super::pack::{self, Packs};
use super::page_file::{self, Expect, PageId};
use super::trust;
use crate::error::{Error, ErrorKind, Result};
use crate::stats::Stats;

pub const LAYOUT: &str = "v2";
/// Layouts of earlier versions, removed by the janitor (never read).
const OLD_LAYOUTS: [&str; 1] = ["v1"];
/// Temporary files whose writer cannot be told alive or dead (another pid namespace) are
/// removed when older than this; those of a live writer of this namespace after a day.
const STALE_TMP: Duration = Duration::from_secs(600);
const ORPHAN_TMP: Duration = Duration::from_secs(86_400);
/// A hit refreshes the page's recency at most this often.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Stripes of `fetch.lock`: pages hash onto one byte each.
const FETCH_STRIPES: u64 = 1 << 16;
const TMP_PREFIX: &str = ".tmp-";
/// The shared usage figure is reconciled with a walk of the directory this often (by one
/// process, in the background); in between, processes that crash leave at most the pages
/// they had reserved and not yet written counted.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(86_400);
/// Where the ledger records the size it counted for each layout directory (256 u64s).
const LEAF_SIZES_AT: u64 = 16;

/// A page file written before its id was known; see `DiskDir::stage_page`.
#[derive(Debug)]
pub struct StagedPage {
    tmp: PathBuf,
    size: u64,
}

/// The lock on a page's stripe of `fetch.lock`, held while the page is fetched and written;
/// released when dropped (the kernel releases it when the process dies).
#[derive(Debug)]
pub struct FetchLock {
    _file: File,
}

#[derive(Debug)]
pub struct DiskDir {
    root: PathBuf,
    capacity: u64,
    page_size: u32,
    /// The unit the filesystem allocates in, for reservations.
    block: u64,
    /// This process's pid namespace, to tell whether a temporary file's writer is alive.
    pid_ns: u64,
    /// Set once when a write fails: this directory then only serves what it holds.
    writes_off: AtomicBool,
    /// Why the directory is not used at all (not private to this user).
    refused: OnceLock<String>,
    janitor_running: AtomicBool,
    seq: AtomicU64,
    /// Directory entries this process looked at (a `stat` or a name read) to scan, reconcile
    /// or evict: the work that must not grow with the cache at start-up.
    examined: AtomicU64,
    /// The size of each layout directory as this process last counted it (`count_leaf`).
    leaf_seen: [AtomicU64; 256],
    stats: Arc<Stats>,
    /// Page files this process keeps open; an entry goes when this process removes its file.
    open_pages: OpenPages,
    /// Small objects packed many to a file (`pack`), when turned on.
    packs: OnceLock<Packs>,
}

impl DiskDir {
    fn evicted(&self, n: u64) {
        crate::bump!(evictions, n, self.stats, crate::stats::process());
    }

    /// Opens (creating if needed) a cache directory for pages of `page_size` bytes, keeping at
    /// most `open_pages` page files open. A directory that cannot be created or written still
    /// serves what it holds; caching into it is turned off with one warning. A directory that
    /// is not private to this user is not used at all, with one warning.
    pub fn open(
        dir: &Path,
        capacity: u64,
        page_size: u64,
        open_pages: usize,
        stats: Arc<Stats>,
    ) -> Arc<Self> {
        Self::with_open_pages(dir, capacity, page_size, OpenPages::new(open_pages), stats)
    }

    /// `open` with a table of open pages of the caller's making (tests shorten its intervals).
    pub fn with_open_pages(
        dir: &Path,
        capacity: u64,
        page_size: u64,
        open_pages: OpenPages,
        stats: Arc<Stats>,
    ) -> Arc<Self> {
        let made = private_dirs(dir);
        // Every later path is built on the canonical one: a link swapped later changes nothing.
        let top = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let d = Arc::new(DiskDir {
            root: top.join(LAYOUT),
            capacity,
            page_size: page_size as u32,
            block: alloc_unit(&top),
            pid_ns: pid_namespace(),
            writes_off: AtomicBool::new(false),
            refused: OnceLock::new(),
            janitor_running: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            examined: AtomicU64::new(0),
            leaf_seen: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
            stats,
            open_pages,
            packs: OnceLock::new(),
        });
        if let Err(e) = made {
            d.turn_off_writes(&format!("cannot create it: {e}"));
            if !top.exists() {
                return d;
            }
        }
        if let Err(why) = trust::check_dir(&top).and_then(|()| d.check_layout()) {
            d.refuse(&why);
            return d;
        }
        if !d.root.is_dir() {
            return d; // read-only, and nothing was ever cached in it
        }
        d.open_pages
            .attach_removals(Removals::open(&d.root, &d.tmp_name("removals")));
        for name in ["fetch.lock", "janitor.lock"] {
            let _ = control_file(&d.root.join(name));
        }
        // The counter is written whole from the start, so that it occupies what it will.
        let _ = d.add_usage(0);
        if let Err(e) = d.probe_writable() {
            d.turn_off_writes(&format!("cannot write in it: {e}"));
        } else if d.reconcile_due() {
            // Correct the shared usage figure in the background (one process of the node, at
            // most once per `RECONCILE_EVERY`); hits do not wait for it.
            d.start_janitor(false);
        } else if d.usage().is_ok_and(|u| u > d.capacity) {
            d.start_janitor(true);
        }
        d
    }

    /// Creates the layout directory if needed and checks it and every entry in it.
    fn check_layout(&self) -> std::result::Result<(), String> {
        match fs::DirBuilder::new().mode(0o700).create(&self.root) {
            Ok(()) => {}
            Err(e) if e.kind() == IoKind::AlreadyExists => {}
            // A read-only directory with no layout in it: nothing to read, nothing to check.
            Err(e) => {
                self.turn_off_writes(&format!("cannot create {}: {e}", self.root.display()));
                return Ok(());
            }
        }
        let m = fs::symlink_metadata(&self.root).map_err(|e| e.to_string())?;
        trust::check_entry(&self.root, &m)?;
        if !m.is_dir() {
            return Err(format!("{} is not a directory", self.root.display()));
        }
        let entries = fs::read_dir(&self.root).map_err(|e| e.to_string())?;
        for e in entries.flatten() {
            let p = e.path();
            match fs::symlink_metadata(&p) {
                Ok(m) => trust::check_entry(&p, &m)?,
                // Removed meanwhile (an empty layout directory another process pruned).
                Err(e) if e.kind() == IoKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", p.display())),
            }
        }
        Ok(())
    }

    fn refuse(&self, why: &str) {
        let top = self.root.parent().unwrap_or(&self.root);
        if self.refused.set(why.to_string()).is_ok() {
            self.writes_off.store(true, Ordering::Relaxed);
            tracing::warn!(
                dir = %top.display(),
                "Shoal cache directory {} is not used: {why}. Pages there could have been \
                 planted by another user; reads go to the stores. Use a directory only this \
                 user can write (shoal.cache.dirs)",
                top.display()
            );
        }
    }

    /// Why the directory is not used at all, when it is not.
    pub fn refused(&self) -> Option<&str> {
        self.refused.get().map(String::as_str)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Packs small objects (`pack`): those whose whole data is at most `max_object` bytes and
    /// shorter than a page. Once, before use; 0 leaves packing off.
    pub fn pack_small(&self, max_object: u64) {
        if max_object > 0 {
            let _ = self.packs.set(Packs::new(max_object));
        }
    }

    pub(super) fn packs(&self) -> Option<&Packs> {
        self.packs.get()
    }

    pub(super) fn page_size(&self) -> u32 {
        self.page_size
    }

    /// Adds `delta` to the shared usage figure (a failure is corrected by the next walk).
    pub(super) fn charge(&self, delta: i64) {
        let _ = self.add_usage(delta);
    }

    /// Gives back a reservation that was not used.
    pub(super) fn give_back(&self, reserved: u64) {
        self.charge(-(reserved.min(i64::MAX as u64) as i64));
    }

    /// Counts a layout directory's growth in the ledger.
    pub(super) fn count_leaf_of(&self, leaf: &Path) {
        self.count_leaf(leaf, false);
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Directory entries this process has examined to scan, reconcile or evict.
    pub fn entries_examined(&self) -> u64 {
        self.examined.load(Ordering::Relaxed)
    }

    fn examine(&self, p: &Path) -> std::io::Result<fs::Metadata> {
        self.examined.fetch_add(1, Ordering::Relaxed);
        fs::symlink_metadata(p)
    }

    pub fn writable(&self) -> bool {
        !self.writes_off.load(Ordering::Relaxed)
    }

    /// A temporary file name of this process: the janitor removes it at once if this process
    /// dies (see `scan`).
    pub(super) fn tmp_name(&self, what: &str) -> String {
        format!("{TMP_PREFIX}{}-{}-{what}", self.pid_ns, std::process::id())
    }

    fn probe_writable(&self) -> std::io::Result<()> {
        let p = self.root.join(self.tmp_name("probe"));
        let r = new_file(&p).and_then(|mut f| f.write_all(b"probe"));
        let _ = fs::remove_file(&p);
        r
    }

    pub(super) fn turn_off_writes(&self, why: &str) {
        if !self.writes_off.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                dir = %self.root.display(),
                "Shoal cache directory {}: {why}; caching into it is off, reads go on from the \
                 store and from the pages it already holds",
                self.root.display()
            );
        }
    }

    fn leaf(&self, file: u128) -> PathBuf {
        self.root.join(&format!("{file:032x}")[0..2])
    }

    pub fn page_path(&self, id: PageId) -> PathBuf {
        self.leaf(id.file)
            .join(page_file::file_name(id, self.page_size))
    }

    pub(super) fn expect(&self, id: PageId, page_len: u32) -> Expect {
        Expect {
            id,
            page_size: self.page_size,
            len: page_len,
        }
    }

    /// Bytes the filesystem allocates for a file of `len` bytes.
    pub(super) fn alloc(&self, len: u64) -> u64 {
        len.div_ceil(self.block) * self.block
    }

    /// The open page file of a page of `page_len` bytes, its trailer checked; `None` when it
    /// is not there. Kept open for the next reader (see `open_pages`); opening one marks the
    /// page used for eviction, and so does a read at most every `open_pages::RECHECK`.
    pub fn page(&self, id: PageId, page_len: u32) -> Result<Option<Arc<OpenPage>>> {
        if self.refused.get().is_some() {
            return Ok(None);
        }
        let removals = self.open_pages.removals_now();
        match self.open_pages.get(&id) {
            Lookup::Fresh(p) => return Ok(Some(p)),
            Lookup::Recheck(p) if p.header.base != page_file::DATA_OFFSET => {
                if self.packed_recheck(&p, id, page_len, removals) {
                    return Ok(Some(p));
                }
                self.open_pages.remove(&id);
            }
            Lookup::Recheck(p) => match fs::symlink_metadata(self.page_path(id)) {
                Ok(m) if p.same_file(&m) && p.header.len == page_len => {
                    self.open_pages.checked(&p, &m, removals);
                    if stale_mtime(&m, TOUCH_EVERY) && p.file.set_modified(hit_stamp()).is_ok() {
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
        if let Some(p) = self.packed_page(id, page_len, removals)? {
            return Ok(Some(p));
        }
        let file = match open_for_reading(&self.page_path(id)) {
            Ok(f) => f,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    "a symbolic link where a page file should be",
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let mut meta = file.metadata()?;
        if !meta.is_file() {
            return Err(Error::new(ErrorKind::Corrupt, "a page file is not a file"));
        }
        if let Some(why) = trust::not_private(&meta) {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("a page file is not private to this user: {why}"),
            ));
        }
        let header = page_file::read_header(&file, meta.len(), self.expect(id, page_len))?;
        if stale_mtime(&meta, TOUCH_EVERY) && file.set_modified(hit_stamp()).is_ok() {
            // The handle remembers the ctime of its own touch, not a change to re-check.
            meta = file.metadata()?;
        }
        Ok(Some(self.open_pages.insert(
            id,
            OpenPage::new(file, &meta, header),
            removals,
        )))
    }

    /// The whole of a page when it is on disk and every chunk checks out: its bytes and its
    /// ETag binding. A corrupt page is removed.
    pub fn read_page(&self, id: PageId, page_len: u32) -> Option<(Bytes, u64)> {
        let read = || -> Result<Option<(Bytes, u64)>> {
            let Some(p) = self.page(id, page_len)? else {
                return Ok(None);
            };
            let mut data = vec![0u8; page_len as usize];
            page_file::read_checked(
                &p.file,
                &p.header,
                Some(&p.verified),
                0,
                &mut data,
                &mut Vec::new(),
            )?;
            Ok(Some((data.into(), p.header.etag)))
        };
        match read() {
            Ok(found) => found,
            Err(e) => {
                if e.kind() == ErrorKind::Corrupt {
                    crate::bump!(corrupt_pages, 1, self.stats, crate::stats::process());
                    self.remove_page(id);
                } else {
                    self.forget(id);
                }
                None
            }
        }
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
        self.refused.get().is_none()
            && (self.open_pages.contains_checked(&id)
                || self.has_packed(id)
                || fs::symlink_metadata(self.page_path(id)).is_ok())
    }

    /// Removes a page (found corrupt, or freed); returns the bytes it held on disk, 0 when
    /// another process removed it first.
    pub fn remove_page(&self, id: PageId) -> u64 {
        let mut freed = if id.index == 0 {
            self.drop_packed(id.file).unwrap_or(0)
        } else {
            0
        };
        self.open_pages.remove(&id);
        let p = self.page_path(id);
        if let Ok(m) = fs::symlink_metadata(&p) {
            if fs::remove_file(&p).is_ok() {
                self.open_pages.page_files_removed();
                let bytes = allocated(&m);
                freed += bytes;
                let _ = self.add_usage(-(bytes as i64));
            }
        }
        self.prune_leaf(&self.leaf(id.file));
        freed
    }

    /// Removes a layout directory when it is empty, and counts it out.
    fn prune_leaf(&self, leaf: &Path) {
        let Ok(m) = fs::symlink_metadata(leaf) else {
            return;
        };
        if m.is_dir() && fs::remove_dir(leaf).is_ok() {
            self.count_leaf(leaf, true);
        }
    }

    /// Counts a layout directory's blocks in the ledger, which records what it counted for each
    /// of the 256 (a directory grows with its entries): created, grown, or `gone`. Each growth
    /// is counted once whichever process sees it; a process looks again only when the size it
    /// sees differs from what it last counted.
    fn count_leaf(&self, leaf: &Path, gone: bool) {
        let Some(idx) = leaf_index(leaf) else {
            return;
        };
        let now = if gone {
            0
        } else {
            match fs::symlink_metadata(leaf) {
                Ok(m) => allocated(&m),
                Err(_) => return,
            }
        };
        if self.leaf_seen[idx].load(Ordering::Relaxed) == now {
            return;
        }
        let Ok(mut f) = self.usage_file() else {
            return;
        };
        if f.lock().is_err() {
            return;
        }
        let at = LEAF_SIZES_AT + 8 * idx as u64;
        let r = (|| -> std::io::Result<()> {
            let recorded = read_u64_at(&mut f, at)?;
            if recorded != now {
                let v = read_u64(&mut f)?;
                let nv = (v as i128 + now as i128 - recorded as i128).clamp(0, u64::MAX as i128);
                write_u64(&mut f, nv as u64)?;
                write_u64_at(&mut f, at, now)?;
            }
            Ok(())
        })();
        let _ = f.unlock();
        if r.is_ok() {
            self.leaf_seen[idx].store(now, Ordering::Relaxed);
        }
    }

    /// Records every layout directory's size as counted (after a walk counted them all).
    fn record_leaves(&self) -> std::io::Result<()> {
        let mut f = self.usage_file()?;
        f.lock()?;
        let r = (|| -> std::io::Result<()> {
            for idx in 0..256usize {
                let leaf = self.root.join(format!("{idx:02x}"));
                let size = fs::symlink_metadata(&leaf)
                    .ok()
                    .filter(|m| m.is_dir())
                    .map_or(0, |m| allocated(&m));
                write_u64_at(&mut f, LEAF_SIZES_AT + 8 * idx as u64, size)?;
                self.leaf_seen[idx].store(size, Ordering::Relaxed);
            }
            Ok(())
        })();
        let _ = f.unlock();
        r
    }

    /// What the directory holds, by a scan: (page files and packs, bytes it occupies on
    /// disk); nothing for a directory that is not used.
    pub fn scan_usage(&self) -> Result<(u64, u64)> {
        if self.refused.get().is_some() {
            return Ok((0, 0));
        }
        let mut pages = 0;
        let total = self.walk(|_, _| {
            pages += 1;
            true
        })?;
        Ok((pages, total))
    }

    /// Verifies every page file; returns (pages checked, corrupt page paths). With `remove`,
    /// corrupt pages are deleted.
    pub fn verify(&self, remove: bool) -> Result<(u64, Vec<PathBuf>)> {
        if self.refused.get().is_some() {
            return Ok((0, Vec::new()));
        }
        let mut bad = Vec::new();
        let mut pages = 0;
        self.walk(|path, _| {
            pages += 1;
            let ok = open_for_reading(path)
                .map_err(Error::from)
                .and_then(|f| {
                    let m = f.metadata()?;
                    if let Some(why) = trust::not_private(&m) {
                        return Err(Error::new(ErrorKind::Corrupt, why));
                    }
                    if pack::pack_id(path).is_some() {
                        return pack::verify_pack(&f).map(|_| ());
                    }
                    page_file::verify_file(path, &f).map(|_| ())
                })
                .is_ok();
            if ok {
                return true;
            }
            bad.push(path.to_path_buf());
            if remove && fs::remove_file(path).is_ok() {
                self.forget_path(path);
                crate::bump!(corrupt_pages, 1, self.stats);
                return false;
            }
            true
        })?;
        if remove && !bad.is_empty() {
            self.open_pages.page_files_removed();
            self.run_janitor(false)?;
        }
        Ok((pages, bad))
    }

    /// Drops this process's handle of the page a path names, if it is one of this page size.
    fn forget_path(&self, path: &Path) {
        if pack::pack_id(path).is_some() {
            self.forget_pack(path);
        } else if let Ok((id, size)) = page_file::parse_name(path) {
            if size == self.page_size {
                self.open_pages.remove(&id);
            }
        }
    }

    /// Writes an encoded page under a temporary name and renames it into place. The page's
    /// blocks are reserved in the shared usage counter first, so all processes together never
    /// pass the capacity; when it is full the page is not cached (the read still succeeds) and
    /// the janitor makes room. Errors other than a full directory turn writes off.
    pub fn write_page(self: &Arc<Self>, id: PageId, encoded: &[u8]) -> bool {
        self.write_page_parts(id, &[encoded])
    }

    /// `write_page` of a page given in parts (its data, then what `page_file::tail` gives).
    pub fn write_page_parts(self: &Arc<Self>, id: PageId, parts: &[&[u8]]) -> bool {
        if let Some(cached) = self.write_packed(id, parts) {
            return cached;
        }
        let target = self.page_path(id);
        let parent = target.parent().expect("page paths have parents");
        let Some(tmp) = self.write_tmp(parent, parts) else {
            return false;
        };
        let len = parts.iter().map(|p| p.len() as u64).sum();
        self.put_in_place(&tmp, &target, self.alloc(len), id)
    }

    /// Renames a written temporary file to a page's name; a page file it replaces (of another
    /// ETag) is counted out.
    fn put_in_place(&self, tmp: &Path, target: &Path, size: u64, id: PageId) -> bool {
        let replaced = fs::symlink_metadata(target).ok();
        match fs::rename(tmp, target) {
            Ok(()) => {
                if let Some(m) = replaced {
                    let _ = self.add_usage(-(allocated(&m) as i64));
                    self.open_pages.remove(&id);
                }
                if let Some(leaf) = target.parent() {
                    self.count_leaf(leaf, false);
                }
                true
            }
            Err(e) => {
                self.discard_tmp(tmp, size);
                // The janitor took an empty directory or a file it took for a dead writer's.
                if e.kind() != IoKind::NotFound {
                    self.turn_off_writes(&e.to_string());
                }
                false
            }
        }
    }

    /// Writes a page encoded for a placeholder id (its file's version is not known yet: the
    /// file is being written through the cache) under a temporary name, its size reserved like
    /// any page's. `place_staged` gives it its id and puts it in place; `drop_staged` undoes it.
    /// `None` when the directory is full or not writable.
    pub fn stage_page(self: &Arc<Self>, encoded: &[u8]) -> Option<StagedPage> {
        // Staged files live beside pages (the janitor removes them when their writer died).
        let parent = self.root.join("00");
        let tmp = self.write_tmp(&parent, &[encoded])?;
        Some(StagedPage {
            tmp,
            size: self.alloc(encoded.len() as u64),
        })
    }

    /// Gives a staged page the trailer of `id` (`len` bytes, ETag binding `etag`) and renames
    /// it into place. On failure the page is dropped (the file is simply not cached).
    pub fn place_staged(&self, staged: StagedPage, id: PageId, len: u32, etag: u64) -> bool {
        let target = self.page_path(id);
        let set = (|| -> Result<()> {
            let f = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&staged.tmp)?;
            page_file::set_id(&f, self.expect(id, len), etag)?;
            drop(f);
            self.make_leaf(target.parent().expect("page paths have parents"))?;
            Ok(())
        })();
        if set.is_err() {
            self.drop_staged(staged);
            return false;
        }
        self.put_in_place(&staged.tmp, &target, staged.size, id)
    }

    /// The bytes of a staged page, to move it to another directory.
    pub fn read_staged(&self, staged: &StagedPage) -> Option<Vec<u8>> {
        let mut f = open_for_reading(&staged.tmp).ok()?;
        let mut out = Vec::new();
        f.read_to_end(&mut out).ok()?;
        Some(out)
    }

    /// Removes a staged page and gives its size back.
    pub fn drop_staged(&self, staged: StagedPage) {
        self.discard_tmp(&staged.tmp, staged.size);
    }

    /// Creates a layout directory if it is missing, counting its blocks.
    pub(super) fn make_leaf(&self, leaf: &Path) -> std::io::Result<()> {
        match fs::DirBuilder::new().mode(0o700).create(leaf) {
            Ok(()) => {
                self.count_leaf(leaf, false);
                Ok(())
            }
            Err(e) if e.kind() == IoKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reserves the blocks of `parts` and writes them to a new temporary file in `parent`.
    /// `None` when the directory is full (the janitor is started) or a write failed (writes
    /// are then turned off).
    fn write_tmp(self: &Arc<Self>, parent: &Path, parts: &[&[u8]]) -> Option<PathBuf> {
        if !self.writable() {
            return None;
        }
        let size = self.alloc(parts.iter().map(|p| p.len() as u64).sum());
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
        let tmp = parent.join(self.tmp_name(&self.seq.fetch_add(1, Ordering::Relaxed).to_string()));
        let create = || -> std::io::Result<File> {
            self.make_leaf(parent)?;
            new_file(&tmp)
        };
        let result = (|| -> std::io::Result<()> {
            let mut f = match create() {
                // The janitor removed the directory, empty, in between: make it again.
                Err(e) if e.kind() == IoKind::NotFound => create()?,
                r => r?,
            };
            parts.iter().try_for_each(|p| f.write_all(p))?;
            // A new page enters probation (see `evict`); renaming keeps the mark.
            f.set_modified(evict::stamp(SystemTime::now(), Segment::Probation))
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
    pub(super) fn reserve(&self, size: u64) -> std::io::Result<bool> {
        let mut f = self.usage_file()?;
        f.lock()?;
        let r = (|| {
            let v = read_u64(&mut f)?;
            if v.saturating_add(size) > self.capacity {
                return Ok(false);
            }
            write_u64(&mut f, v + size)?;
            Ok(true)
        })();
        let _ = f.unlock();
        r
    }

    fn usage_file(&self) -> std::io::Result<File> {
        control_file(&self.root.join("usage"))
    }

    /// Bytes held, as all processes together recorded them.
    pub fn usage(&self) -> std::io::Result<u64> {
        if self.refused.get().is_some() {
            return Ok(0);
        }
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
            let nv = (v as i128 + delta as i128).clamp(0, u64::MAX as i128) as u64;
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
            write_u64(&mut f, scanned.saturating_add(since))?;
            write_u64_at(&mut f, 8, unix_secs(SystemTime::now()))
        })();
        let _ = f.unlock();
        r
    }

    /// Takes the lock on `id`'s stripe of `fetch.lock`, so that one process of the node
    /// fetches the page while the others wait for it: `None` at once when the directory takes
    /// no writes or the kernel has no such locks, and after `wait` when another process holds
    /// the stripe that long (it hangs; the caller then fetches the page itself). A process that
    /// dies releases its locks. Waits asynchronously, polling.
    pub async fn fetch_lock(&self, id: PageId, wait: Duration) -> Option<FetchLock> {
        if !self.writable() {
            return None;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.root.join("fetch.lock"))
            .ok()?;
        let stripe = (id.file as u64 ^ (id.file >> 64) as u64 ^ id.index)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            % FETCH_STRIPES;
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match try_lock_byte(&file, stripe) {
                Ok(true) => return Some(FetchLock { _file: file }),
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(dir = %self.root.display(), "no fetch locks: {e}");
                    return None;
                }
            }
            if started.elapsed() >= wait {
                tracing::warn!(
                    dir = %self.root.display(),
                    "another process has been fetching a page for {:?}; fetching it here too",
                    wait
                );
                return None;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Starts a background scan (and eviction when `evict` or over capacity) unless this
    /// process runs one already; another process holding the janitor lock makes it a no-op.
    pub fn start_janitor(self: &Arc<Self>, evict: bool) {
        if self.refused.get().is_some() || self.janitor_running.swap(true, Ordering::AcqRel) {
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

    /// Runs the janitor in the calling thread (tests, `shoal cache` commands), waiting for
    /// one that runs elsewhere to finish first: it reconciles the usage figure with a walk of
    /// the directory, then evicts when `evict` or when the directory is over its capacity.
    pub fn run_janitor(&self, evict: bool) -> Result<()> {
        if self.refused.get().is_some() {
            return Ok(());
        }
        self.janitor_with(evict, true, true)
    }

    /// One eviction pass in the calling thread, without reconciling first: frees what the
    /// shared usage figure says is over 90% of the capacity. Returns the bytes freed.
    pub fn evict_pass(&self) -> Result<u64> {
        if self.refused.get().is_some() {
            return Ok(0);
        }
        let lock = control_file(&self.root.join("janitor.lock"))?;
        lock.lock()?;
        self.evict_over_target(true)
    }

    /// In the background: `evict` frees space, otherwise the usage figure is reconciled.
    fn janitor(&self, evict: bool) -> Result<()> {
        self.janitor_with(evict, !evict, false)
    }

    fn janitor_with(&self, evict: bool, reconcile: bool, wait: bool) -> Result<()> {
        let lock = control_file(&self.root.join("janitor.lock"))?;
        if wait {
            lock.lock()?;
        } else {
            match lock.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => return Ok(()), // another process is on it
                Err(fs::TryLockError::Error(e)) => return Err(e.into()),
            }
        }
        self.remove_old_layouts();
        if reconcile {
            self.reconcile()?;
        }
        self.evict_over_target(evict)?;
        Ok(())
    }

    /// Sets the shared usage figure to what a walk of the directory finds (after crashes, or
    /// files removed by hand) and records when. One process does it, in the background, when
    /// the last reconciliation is older than `RECONCILE_EVERY`; every other process only reads
    /// the figure.
    fn reconcile(&self) -> Result<()> {
        for leaf in self.leaves()? {
            self.compact_index(&leaf);
        }
        let counted_at_start = self.usage()?;
        let total = self.walk(|_, _| true)?;
        self.correct_usage(counted_at_start, total)?;
        self.record_leaves()?;
        Ok(())
    }

    /// Whether the shared usage figure was reconciled longer ago than `RECONCILE_EVERY` (or
    /// never, or in the future).
    fn reconcile_due(&self) -> bool {
        let Ok(mut f) = self.usage_file() else {
            return false;
        };
        if f.lock_shared().is_err() {
            return false;
        }
        let at = read_u64_at(&mut f, 8).unwrap_or(0);
        let _ = f.unlock();
        let now = unix_secs(SystemTime::now());
        at == 0 || at > now + 60 || now - at > RECONCILE_EVERY.as_secs()
    }

    /// Evicts down to 90% of the capacity when over it, or when `force` and over 90%.
    fn evict_over_target(&self, force: bool) -> Result<u64> {
        let held = self.usage()?;
        let target = self.capacity / 10 * 9;
        if held <= target || (!force && held <= self.capacity) {
            return Ok(0);
        }
        self.evict(held, held - target)
    }

    /// The layout directories (at most 256 of them, whatever the number of pages), rotated to
    /// start at a place that changes from pass to pass.
    fn leaves(&self) -> Result<Vec<PathBuf>> {
        let mut leaves: Vec<PathBuf> = read_dir_or_empty(&self.root)?
            .into_iter()
            .filter(|p| {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .collect();
        if !leaves.is_empty() {
            let seed = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos() as usize
                ^ std::process::id() as usize;
            let n = leaves.len();
            leaves.rotate_left(seed % n);
        }
        Ok(leaves)
    }

    /// Frees `need` of the `held` bytes: samples pages into an age histogram, then sweeps the
    /// layout entry by entry removing the pages the plan marks (see `evict`), loosening the
    /// plan when a sweep frees too little. Nothing is held per page; returns the bytes freed.
    fn evict(&self, held: u64, need: u64) -> Result<u64> {
        let leaves = self.leaves()?;
        let now = SystemTime::now();
        let mut sample = AgeHistogram::default();
        'sample: for leaf in &leaves {
            for p in dir_entries(leaf) {
                if sample.pages() >= evict::SAMPLE_PAGES {
                    break 'sample;
                }
                let Ok(m) = self.examine(&p) else { continue };
                if is_page(&p, &m) {
                    let mtime = m.modified().unwrap_or(now);
                    let age = now.duration_since(mtime).unwrap_or_default();
                    sample.add(evict::segment(mtime), age, allocated(&m));
                }
            }
        }
        let mut plan = Plan::new(&sample, held, need, self.capacity);
        let mut freed = 0u64;
        let mut removed_any = false;
        'passes: loop {
            for leaf in &leaves {
                let mut removed_here = false;
                let mut packs_removed = false;
                for p in dir_entries(leaf) {
                    if freed >= need {
                        break;
                    }
                    let Ok(m) = self.examine(&p) else { continue };
                    if !is_page(&p, &m) {
                        if !self.keep_other(&p, &m, now) {
                            freed += allocated(&m);
                        }
                        continue;
                    }
                    let mtime = m.modified().unwrap_or(now);
                    let age = now.duration_since(mtime).unwrap_or_default();
                    if plan.evicts(evict::segment(mtime), age) && fs::remove_file(&p).is_ok() {
                        self.forget_path(&p);
                        freed += allocated(&m);
                        self.evicted(1);
                        removed_here = true;
                        packs_removed |= pack::pack_id(&p).is_some();
                    }
                }
                if removed_here {
                    removed_any = true;
                    if packs_removed {
                        self.compact_index(leaf);
                    }
                    if fs::remove_dir(leaf).is_ok() {
                        self.count_leaf(leaf, true);
                    }
                }
                if freed >= need {
                    break 'passes;
                }
            }
            if !plan.loosen() {
                break;
            }
        }
        if removed_any {
            self.open_pages.page_files_removed();
        }
        self.add_usage(-(freed.min(i64::MAX as u64) as i64))?;
        Ok(freed)
    }

    /// Removes the layouts of earlier versions beside this one (never read by this code).
    fn remove_old_layouts(&self) {
        let Some(top) = self.root.parent() else {
            return;
        };
        for old in OLD_LAYOUTS {
            let p = top.join(old);
            if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                match fs::remove_dir_all(&p) {
                    Ok(()) => tracing::info!(
                        dir = %p.display(),
                        "removed the cache layout of an earlier Shoal version"
                    ),
                    Err(e) => tracing::debug!(dir = %p.display(), "cannot remove: {e}"),
                }
            }
        }
    }

    /// Walks the whole layout one entry at a time, calling `page` for each page file (it says
    /// whether the file is still there), and returns the bytes everything kept occupies
    /// (pages, temporary files of live writers, layout directories, control files). Removes
    /// the temporary files of dead writers, links and other things planted there, and empty
    /// layout directories. Holds nothing per page.
    fn walk(&self, mut page: impl FnMut(&Path, &fs::Metadata) -> bool) -> Result<u64> {
        let now = SystemTime::now();
        let root_meta = fs::symlink_metadata(&self.root)?;
        let mut total = allocated(&root_meta);
        for top in read_dir_or_empty(&self.root)? {
            let Ok(m) = self.examine(&top) else {
                continue;
            };
            if !m.is_dir() {
                if self.keep_other(&top, &m, now) {
                    total += allocated(&m);
                }
                continue;
            }
            let mut kept = 0;
            for p in dir_entries(&top) {
                let Ok(m) = self.examine(&p) else {
                    continue;
                };
                if is_page(&p, &m) {
                    if page(&p, &m) {
                        total += allocated(&m);
                        kept += 1;
                    }
                } else if self.keep_other(&p, &m, now) {
                    total += allocated(&m);
                    kept += 1;
                }
            }
            if kept == 0 && fs::remove_dir(&top).is_ok() {
                continue;
            }
            total += allocated(&m);
        }
        Ok(total)
    }

    /// Whether to keep something in the layout that is not a page: control files and the
    /// temporary files of writers that may be alive are kept; the temporary files of dead
    /// writers, links, directories and anything else are removed.
    fn keep_other(&self, p: &Path, m: &fs::Metadata, now: SystemTime) -> bool {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        if m.is_file() {
            if matches!(
                &*name,
                "usage" | "removals" | "janitor.lock" | "fetch.lock" | pack::INDEX
            ) {
                return true;
            }
            if let Some(rest) = name.strip_prefix(TMP_PREFIX) {
                let age = now
                    .duration_since(m.modified().unwrap_or(now))
                    .unwrap_or_default();
                let mut parts = rest.splitn(3, '-');
                let ns = parts.next().and_then(|v| v.parse::<u64>().ok());
                let pid = parts.next().and_then(|v| v.parse::<i32>().ok());
                let keep = match (ns, pid) {
                    (Some(ns), Some(pid)) if ns == self.pid_ns && self.pid_ns != 0 => {
                        process_alive(pid) && age < ORPHAN_TMP
                    }
                    _ => age < STALE_TMP,
                };
                if keep {
                    return true;
                }
            }
        }
        let gone = if m.is_dir() {
            fs::remove_dir_all(p)
        } else {
            fs::remove_file(p)
        };
        if let Err(e) = gone {
            tracing::debug!(path = %p.display(), "cannot remove from the cache: {e}");
            return true;
        }
        false
    }

    /// Removes every page of a file (all versions share no id, so only this one), of every
    /// page size; returns the bytes freed on disk.
    pub fn remove_file_pages(&self, file: u128) -> Result<u64> {
        if self.refused.get().is_some() {
            return Ok(0);
        }
        self.open_pages.remove_file(file);
        let packed = self.drop_packed(file).unwrap_or(0);
        let leaf = self.leaf(file);
        let prefix = format!("{file:032x}_");
        let mut freed = 0;
        for p in read_dir_or_empty(&leaf)? {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with(&prefix) {
                if let Ok(m) = fs::symlink_metadata(&p) {
                    if fs::remove_file(&p).is_ok() {
                        freed += allocated(&m);
                    }
                }
            }
        }
        if freed > 0 {
            self.open_pages.page_files_removed();
            let _ = self.add_usage(-(freed as i64));
        }
        self.prune_leaf(&leaf);
        Ok(freed + packed)
    }
}

/// The bytes a file or directory occupies on disk, as `du` counts them (ext4, XFS and btrfs
/// count data not yet written back, too).
pub(super) fn allocated(m: &fs::Metadata) -> u64 {
    m.blocks() * 512
}

/// The filesystem's allocation unit at `dir` (4 KiB when it cannot be asked).
fn alloc_unit(dir: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 4096;
    };
    // Safety: statvfs writes into the struct we own; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0 && st.f_frsize > 0 {
        (st.f_frsize as u64).clamp(512, 1 << 20)
    } else {
        4096
    }
}

/// The inode of this process's pid namespace (0 when unknown).
fn pid_namespace() -> u64 {
    fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|l| {
            let s = l.to_string_lossy().into_owned();
            s.split_once('[')
                .and_then(|(_, r)| r.trim_end_matches(']').parse().ok())
        })
        .unwrap_or(0)
}

/// Whether a process of this pid namespace is alive.
fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // Safety: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Takes an open-file-description lock on one byte of `f`, without waiting: false when another
/// holds it.
fn try_lock_byte(f: &File, at: u64) -> std::io::Result<bool> {
    // Safety: a plain struct handed to fcntl, which reads it.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start = at as libc::off_t;
    fl.l_len = 1;
    // Safety: a valid descriptor and a valid flock struct.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &fl) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(e),
    }
}

/// The number of a layout directory (its two hex digits).
fn leaf_index(leaf: &Path) -> Option<usize> {
    let name = leaf.file_name()?.to_str()?;
    (name.len() == 2)
        .then(|| usize::from_str_radix(name, 16).ok())
        .flatten()
}

/// The entries of a directory one at a time (nothing when it cannot be read).
fn dir_entries(p: &Path) -> impl Iterator<Item = PathBuf> {
    fs::read_dir(p)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
}

/// Whether a layout entry is a page file (not a temporary file, link or anything else).
fn is_page(p: &Path, m: &fs::Metadata) -> bool {
    let name = p.file_name().unwrap_or_default().to_string_lossy();
    m.is_file() && !name.starts_with(TMP_PREFIX) && name != pack::INDEX
}

/// The mtime a hit gives a page: now, in the protected segment. Hits refresh it only when it
/// is over `TOUCH_EVERY` old, so re-reads right after a page was fetched (the rest of the page,
/// read-ahead) do not protect it; a read a minute or an epoch later does.
pub(super) fn hit_stamp() -> SystemTime {
    evict::stamp(SystemTime::now(), Segment::Protected)
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
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
    fs::DirBuilder::new().recursive(true).mode(0o700).create(p)
}

/// A new private file, never through a link.
pub(super) fn new_file(p: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(p)
}

/// A small control file of the layout, created when missing, never through a link.
fn control_file(p: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(p)
}

fn read_u64(f: &mut File) -> std::io::Result<u64> {
    read_u64_at(f, 0)
}

/// The u64 at `at`; 0 when the file is shorter.
fn read_u64_at(f: &mut File, at: u64) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    f.seek(SeekFrom::Start(at))?;
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
    write_u64_at(f, 0, v)
}

fn write_u64_at(f: &mut File, at: u64, v: u64) -> std::io::Result<()> {
    f.seek(SeekFrom::Start(at))?;
    f.write_all(&v.to_le_bytes())
}

/// Opens a page file to read it, never through a link, without updating its access time where
/// the kernel allows (`O_NOATIME`: the file's owner only, which the user running the cache is):
/// recency for eviction is kept in the mtime, and the access-time check costs every `pread` on
/// a hit.
pub(super) fn open_for_reading(path: &Path) -> std::io::Result<File> {
    let open = |flags| {
        OpenOptions::new()
            .read(true)
            .custom_flags(flags | libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
    };
    match open(libc::O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
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

    const PAGE_SIZE: u64 = 64 << 10;

    fn dir(top: &Path, capacity: u64, open: OpenPages) -> Arc<DiskDir> {
        let d =
            DiskDir::with_open_pages(top, capacity, PAGE_SIZE, open, Arc::new(Stats::default()));
        // The first scan runs in the background; let it finish so that `run_janitor` runs.
        while d.janitor_running.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(5));
        }
        d
    }

    /// A directory of 1 GiB in a new temporary directory (returned too, to keep it), keeping
    /// up to `open_pages` page files open.
    fn fresh_dir(open_pages: usize) -> (tempfile::TempDir, Arc<DiskDir>) {
        let top = tempfile::tempdir().unwrap();
        let d = dir(top.path(), 1 << 30, OpenPages::new(open_pages));
        (top, d)
    }

    fn id(index: u64) -> PageId {
        PageId { file: 42, index }
    }

    fn data(index: u64) -> Vec<u8> {
        (0..LEN).map(|i| (i as u64 * 31 + index) as u8).collect()
    }

    fn encoded(index: u64) -> Vec<u8> {
        let e = Expect {
            id: id(index),
            page_size: PAGE_SIZE as u32,
            len: LEN as u32,
        };
        encode(e, 0, &data(index))
    }

    fn write(d: &Arc<DiskDir>, index: u64) {
        assert!(d.write_page(id(index), &encoded(index)));
    }

    /// Writes page `index`, and reads it back whole.
    fn round_trip(d: &Arc<DiskDir>, index: u64) {
        write(d, index);
        assert_eq!(read(d, index).unwrap().unwrap(), data(index));
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
                Some(&p.verified),
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
        let removals = top.path().join(LAYOUT).join("removals");
        assert_eq!(fs::metadata(removals).unwrap().len(), 8);
    }

    #[test]
    fn a_page_removed_freed_or_evicted_is_not_served_from_its_kept_handle() {
        let (_top, d) = fresh_dir(64);
        for i in 0..4 {
            round_trip(&d, i);
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
        // Evicted by this process's janitor: capacity for two pages, four written. What the
        // directory holds besides pages (its layout directories and small files) counts too.
        let small = tempfile::tempdir().unwrap();
        let page_bytes = d.alloc(page_file::file_size(LEN as u32, 4096));
        let leaf = allocated(&fs::symlink_metadata(d.root()).unwrap());
        let base = d.usage().unwrap() + leaf;
        drop(d);
        let d = dir(
            small.path(),
            base + page_bytes * 2 + page_bytes / 2,
            OpenPages::new(64),
        );
        for i in 0..2 {
            write(&d, i);
            read(&d, i).unwrap().unwrap();
        }
        // Make page 0 the least recently used, then overfill by hand (as another process
        // would) and let the janitor evict down to 90%.
        age(&d, 0, Duration::from_secs(3600));
        fs::write(d.page_path(id(2)), encoded(2)).unwrap();
        d.run_janitor(true).unwrap();
        assert!(!d.page_path(id(0)).exists());
        assert!(!d.open_pages().contains(&id(0)));
        assert!(read(&d, 0).is_none());
        assert!(d.open_pages().contains(&id(1)) || d.page_path(id(1)).exists());
    }

    /// Sets a page's mtime to `ago` in the past, in probation (as written then).
    fn age(d: &DiskDir, index: u64, ago: Duration) {
        File::options()
            .write(true)
            .open(d.page_path(id(index)))
            .unwrap()
            .set_modified(evict::stamp(SystemTime::now() - ago, Segment::Probation))
            .unwrap();
    }

    fn page_mtime(d: &DiskDir, index: u64) -> SystemTime {
        fs::metadata(d.page_path(id(index)))
            .unwrap()
            .modified()
            .unwrap()
    }

    /// A directory with room for `pages` test pages (and its one layout directory).
    fn room_for(pages: u64) -> (tempfile::TempDir, Arc<DiskDir>) {
        let top = tempfile::tempdir().unwrap();
        let probe = dir(top.path(), 1 << 30, OpenPages::new(16));
        let page_bytes = probe.alloc(page_file::file_size(LEN as u32, 4096));
        let base = probe.usage().unwrap() + 8192;
        drop(probe);
        let top = tempfile::tempdir().unwrap();
        let d = dir(top.path(), base + pages * page_bytes, OpenPages::new(16));
        (top, d)
    }

    #[test]
    fn a_new_process_examines_no_page_before_its_first_hit_however_many_there_are() {
        let work_at_start = |pages: u64| {
            let top = tempfile::tempdir().unwrap();
            // The first process of a new directory reconciles its ledger once (nothing there).
            let writer = dir(top.path(), 1 << 30, OpenPages::new(64));
            for i in 0..pages {
                write(&writer, i);
            }
            // A new process: its first hit, and what it looked at to get there.
            let reader = dir(top.path(), 1 << 30, OpenPages::new(64));
            assert_eq!(read(&reader, pages / 2).unwrap().unwrap(), data(pages / 2));
            let at_start = reader.entries_examined();
            // The ledger holds what a walk finds.
            let (n, walked) = reader.scan_usage().unwrap();
            assert_eq!(n, pages);
            assert_eq!(reader.usage().unwrap(), walked);
            at_start
        };
        assert_eq!(work_at_start(3), 0);
        assert_eq!(work_at_start(600), 0);
    }

    #[test]
    fn after_a_crash_one_process_reconciles_the_ledger_and_the_others_do_not_scan() {
        let (top, d) = fresh_dir(64);
        for i in 0..50 {
            write(&d, i);
        }
        let right = d.usage().unwrap();
        // A process died between reserving and writing (its reservation stays counted), and
        // the last reconciliation is two days old.
        assert!(d.reserve(1 << 20).unwrap());
        let mut f = d.usage_file().unwrap();
        let old = unix_secs(SystemTime::now() - 2 * RECONCILE_EVERY);
        write_u64_at(&mut f, 8, old).unwrap();
        assert_eq!(d.usage().unwrap(), right + (1 << 20));
        // The next process reconciles, in the background (`dir` waits for it).
        let first = dir(top.path(), 1 << 30, OpenPages::new(64));
        assert!(first.entries_examined() >= 50);
        assert_eq!(first.usage().unwrap(), right);
        // The ones after it do not.
        for _ in 0..3 {
            let next = dir(top.path(), 1 << 30, OpenPages::new(64));
            assert_eq!(next.entries_examined(), 0);
        }
    }

    #[test]
    fn a_scan_larger_than_the_cache_leaves_the_pages_read_again() {
        // Room for 300 pages; 100 hot pages read in an earlier epoch, then a scan of 1,500.
        let (_top, d) = room_for(300);
        let hot = 0..100u64;
        for i in hot.clone() {
            write(&d, i);
            age(&d, i, Duration::from_secs(3600));
        }
        for i in hot.clone() {
            assert_eq!(read(&d, i).unwrap().unwrap(), data(i));
            assert_eq!(evict::segment(page_mtime(&d, i)), Segment::Protected);
        }
        let examined_before = d.entries_examined();
        let mut passes = 0;
        for i in 1000..2500u64 {
            if !d.write_page(id(i), &encoded(i)) {
                d.evict_pass().unwrap();
                passes += 1;
                write(&d, i);
            }
        }
        let evicted = d.stats.snapshot()[crate::stats::COUNTER_NAMES
            .iter()
            .position(|n| *n == "evictions")
            .unwrap()];
        assert!(
            passes > 5 && evicted >= 1000,
            "{passes} passes, {evicted} evicted"
        );
        // Every hot page is still there; the scan churned through probation.
        for i in hot.clone() {
            assert!(d.has_page(id(i)), "hot page {i} evicted");
        }
        // The latest scan pages are there, the oldest mostly not (least recently written first,
        // to the second).
        assert!(d.has_page(id(2499)));
        assert!((1000..1300u64).filter(|i| d.has_page(id(*i))).count() < 150);
        // Work: the sample (here every page) and a sweep per pass, the sweep repeated with a
        // looser plan when the first frees too little (pages written within the same second
        // as the sample's oldest are told apart only by the next sweep; how many passes need
        // that depends on how the scan's writes fall across seconds): per page evicted a
        // bounded number of entries, whatever the directory holds.
        let examined = d.entries_examined() - examined_before;
        assert!(
            examined <= passes * 4 * 320,
            "{examined} entries examined for {evicted} pages evicted in {passes} passes"
        );
        assert!(d.usage().unwrap() <= d.capacity());
    }

    #[test]
    fn without_hits_eviction_is_least_recently_used() {
        // Room for 44 pages, 40 held.
        let (_top, d) = room_for(44);
        for i in 0..40u64 {
            write(&d, i);
            age(&d, i, Duration::from_secs(100 * (40 - i)));
        }
        // A page hit recently is protected: least recently used among the others goes first.
        age(&d, 5, Duration::from_secs(7200));
        assert_eq!(read(&d, 5).unwrap().unwrap(), data(5));
        let held = d.usage().unwrap();
        let page_bytes = d.alloc(page_file::file_size(LEN as u32, 4096));
        let freed = d.evict(held, 10 * page_bytes).unwrap();
        assert!(freed >= 10 * page_bytes);
        assert!(d.has_page(id(5)));
        // The oldest ten others go (age classes are a quarter of a doubling wide).
        let left = (0..12u64).filter(|i| *i != 5 && d.has_page(id(*i))).count();
        assert!(left <= 1, "{left} of the oldest left");
        assert!((12..40u64).all(|i| d.has_page(id(i))));
    }

    #[test]
    fn a_corrupt_chunk_is_found_through_a_kept_handle() {
        let (_top, d) = fresh_dir(64);
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
            round_trip(&d, i);
        }
        // Another process removes page 0, replaces page 1 by a fresh copy, and a failing disk
        // damages page 2 in place after it was verified through the handle.
        fs::remove_file(d.page_path(id(0))).unwrap();
        fs::remove_file(d.page_path(id(1))).unwrap();
        fs::write(d.page_path(id(1)), encoded(1)).unwrap();
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
        let (_top, d) = fresh_dir(16);
        for i in 0..200 {
            round_trip(&d, i);
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
        let (top, d) = fresh_dir(64);
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

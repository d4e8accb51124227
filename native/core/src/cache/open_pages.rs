//! Page files kept open for the whole process: a bounded table from page to open handle, its
//! checked header and which of its chunks have been verified through that handle.
//!
//! A disk hit through a handle found here costs one `pread` into the caller's buffer; its
//! chunks' checksums are computed the first time each is read through the handle, not on every
//! read. The table belongs to one cache directory (`DiskDir`), which drops a page's entry when
//! it removes the file (freed, found corrupt, evicted by this process's janitor).
//!
//! Page files are never changed in place: a page is written under a temporary name and renamed
//! into place, and removed by unlinking. So a handle reads the bytes that were checked when it
//! was opened, even after another process removed or replaced the file. Two things are
//! re-checked against the file's name, at most every `RECHECK` per page and only when the page
//! is read: that the name still leads to the same inode (otherwise the entry is dropped, so a
//! page freed or evicted by another process releases its disk space and is read anew), and the
//! page's recency for eviction (its mtime, refreshed when over `TOUCH_EVERY` old). When the
//! file's ctime moved since the handle last looked (someone wrote to it in place, or another
//! process refreshed its mtime) the verified marks are cleared and every chunk is checked again
//! as it is read.
//!
//! Removals by other processes are seen at once, not only at the next recheck: every process
//! that unlinks page files of a directory (free, eviction, a corrupt page, `cache verify
//! --remove`) then bumps a counter shared by all processes through a small memory-mapped file
//! (`Removals`, `<dir>/removals`). A handle checked before the counter last moved is re-checked
//! against its name before it is read again, so after `free` returns on a node no process there
//! serves the freed pages from a kept handle. Reading the counter is one memory load per hit.
//!
//! The trade-off: a chunk is checked the first time it is read through a handle, so a file
//! damaged before that is always caught; a file written to in place after a chunk was checked
//! is read as it is until the next recheck, at most `RECHECK` of reads later; and damage that
//! moves no ctime (a failing disk under the OS page cache) after a chunk was checked is not seen
//! until the handle is closed (idle for `IDLE`, pushed out of the table, or the filesystem
//! closed). Checking on every read instead cost about 30% of a sequential disk hit, and
//! clearing the marks at every recheck cost most of the gain on random reads. Entries not read
//! for `IDLE` are closed when the table is next used; until then an idle process keeps the disk
//! space of pages another process evicted.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use super::page_file::{Header, PageId, Verified};

/// How often a page read through a kept handle is checked against its file name.
pub const RECHECK: Duration = Duration::from_secs(10);
/// Handles not read for this long are closed.
pub const IDLE: Duration = Duration::from_secs(60);
/// The default bound on handles kept open, per process (`shoal.cache.open.pages`).
pub const DEFAULT_OPEN_PAGES: usize = 4096;
const SHARDS: usize = 8;

/// One open page file.
#[derive(Debug)]
pub struct OpenPage {
    pub file: File,
    pub header: Header,
    pub verified: Verified,
    dev: u64,
    ino: u64,
    /// The file's ctime (ns) when the handle last looked at it.
    ctime_ns: AtomicU64,
    /// Milliseconds since the table's epoch: last checked against the name, last read.
    checked_ms: AtomicU64,
    used_ms: AtomicU64,
    /// Read since the clock hand last passed (second chance).
    referenced: AtomicBool,
    /// The directory's removal count when the handle was last checked against its name.
    removals_seen: AtomicU64,
}

impl OpenPage {
    /// `meta` is the `fstat` of `file` that `header` was checked against.
    pub fn new(file: File, meta: &Metadata, header: Header) -> Self {
        OpenPage {
            verified: Verified::new(header.crcs.len()),
            file,
            header,
            dev: meta.dev(),
            ino: meta.ino(),
            ctime_ns: AtomicU64::new(ctime_ns(meta)),
            checked_ms: AtomicU64::new(0),
            used_ms: AtomicU64::new(0),
            referenced: AtomicBool::new(false),
            removals_seen: AtomicU64::new(0),
        }
    }

    /// Whether `meta` (a `stat` of the page's name) is this handle's file.
    pub fn same_file(&self, meta: &Metadata) -> bool {
        meta.dev() == self.dev && meta.ino() == self.ino
    }

    /// Records the ctime after this process changed the file's mtime itself.
    pub fn touched(&self, meta: &Metadata) {
        self.ctime_ns.store(ctime_ns(meta), Ordering::Relaxed);
    }
}

fn ctime_ns(meta: &Metadata) -> u64 {
    (meta.ctime() as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(meta.ctime_nsec() as u64)
}

/// What `OpenPages::get` found.
pub enum Lookup {
    /// Read it.
    Fresh(Arc<OpenPage>),
    /// Read it once `stat` of its name confirms it (then call `checked`).
    Recheck(Arc<OpenPage>),
    Absent,
}

#[derive(Default)]
struct Shard {
    map: HashMap<PageId, Arc<OpenPage>>,
    /// Clock order; may hold ids no longer in `map` (skipped, and compacted when it grows).
    ring: VecDeque<PageId>,
}

pub struct OpenPages {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    epoch: Instant,
    next_sweep_ms: AtomicU64,
    recheck_ms: u64,
    removals: OnceLock<Removals>,
}

impl std::fmt::Debug for OpenPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenPages")
            .field("capacity", &(self.per_shard * SHARDS))
            .field("len", &self.len())
            .finish()
    }
}

impl OpenPages {
    /// A table of at most `capacity` handles (rounded up to a multiple of its shard count; 0
    /// keeps none).
    pub fn new(capacity: usize) -> Self {
        Self::with_recheck(capacity, RECHECK)
    }

    pub fn with_recheck(capacity: usize, recheck: Duration) -> Self {
        OpenPages {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS),
            epoch: Instant::now(),
            next_sweep_ms: AtomicU64::new(IDLE.as_millis() as u64),
            recheck_ms: recheck.as_millis() as u64,
            removals: OnceLock::new(),
        }
    }

    /// Shares the directory's removal counter (once; later calls are ignored).
    pub fn attach_removals(&self, r: Removals) {
        let _ = self.removals.set(r);
    }

    /// The directory's removal count: read it before opening or `stat`ing a page file, and
    /// give it to `insert` or `checked`, so that a removal racing with them is not missed.
    pub fn removals_now(&self) -> u64 {
        self.removals.get().map_or(0, Removals::current)
    }

    /// Tells every process using the directory that page files were removed from it.
    pub fn page_files_removed(&self) {
        if let Some(r) = self.removals.get() {
            r.bump();
        }
    }

    fn shard(&self, id: &PageId) -> std::sync::MutexGuard<'_, Shard> {
        let h = (id.file as u64) ^ ((id.file >> 64) as u64) ^ id.index.wrapping_mul(0x9e37_79b9);
        self.shards[(h % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn get(&self, id: &PageId) -> Lookup {
        let now = self.now_ms();
        if now >= self.next_sweep_ms.load(Ordering::Relaxed) {
            self.sweep(now);
        }
        let Some(p) = self.shard(id).map.get(id).cloned() else {
            return Lookup::Absent;
        };
        p.used_ms.store(now, Ordering::Relaxed);
        if !p.referenced.load(Ordering::Relaxed) {
            p.referenced.store(true, Ordering::Relaxed);
        }
        if now.saturating_sub(p.checked_ms.load(Ordering::Relaxed)) >= self.recheck_ms
            || p.removals_seen.load(Ordering::Relaxed) != self.removals_now()
        {
            Lookup::Recheck(p)
        } else {
            Lookup::Fresh(p)
        }
    }

    /// Records that `page` was found to be its name's file just now (`meta`, a `stat` of the
    /// name); when the file changed since the handle last looked, its chunks are checked again
    /// as they are read.
    pub fn checked(&self, page: &OpenPage, meta: &Metadata, removals_before: u64) {
        page.removals_seen.store(removals_before, Ordering::Relaxed);
        let now = ctime_ns(meta);
        if page.ctime_ns.swap(now, Ordering::Relaxed) != now {
            page.verified.clear();
        }
        page.checked_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    pub fn contains(&self, id: &PageId) -> bool {
        self.shard(id).map.contains_key(id)
    }

    /// Whether a handle for the page is kept and was checked against its name within
    /// `RECHECK`, so that the page can be taken to be on disk without a `stat`.
    pub fn contains_checked(&self, id: &PageId) -> bool {
        let now = self.now_ms();
        let removals = self.removals_now();
        self.shard(id).map.get(id).is_some_and(|p| {
            now.saturating_sub(p.checked_ms.load(Ordering::Relaxed)) < self.recheck_ms
                && p.removals_seen.load(Ordering::Relaxed) == removals
        })
    }

    /// Keeps `page` (checked just now), closing the least recently read handle of its shard
    /// when the shard is full; returns the handle to read through.
    /// `removals_before`: `removals_now()` read before the file was opened.
    pub fn insert(&self, id: PageId, page: OpenPage, removals_before: u64) -> Arc<OpenPage> {
        page.removals_seen.store(removals_before, Ordering::Relaxed);
        let now = self.now_ms();
        page.checked_ms.store(now, Ordering::Relaxed);
        page.used_ms.store(now, Ordering::Relaxed);
        let page = Arc::new(page);
        if self.per_shard == 0 {
            return page;
        }
        let mut s = self.shard(&id);
        if s.map.insert(id, page.clone()).is_none() {
            s.ring.push_back(id);
        }
        while s.map.len() > self.per_shard {
            let Some(victim) = s.ring.pop_front() else {
                break;
            };
            let Some(v) = s.map.get(&victim) else {
                continue;
            };
            if victim == id || v.referenced.swap(false, Ordering::Relaxed) {
                s.ring.push_back(victim);
            } else {
                s.map.remove(&victim);
            }
        }
        if s.ring.len() > 2 * self.per_shard.max(8) {
            let Shard { map, ring } = &mut *s;
            let mut seen = std::collections::HashSet::with_capacity(map.len());
            ring.retain(|i| map.contains_key(i) && seen.insert(*i));
        }
        page
    }

    pub fn remove(&self, id: &PageId) {
        self.shard(id).map.remove(id);
    }

    /// Drops every page of one file.
    pub fn remove_file(&self, file: u128) {
        for s in self.shards.iter() {
            let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
            s.map.retain(|id, _| id.file != file);
        }
    }

    /// Drops the page a page file's path names, if it is one.
    pub fn remove_path(&self, path: &Path) {
        if let Ok(id) = super::page_file::parse_name(path) {
            self.remove(&id);
        }
    }

    pub fn clear(&self) {
        for s in self.shards.iter() {
            let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
            s.map.clear();
            s.ring.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes handles not read for `IDLE`, at most once per `IDLE / 4`.
    fn sweep(&self, now: u64) {
        let idle = IDLE.as_millis() as u64;
        let next = self.next_sweep_ms.load(Ordering::Relaxed);
        if now < next
            || self
                .next_sweep_ms
                .compare_exchange(next, now + idle / 4, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        for s in self.shards.iter() {
            let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
            s.map
                .retain(|_, p| now.saturating_sub(p.used_ms.load(Ordering::Relaxed)) < idle);
        }
    }
}

/// How many page files any process removed from one cache directory: a u64 in a small file
/// (`<dir>/removals`) mapped shared into every process using the directory, so that reading it
/// is a memory load. Where the file cannot be mapped for writing (a read-only directory, where
/// this process removes nothing anyway) it is mapped read-only, or not at all, and this
/// process's own removals are counted in memory.
pub struct Removals {
    shared: Option<(NonNull<AtomicU64>, bool)>,
    local: AtomicU64,
}

// Safety: the mapping is only accessed through the atomic, and lives as long as the struct.
unsafe impl Send for Removals {}
unsafe impl Sync for Removals {}

impl Removals {
    /// Maps `path` (created, 0600, when missing and the directory is writable).
    pub fn open(path: &Path) -> Self {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let rw = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .and_then(|f| {
                if f.metadata()?.len() < 8 {
                    f.set_len(8)?;
                }
                Ok(f)
            });
        let (file, writable) = match rw {
            Ok(f) => (Some(f), true),
            Err(_) => (
                File::open(path)
                    .ok()
                    .filter(|f| f.metadata().is_ok_and(|m| m.len() >= 8)),
                false,
            ),
        };
        let shared = file.and_then(|f| {
            let prot = if writable {
                libc::PROT_READ | libc::PROT_WRITE
            } else {
                libc::PROT_READ
            };
            // Safety: an 8-byte shared mapping of a file at least 8 bytes long; page aligned,
            // so aligned for AtomicU64. The fd may be closed once mapped.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    8,
                    prot,
                    libc::MAP_SHARED,
                    f.as_raw_fd(),
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                None
            } else {
                NonNull::new(p as *mut AtomicU64).map(|p| (p, writable))
            }
        });
        Removals {
            shared,
            local: AtomicU64::new(0),
        }
    }

    /// A counter of this process's removals alone.
    pub fn local() -> Self {
        Removals {
            shared: None,
            local: AtomicU64::new(0),
        }
    }

    pub fn current(&self) -> u64 {
        let shared = self
            .shared
            // Safety: mapped for the struct's lifetime.
            .map_or(0, |(p, _)| unsafe { p.as_ref() }.load(Ordering::Acquire));
        shared.wrapping_add(self.local.load(Ordering::Acquire))
    }

    pub fn bump(&self) {
        match self.shared {
            // Safety: mapped writable for the struct's lifetime.
            Some((p, true)) => {
                unsafe { p.as_ref() }.fetch_add(1, Ordering::AcqRel);
            }
            _ => {
                self.local.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}

impl Drop for Removals {
    fn drop(&mut self) {
        if let Some((p, _)) = self.shared {
            // Safety: the mapping made in `open`, unmapped once.
            unsafe { libc::munmap(p.as_ptr() as *mut libc::c_void, 8) };
        }
    }
}

impl std::fmt::Debug for Removals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Removals")
            .field("shared", &self.shared.is_some())
            .field("current", &self.current())
            .finish()
    }
}

/// How many page handles a process may keep: `wanted`, but at most a quarter of its open-file
/// limit, so that the rest of the process (sockets, the JVM's own files) keeps room.
pub fn bound_by_fd_limit(wanted: usize) -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        })
        .and_then(|v| v.parse::<usize>().ok());
    match soft {
        Some(n) => wanted.min(n / 4),
        None => wanted.min(256),
    }
}

/// Whether a page file's mtime says it was not used within `every`.
pub fn stale_mtime(meta: &Metadata, every: Duration) -> bool {
    let now = SystemTime::now();
    meta.modified()
        .map(|t| now.duration_since(t).unwrap_or_default() >= every)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::page_file::{encode, read_header};
    use std::io::Write;

    fn open_page(dir: &Path, id: PageId) -> OpenPage {
        let p = dir.join(format!("{:032x}_{}", id.file, id.index));
        std::fs::File::create(&p)
            .unwrap()
            .write_all(&encode(id, 4096, &[7u8; 100]))
            .unwrap();
        let f = File::open(&p).unwrap();
        let m = f.metadata().unwrap();
        let h = read_header(&f, m.len(), id, 100).unwrap();
        OpenPage::new(f, &m, h)
    }

    #[test]
    fn the_table_stays_within_its_bound_and_keeps_what_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let t = OpenPages::new(64);
        let hot = PageId { file: 1, index: 0 };
        t.insert(hot, open_page(dir.path(), hot), 0);
        for i in 0..1000u64 {
            let id = PageId {
                file: 2 + (i % 7) as u128,
                index: i,
            };
            t.insert(id, open_page(dir.path(), id), 0);
            assert!(matches!(t.get(&hot), Lookup::Fresh(_)), "{i}");
            assert!(t.len() <= 64, "{}", t.len());
            let _ = std::fs::remove_file(dir.path().join(format!("{:032x}_{}", id.file, i)));
        }
        assert!(t.len() >= 32, "{}", t.len());
        for s in t.shards.iter() {
            assert!(s.lock().unwrap().ring.len() <= 2 * 8 + 8);
        }
        t.remove_file(1);
        assert!(!t.contains(&hot));
        let none = OpenPages::new(0);
        none.insert(hot, open_page(dir.path(), hot), 0);
        assert!(none.is_empty());
    }

    #[test]
    fn a_page_is_rechecked_after_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let t = OpenPages::with_recheck(16, Duration::from_millis(30));
        let id = PageId { file: 5, index: 2 };
        t.insert(id, open_page(dir.path(), id), 0);
        let Lookup::Fresh(p) = t.get(&id) else {
            panic!("fresh");
        };
        p.verified.clear();
        std::thread::sleep(Duration::from_millis(40));
        let Lookup::Recheck(p) = t.get(&id) else {
            panic!("recheck");
        };
        assert!(!t.contains_checked(&id));
        t.checked(&p, &p.file.metadata().unwrap(), 0);
        assert!(t.contains_checked(&id));
        assert!(matches!(t.get(&id), Lookup::Fresh(_)));
        t.remove(&id);
        assert!(matches!(t.get(&id), Lookup::Absent));
    }
}

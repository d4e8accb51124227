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
//! (`Removals`, `<dir>/v2/removals`). A handle checked before the counter last moved is
//! re-checked
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
    /// The page file, or the pack holding the page (shared by the handles of its pages).
    pub file: Arc<File>,
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
    pub fn new(file: impl Into<Arc<File>>, meta: &Metadata, header: Header) -> Self {
        OpenPage {
            verified: Verified::new(header.crcs.len()),
            file: file.into(),
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

debug_shows!(OpenPages, "OpenPages", |p| {
    "capacity": p.per_shard * SHARDS,
    "len": p.len(),
});

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
/// (`<dir>/v2/removals`) that every process using the directory maps read-only, so that reading
/// it is a memory load; a removal adds one to it with a write under a lock on the file.
///
/// Nothing about the file can kill a process: it is made whole (its 8 bytes written, so its
/// block is allocated, under a temporary name linked into place) before anyone maps it, so a
/// full disk fails the write, not a later access; the mapping is never written through (a
/// write fault on a full copy-on-write filesystem would be a signal); a file of any other size
/// is replaced, never mapped. What Shoal cannot prevent is a person truncating the file by hand
/// while processes have it mapped, as with any file a program maps.
///
/// Where no counter can be shared (the file cannot be made or mapped: a full or read-only
/// directory), the process re-checks every kept page file against its name before each read
/// (`blind`), which is slower but never serves a removed page.
pub struct Removals {
    shared: Option<(NonNull<AtomicU64>, File)>,
    local: AtomicU64,
    blind: bool,
}

// Safety: the mapping is only accessed through the atomic, and lives as long as the struct.
unsafe impl Send for Removals {}
unsafe impl Sync for Removals {}

impl Removals {
    /// Maps `<root>/removals`, creating or replacing it when it is missing or not 8 bytes
    /// long. `tmp_name` names a temporary file in `root` for that.
    pub fn open(root: &Path, tmp_name: &str) -> Self {
        let path = root.join("removals");
        let mut file = open_nofollow(&path);
        let whole = |f: &File| f.metadata().is_ok_and(|m| m.is_file() && m.len() == 8);
        if !file.as_ref().is_ok_and(whole) {
            if let Err(e) = make_counter_file(root, &path, tmp_name, file.is_ok()) {
                tracing::debug!(file = %path.display(), "cannot make the removal counter: {e}");
            }
            file = open_nofollow(&path);
        }
        let shared = file.ok().filter(whole).and_then(|f| {
            use std::os::unix::io::AsRawFd;
            // Safety: an 8-byte read-only shared mapping of a regular file 8 bytes long; page
            // aligned, so aligned for AtomicU64. The file is kept open for bumps.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    8,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    f.as_raw_fd(),
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                None
            } else {
                NonNull::new(p as *mut AtomicU64).map(|p| (p, f))
            }
        });
        if shared.is_none() {
            tracing::warn!(
                file = %path.display(),
                "Shoal cannot share the cache directory's removal counter {}; this process \
                 checks each kept page file against its name before every read",
                path.display()
            );
        }
        Removals {
            blind: shared.is_none(),
            shared,
            local: AtomicU64::new(0),
        }
    }

    pub fn current(&self) -> u64 {
        if self.blind {
            // A new value every time: every kept handle is re-checked before it is read.
            return self.local.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        }
        let shared = self
            .shared
            .as_ref()
            // Safety: mapped for the struct's lifetime.
            .map_or(0, |(p, _)| unsafe { p.as_ref() }.load(Ordering::Acquire));
        shared.wrapping_add(self.local.load(Ordering::Acquire))
    }

    pub fn bump(&self) {
        if let Some((_, f)) = &self.shared {
            match bump_file(f) {
                Ok(()) => return,
                Err(e) => tracing::warn!(
                    "Shoal could not count a page removal in the cache directory's shared \
                     counter ({e}); other processes notice it within {}s",
                    RECHECK.as_secs()
                ),
            }
        }
        self.local.fetch_add(1, Ordering::AcqRel);
    }
}

/// Opens the counter file for reading and writing, or for reading only (a read-only
/// directory, where this process removes nothing), never through a link.
fn open_nofollow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = |write| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
    };
    match open(true) {
        Err(e)
            if e.kind() == std::io::ErrorKind::PermissionDenied
                || e.raw_os_error() == Some(libc::EROFS) =>
        {
            open(false)
        }
        r => r,
    }
}

/// Writes a zero counter to a temporary file and links it into place (or renames it over a
/// file of the wrong size, `replace`), so the name never leads to a file shorter than 8 bytes.
fn make_counter_file(
    root: &Path,
    path: &Path,
    tmp_name: &str,
    replace: bool,
) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = root.join(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let r = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(&0u64.to_le_bytes())?;
        f.sync_data()?;
        if replace {
            std::fs::rename(&tmp, path)
        } else {
            match std::fs::hard_link(&tmp, path) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
                _ => Ok(()),
            }
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    r
}

/// Adds one to the counter in `f` under an exclusive lock on it.
fn bump_file(f: &File) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.lock()?;
    let r = (|| {
        let mut b = [0u8; 8];
        f.read_exact_at(&mut b, 0)?;
        f.write_all_at(&u64::from_le_bytes(b).wrapping_add(1).to_le_bytes(), 0)
    })();
    let _ = f.unlock();
    r
}

impl Drop for Removals {
    fn drop(&mut self) {
        if let Some((p, _)) = &self.shared {
            // Safety: the mapping made in `open`, unmapped once.
            unsafe { libc::munmap(p.as_ptr() as *mut libc::c_void, 8) };
        }
    }
}

debug_shows!(Removals, "Removals", |r| {
    "shared": r.shared.is_some(),
    "blind": r.blind,
});

/// How many page handles a process may keep: `wanted`, but at most a quarter of its open-file
/// limit, so that the rest of the process (sockets, the JVM's own files) keeps room.
pub fn bound_by_fd_limit(wanted: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safety: getrlimit writes the limit into `limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return wanted.min(256);
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        return wanted;
    }
    wanted.min((limit.rlim_cur / 4).try_into().unwrap_or(usize::MAX))
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
    use crate::cache::page_file::{encode, read_header, Expect};
    use std::io::Write;

    fn open_page(dir: &Path, id: PageId) -> OpenPage {
        let p = dir.join(format!("{:032x}_{}", id.file, id.index));
        let e = Expect {
            id,
            page_size: 4096,
            len: 100,
        };
        std::fs::File::create(&p)
            .unwrap()
            .write_all(&encode(e, 0, &[7u8; 100]))
            .unwrap();
        let f = File::open(&p).unwrap();
        let m = f.metadata().unwrap();
        let h = read_header(&f, m.len(), e).unwrap();
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
    fn the_removal_counter_is_whole_before_it_is_mapped_and_shared() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("removals");
        for junk in [&b""[..], b"abc", &[1u8; 100]] {
            std::fs::write(&p, junk).unwrap();
            let r = Removals::open(dir.path(), ".tmp-a");
            assert!(!r.blind);
            assert_eq!(std::fs::metadata(&p).unwrap().len(), 8);
            // Another process's removal is seen at once.
            let before = r.current();
            Removals::open(dir.path(), ".tmp-b").bump();
            assert_eq!(r.current(), before + 1);
        }
        assert!(!dir.path().join(".tmp-a").exists());
        // Where no counter can be made, every read re-checks its page file.
        let r = Removals::open(&dir.path().join("missing"), ".tmp-c");
        assert!(r.blind);
        assert_ne!(r.current(), r.current());
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

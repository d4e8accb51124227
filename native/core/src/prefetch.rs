//! Prefetch across files: when a process starts reading the files of a directory, the files it
//! will be asked for next are fetched into the node cache ahead of the reader, several at once,
//! so that a cold epoch is bound by the link's bandwidth rather than by one round trip per file.
//!
//! Which files: the files of the directory that this node owns on the placement ring (the ring
//! Spark's scheduler follows through `getFileBlockLocations`, so these are the files Spark sends
//! here); every file of it when no ring is known (local mode, FUSE, the C API). In which order:
//! largest first, the order in which Spark's file sources hand out their splits. A reader that
//! reads in another order still gets every byte; it fetches what it reaches first itself.
//!
//! Bounds: the bytes in flight from the stores (`shoal.prefetch.max.bytes`), the files fetched
//! ahead and not opened yet (`shoal.prefetch.files`), and a quarter of the cache's capacity for
//! the bytes of those files, so prefetching never evicts what it has just fetched.
//!
//! Guarantees are the cache's: a prefetch is `PageCache::fetch`, single flight in the process
//! and across the node's processes, pages keyed by the version the listing gave and bound to
//! its ETag, written whole or not at all. A page already in memory, on disk or in flight is
//! never asked for again, so a warm cache costs no request. A failed prefetch caches nothing
//! wrong and leaves the file to its reader, which gets its bytes or its own error.
//!
//! Counters: `prefetch_bytes` (fetched ahead), `prefetch_read_bytes` (of those, in files a
//! reader of this process opened afterwards, in the version fetched), `prefetch_unread_bytes`
//! (the rest: files not opened (yet), another version opened, a prefetch that failed part-way).
//! When the filesystem closes, `prefetch_unread_bytes` is what was never read, and one summary
//! line is logged.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use crate::cache::{FileSource, PageCache, PageId, StatsSet};
use crate::config::Config;
use crate::error::Result;
use crate::namespace::Namespace;
use crate::stats::Stats;

/// Files fetched ahead and not opened yet, at most.
pub const DEFAULT_FILES_AHEAD: usize = 64;
/// Bytes in flight from the stores for prefetching, at most (per filesystem instance).
pub const DEFAULT_MAX_BYTES: u64 = 32 << 20;
/// The bytes in flight are counted in units of this size (semaphore permits).
const UNIT: u64 = 1024;
/// Pages of one file fetched at once (the byte bound applies across all of them).
const PAGES_AT_ONCE: usize = 8;

/// `shoal.prefetch.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefetchSettings {
    pub enabled: bool,
    pub files_ahead: usize,
    pub max_bytes: u64,
    /// The name this node has on the placement ring; its host names and addresses when unset.
    pub host: Option<String>,
}

impl PrefetchSettings {
    pub fn from_config(c: &Config) -> Result<Self> {
        Ok(PrefetchSettings {
            enabled: c.get_bool("shoal.prefetch.enabled", true)?,
            files_ahead: c.get_usize("shoal.prefetch.files", DEFAULT_FILES_AHEAD)?,
            max_bytes: c.get_size("shoal.prefetch.max.bytes", DEFAULT_MAX_BYTES)?,
            host: c
                .get("shoal.prefetch.host")
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(String::from),
        })
    }

    /// Whether any file would ever be fetched ahead.
    pub fn active(&self) -> bool {
        self.enabled && self.files_ahead > 0 && self.max_bytes > 0
    }
}

/// Where one file of an activated directory stands.
#[derive(Debug)]
enum Phase {
    /// Waiting for its turn.
    Queued(Arc<FileSource>),
    /// Being fetched ahead (the version `file`, of `len` bytes); `opened` once a reader
    /// opened it meanwhile, `read` when it opened that version.
    Fetching {
        file: u128,
        len: u64,
        opened: bool,
        read: bool,
    },
    /// Fetched ahead (`bytes` from the store, of the version `file` of `len` bytes), not
    /// opened yet.
    Fetched { file: u128, len: u64, bytes: u64 },
    /// Opened by a reader, or left to it (it overtook the prefetch, the prefetch failed or
    /// found nothing to fetch).
    Done,
}

#[derive(Debug, Default)]
struct State {
    /// Directories whose files are prefetched (or were looked at for it).
    dirs: HashSet<String>,
    /// Directories of which one file was opened (that one), whose listing was not at hand.
    opened_once: HashMap<String, String>,
    files: HashMap<String, Phase>,
    /// Files to fetch, largest first.
    queue: BinaryHeap<(u64, Reverse<String>)>,
    /// Files being fetched or fetched ahead, not opened yet, and their length.
    ahead_files: usize,
    ahead_bytes: u64,
}

/// The prefetcher of one namespace (one filesystem instance).
pub struct Prefetcher {
    settings: PrefetchSettings,
    cache: Arc<PageCache>,
    /// The namespace's counters and the process's.
    stats: StatsSet,
    /// Bytes in flight, in `UNIT`s.
    budget: Arc<tokio::sync::Semaphore>,
    units: u32,
    /// The most bytes of files ahead: a quarter of the cache.
    ahead_cap: u64,
    /// This node's names on the placement ring.
    me: OnceLock<HashSet<String>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Prefetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetcher")
            .field("settings", &self.settings)
            .finish()
    }
}

impl Prefetcher {
    /// `None` when prefetching is off.
    pub fn new(
        settings: PrefetchSettings,
        cache: Arc<PageCache>,
        stats: StatsSet,
    ) -> Option<Arc<Self>> {
        if !settings.active() {
            return None;
        }
        let units = settings.max_bytes.div_ceil(UNIT).clamp(
            1,
            tokio::sync::Semaphore::MAX_PERMITS.min(u32::MAX as usize) as u64,
        ) as u32;
        let disk: u64 = cache
            .dirs()
            .iter()
            .filter(|d| d.writable())
            .map(|d| d.capacity())
            .sum();
        let capacity = if disk > 0 {
            disk
        } else {
            cache.settings.memory_size
        };
        Some(Arc::new(Prefetcher {
            budget: Arc::new(tokio::sync::Semaphore::new(units as usize)),
            units,
            ahead_cap: capacity / 4,
            settings,
            cache,
            stats,
            me: OnceLock::new(),
            state: Mutex::new(State::default()),
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A reader opened `path` (read through the cache as `src`): its prefetch, if any, is
    /// counted as read. Opening a file of a directory whose listing the metadata cache holds
    /// (the process listed it), or a second file of a directory, starts the prefetch of the
    /// others (with a listing, when none was at hand): one file read alone costs nothing more.
    pub fn opened(self: &Arc<Self>, ns: &Namespace, path: &str, src: &FileSource) {
        let dir = parent(path);
        // A node that is on no placement ring's list of hosts is sent no file of it: nothing to
        // fetch ahead, so not even a listing.
        let on_ring = ns.on_placement_ring(self.me());
        let activate = {
            let mut st = self.state();
            self.note_open(&mut st, path, src);
            if !on_ring || st.dirs.contains(dir) {
                None
            } else if ns.listing_cached(dir) {
                st.dirs.insert(dir.to_string());
                Some(None)
            } else {
                match st.opened_once.get(dir) {
                    // The same file again is not reading the directory.
                    Some(first) if first == path => None,
                    Some(_) => {
                        let first = st.opened_once.remove(dir);
                        st.dirs.insert(dir.to_string());
                        Some(first)
                    }
                    None => {
                        st.opened_once.insert(dir.to_string(), path.to_string());
                        None
                    }
                }
            }
        };
        if let Some(first) = activate {
            self.activate(ns, dir, [Some(path), first.as_deref()]);
        }
        self.pump();
    }

    fn note_open(&self, st: &mut State, path: &str, src: &FileSource) {
        let Some(phase) = st.files.get_mut(path) else {
            return;
        };
        match phase {
            // The reader got there first: it fetches the file itself.
            Phase::Queued(_) => *phase = Phase::Done,
            Phase::Fetching {
                file,
                len,
                opened,
                read,
            } => {
                if !*opened {
                    *opened = true;
                    *read = *file == src.file_id;
                    let len = *len;
                    st.ahead_files -= 1;
                    st.ahead_bytes = st.ahead_bytes.saturating_sub(len);
                }
            }
            Phase::Fetched { file, len, bytes } => {
                let (same, len, bytes) = (*file == src.file_id, *len, *bytes);
                *phase = Phase::Done;
                st.ahead_files -= 1;
                st.ahead_bytes = st.ahead_bytes.saturating_sub(len);
                // Another version opened: what was fetched stays unread.
                if same {
                    for s in self.stats.iter() {
                        crate::bump!(prefetch_read_bytes, bytes, s);
                        s.prefetch_unread_bytes.fetch_sub(bytes, Ordering::Relaxed);
                    }
                }
            }
            Phase::Done => {}
        }
    }

    /// Queues the files of `dir` this node owns that the cache does not hold yet.
    fn activate(&self, ns: &Namespace, dir: &str, opened: [Option<&str>; 2]) {
        let listing = match ns.list(dir) {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(dir, "no prefetch: the directory could not be listed: {e}");
                return;
            }
        };
        let mut picked = Vec::new();
        for info in listing {
            if info.is_dir
                || info.len == 0
                || opened.contains(&Some(info.path.as_str()))
                || !self.owns(ns, &info)
            {
                continue;
            }
            let path = info.path.clone();
            let Ok((r, src)) = ns.source("prefetch", &path, Some(info)) else {
                continue;
            };
            if r.mount.cached && !self.missing_pages(&src).is_empty() {
                picked.push((path, src));
            }
        }
        let mut st = self.state();
        for (path, src) in picked {
            if st.files.contains_key(&path) {
                continue;
            }
            st.queue.push((src.entry.len, Reverse(path.clone())));
            st.files.insert(path, Phase::Queued(src));
        }
    }

    /// Whether this node owns the file on the placement ring (always, with no ring).
    fn owns(&self, ns: &Namespace, info: &crate::FileInfo) -> bool {
        let owners = ns.block_owners(&info.path, 1, 1);
        let Some(owner) = owners.first() else {
            return true;
        };
        self.me().contains(owner)
    }

    /// The names this node has on the placement ring.
    fn me(&self) -> &HashSet<String> {
        self.me.get_or_init(|| match &self.settings.host {
            Some(h) => HashSet::from([h.clone()]),
            None => local_names(),
        })
    }

    /// Pages of `src` that no tier holds and none is fetching, and that a tier could keep.
    fn missing_pages(&self, src: &FileSource) -> Vec<u64> {
        let pages = src.entry.len.div_ceil(self.cache.page_size());
        (0..pages)
            .filter(|&index| {
                let id = PageId {
                    file: src.file_id,
                    index,
                };
                self.cache.can_hold(&id) && !self.cache.is_present(&id)
            })
            .collect()
    }

    /// Starts fetching queued files while the bounds allow.
    fn pump(self: &Arc<Self>) {
        let mut st = self.state();
        while st.ahead_files < self.settings.files_ahead {
            let Some((len, Reverse(path))) = st.queue.pop() else {
                break;
            };
            if st.ahead_files > 0 && st.ahead_bytes + len > self.ahead_cap {
                st.queue.push((len, Reverse(path)));
                break;
            }
            // A file a reader opened before its turn is the reader's.
            let Some(phase) = st
                .files
                .get_mut(&path)
                .filter(|p| matches!(p, Phase::Queued(_)))
            else {
                continue;
            };
            let Phase::Queued(src) = std::mem::replace(phase, Phase::Done) else {
                continue;
            };
            *phase = Phase::Fetching {
                file: src.file_id,
                len,
                opened: false,
                read: false,
            };
            st.ahead_files += 1;
            st.ahead_bytes += len;
            let me = self.clone();
            crate::runtime::handle().spawn(async move { me.fetch_file(path, src).await });
        }
    }

    async fn fetch_file(self: Arc<Self>, path: String, src: Arc<FileSource>) {
        use futures::StreamExt;
        let mine = Arc::new(Stats::default());
        let stats: StatsSet = self.stats.iter().cloned().chain([mine.clone()]).collect();
        let pages = self.missing_pages(&src);
        let results: Vec<Result<()>> = futures::stream::iter(pages)
            .map(|index| {
                let (me, src, stats) = (self.clone(), src.clone(), stats.clone());
                async move {
                    let range = me.cache.page_range(src.entry.len, index);
                    let units = (range.end - range.start)
                        .div_ceil(UNIT)
                        .clamp(1, me.units as u64) as u32;
                    let _permit = me.budget.clone().acquire_many_owned(units).await;
                    let page = me.cache.fetch(&src, index, &stats).await?;
                    if page.fits(&src) {
                        Ok(())
                    } else {
                        Err(src.changed())
                    }
                }
            })
            .buffer_unordered(PAGES_AT_ONCE)
            .collect()
            .await;
        let failed = results.into_iter().find_map(|r| r.err());
        if let Some(e) = &failed {
            tracing::debug!(path, "prefetch failed; the reader fetches the file: {e}");
        }
        let bytes = mine.bytes_from_store.load(Ordering::Relaxed);
        for s in self.stats.iter() {
            crate::bump!(prefetch_bytes, bytes, s);
        }
        let release = {
            let mut st = self.state();
            let len = src.entry.len;
            let phase = st.files.get_mut(&path);
            match phase {
                Some(phase @ Phase::Fetching { opened: true, .. }) => {
                    let read = matches!(phase, Phase::Fetching { read: true, .. });
                    *phase = Phase::Done;
                    for s in self.stats.iter() {
                        if read {
                            crate::bump!(prefetch_read_bytes, bytes, s);
                        } else {
                            crate::bump!(prefetch_unread_bytes, bytes, s);
                        }
                    }
                    false
                }
                Some(phase @ Phase::Fetching { opened: false, .. }) => {
                    for s in self.stats.iter() {
                        crate::bump!(prefetch_unread_bytes, bytes, s);
                    }
                    if failed.is_some() || bytes == 0 {
                        // Nothing of it waits in the cache for a reader: it no longer counts
                        // ahead. Bytes fetched before a failure stay counted as unread.
                        *phase = Phase::Done;
                        st.ahead_files -= 1;
                        st.ahead_bytes = st.ahead_bytes.saturating_sub(len);
                        true
                    } else {
                        *phase = Phase::Fetched {
                            file: src.file_id,
                            len,
                            bytes,
                        };
                        false
                    }
                }
                _ => false,
            }
        };
        if release {
            self.pump();
        }
    }

    /// Waits until no prefetch is queued or running (tests, benchmarks); false on timeout.
    pub fn wait_idle(&self, timeout: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + timeout;
        loop {
            {
                let st = self.state();
                let busy = st
                    .files
                    .values()
                    .any(|p| matches!(p, Phase::Fetching { .. }))
                    || (st.ahead_files < self.settings.files_ahead
                        && st.files.values().any(|p| matches!(p, Phase::Queued(_))));
                if !busy {
                    return true;
                }
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

impl Drop for Prefetcher {
    /// Logs what was fetched ahead and how much of it was read.
    fn drop(&mut self) {
        // The namespace's own counters (the first set) are this filesystem's summary.
        let Some(ns) = self.stats.first() else {
            return;
        };
        let fetched = ns.prefetch_bytes.load(Ordering::Relaxed);
        if fetched > 0 {
            let read = ns.prefetch_read_bytes.load(Ordering::Relaxed);
            let never = ns.prefetch_unread_bytes.load(Ordering::Relaxed);
            tracing::info!(
                "prefetch: {fetched} bytes fetched ahead of readers, {read} of them read \
                 ({:.1}%), {never} never read",
                100.0 * read as f64 / fetched as f64
            );
        }
    }
}

/// The directory of a Shoal path.
fn parent(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((p, _)) => p,
    }
}

/// This machine's host name (whole and its first label) and the addresses of its interfaces:
/// the names an executor can have on the placement ring (Spark names executors by address
/// unless `SPARK_LOCAL_HOSTNAME` is set).
pub fn local_names() -> HashSet<String> {
    let mut out = HashSet::new();
    let mut buf = [0u8; 256];
    // Safety: gethostname writes at most `buf.len()` bytes into `buf`.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let n = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        if let Ok(h) = std::str::from_utf8(&buf[..n]) {
            out.insert(h.to_string());
            if let Some((short, _)) = h.split_once('.') {
                out.insert(short.to_string());
            }
        }
    }
    let mut ifs: *mut libc::ifaddrs = std::ptr::null_mut();
    // Safety: getifaddrs fills a list that is read here and freed once with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut ifs) } == 0 {
        let mut p = ifs;
        while !p.is_null() {
            let (addr, next) = unsafe { ((*p).ifa_addr, (*p).ifa_next) };
            if !addr.is_null() {
                match i32::from(unsafe { (*addr).sa_family }) {
                    libc::AF_INET => {
                        let sin = unsafe { &*(addr as *const libc::sockaddr_in) };
                        out.insert(
                            std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)).to_string(),
                        );
                    }
                    libc::AF_INET6 => {
                        let sin6 = unsafe { &*(addr as *const libc::sockaddr_in6) };
                        out.insert(std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr).to_string());
                    }
                    _ => {}
                }
            }
            p = next;
        }
        unsafe { libc::freeifaddrs(ifs) };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        assert_eq!(parent("/a/b/c.jpg"), "/a/b");
        assert_eq!(parent("/c.jpg"), "/");
        assert_eq!(parent("c"), "/");
    }

    #[test]
    fn this_machine_has_names() {
        let names = local_names();
        assert!(names.contains("127.0.0.1"), "{names:?}");
    }

    #[test]
    fn settings_and_their_defaults() {
        let s = PrefetchSettings::from_config(&Config::from_pairs(Vec::<(String, String)>::new()))
            .unwrap();
        assert_eq!(s.files_ahead, DEFAULT_FILES_AHEAD);
        assert_eq!(s.max_bytes, DEFAULT_MAX_BYTES);
        assert!(s.active());
        let off = |k: &str, v: &str| {
            let c = Config::from_pairs(vec![(k.to_string(), v.to_string())]);
            PrefetchSettings::from_config(&c).unwrap().active()
        };
        assert!(!off("shoal.prefetch.enabled", "false"));
        assert!(!off("shoal.prefetch.files", "0"));
        assert!(!off("shoal.prefetch.max.bytes", "0"));
        let bad = Config::from_pairs([("shoal.prefetch.files", "-1")]);
        assert!(PrefetchSettings::from_config(&bad).is_err());
    }
}

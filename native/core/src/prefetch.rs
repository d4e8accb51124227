//! Prefetch across files: when a process starts reading the files of a directory, the files it
//! will be asked for next are fetched into the node cache ahead of the reader, several at once,
//! so that a cold epoch is bound by the link's bandwidth rather than by one round trip per file.
//!
//! Which files: those of the directory that this node owns on the placement ring (the ring
//! Spark's scheduler follows through `getFileBlockLocations`, so these are the files Spark sends
//! here); every file of it when no ring is known (local mode, FUSE, the C API). When the process
//! listed the directory itself, the whole tree it listed is taken at once: the directories
//! above it whose listings it holds, up to the highest, and every directory below that one whose
//! listing it holds (Spark's recursive listing of `train/` lists `train/` and each class
//! directory), so that the order below holds across them. In which order: largest first, the
//! order in which Spark's file sources hand out their splits (two tasks of `local[2]` read the
//! two largest files, then the next ones). A reader that reads in another order still gets every
//! byte; it fetches what it reaches first itself. A file that a reader opened before its
//! prefetch began is fetched whole as well when it has more than one page (a Parquet reader
//! reads its footer first, then its row groups); a file of one page is its reader's.
//!
//! Bounds: the bytes in flight from the stores (`shoal.prefetch.max.bytes`, taken in the order
//! of the files, so the next file's pages go before those of the files after it), the files
//! fetched ahead and not opened yet (`shoal.prefetch.files`), a quarter of the cache's capacity
//! for the bytes of those files, so prefetching never evicts what it has just fetched, and
//! `MAX_QUEUED` files waiting (the largest of a bigger tree).
//!
//! A directory the process did not list (an executor whose driver listed) is listed on a thread
//! of its own when its second file is opened; its files are queued at the next open after the
//! listing arrived, so no reader waits for a listing it did not ask for.
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
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use crate::cache::{FileSource, PageCache, PageId, StatsSet};
use crate::config::Config;
use crate::error::Result;
use crate::namespace::{FileInfo, Namespace};
use crate::stats::Stats;

/// Files fetched ahead and not opened yet, at most.
pub const DEFAULT_FILES_AHEAD: usize = 64;
/// Bytes in flight from the stores for prefetching, at most (per filesystem instance).
pub const DEFAULT_MAX_BYTES: u64 = 32 << 20;
/// `shoal.block.size`'s default, as the Hadoop FileSystem's (`getFileBlockLocations`).
pub const DEFAULT_BLOCK_SIZE: u64 = 128 << 20;
/// The bytes in flight are counted in units of this size (semaphore permits).
const UNIT: u64 = 1024;
/// Files waiting for their turn, at most: the largest of a bigger tree are kept.
pub const MAX_QUEUED: usize = 1 << 16;
/// Directories of a listed tree looked at, at most, when its prefetch starts.
const MAX_TREE_DIRS: usize = 4096;

/// `shoal.prefetch.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefetchSettings {
    pub enabled: bool,
    pub files_ahead: usize,
    pub max_bytes: u64,
    /// The name this node has on the placement ring; its host names and addresses when unset.
    pub host: Option<String>,
    /// `shoal.block.size`: the blocks of a large file are placed on the ring one by one.
    pub block_size: u64,
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
            block_size: c.get_size("shoal.block.size", DEFAULT_BLOCK_SIZE)?.max(1),
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
    /// Waiting for its turn; `opened` (the version a reader opened) when a reader had opened
    /// it before it was queued.
    Queued {
        src: Arc<FileSource>,
        opened: Option<u128>,
        blocks: Option<Arc<[Range<u64>]>>,
    },
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
    /// Directories of which one file was opened (that one, and the version opened), whose
    /// listing was not at hand.
    opened_once: HashMap<String, (String, u128)>,
    /// Directories being listed in the background, and the files opened in them meanwhile
    /// (with the version opened).
    listing: HashMap<String, HashMap<String, u128>>,
    /// Listings made in the background, to be queued at the next open (where the namespace is
    /// at hand): the directory's files and the files opened in it before.
    listed: Vec<(Vec<FileInfo>, HashMap<String, u128>)>,
    files: HashMap<String, Phase>,
    /// Files to fetch, largest first.
    queue: BinaryHeap<(u64, Reverse<String>)>,
    /// Files being fetched or fetched ahead, not opened yet, and their length.
    ahead_files: usize,
    ahead_bytes: u64,
    /// The turn the next file started gets (see `Prefetcher::admitted`).
    next_turn: u64,
    /// Readers queueing files now (outside the lock), and the files other readers opened
    /// meanwhile, which those count as opened.
    queueing: usize,
    opened_meanwhile: HashMap<String, u128>,
}

/// The prefetcher of one namespace (one filesystem instance).
pub struct Prefetcher {
    settings: PrefetchSettings,
    cache: Arc<PageCache>,
    /// The namespace's counters and the process's.
    stats: StatsSet,
    /// Bytes in flight, in `UNIT`s.
    budget: Arc<tokio::sync::Semaphore>,
    /// The files started so far whose pages have all taken their share of `budget`: files take
    /// it in turn, in the order they were started (largest first), so the next file's pages go
    /// before those of the files after it.
    admitted: tokio::sync::watch::Sender<u64>,
    units: u32,
    /// The most bytes of files ahead: a quarter of the cache.
    ahead_cap: u64,
    /// This node's names on the placement ring.
    me: OnceLock<HashSet<String>>,
    state: Mutex<State>,
}

debug_shows!(Prefetcher, "Prefetcher", |p| { "settings": p.settings });

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
            admitted: tokio::sync::watch::Sender::new(0),
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
    /// (the process listed it) starts the prefetch of the tree the process listed; opening a
    /// second file of a directory it did not list starts a listing of it in the background,
    /// whose files are queued at the next open. One file read alone costs nothing more.
    pub fn opened(self: &Arc<Self>, ns: &Namespace, path: &str, src: &FileSource) {
        let dir = parent(path);
        // A node that is on no placement ring's list of hosts is sent no file of it: nothing to
        // fetch ahead, so not even a listing.
        let on_ring = ns.on_placement_ring(self.me());
        let mut listed = None;
        let mut list = None;
        let ready = {
            let mut st = self.state();
            self.note_open(&mut st, path, src);
            if let Some(opened) = st.listing.get_mut(dir) {
                opened.insert(path.to_string(), src.file_id);
            }
            if st.queueing > 0 && !st.files.contains_key(path) {
                st.opened_meanwhile.insert(path.to_string(), src.file_id);
            }
            if !on_ring || st.dirs.contains(dir) {
            } else if let Some(l) = ns.cached_listing(dir) {
                st.dirs.insert(dir.to_string());
                listed = Some(l);
            } else {
                match st.opened_once.get(dir) {
                    // The same file again is not reading the directory.
                    Some((first, _)) if first == path => {}
                    Some(_) => {
                        let first = st.opened_once.remove(dir).unwrap_or_default();
                        st.dirs.insert(dir.to_string());
                        let opened = HashMap::from([(path.to_string(), src.file_id), first]);
                        st.listing.insert(dir.to_string(), opened);
                        list = Some(dir.to_string());
                    }
                    None => {
                        st.opened_once
                            .insert(dir.to_string(), (path.to_string(), src.file_id));
                    }
                }
            }
            let ready = std::mem::take(&mut st.listed);
            if !ready.is_empty() || listed.is_some() {
                st.queueing += 1;
            }
            ready
        };
        let queueing = !ready.is_empty() || listed.is_some();
        for (files, mut opened) in ready {
            opened.insert(path.to_string(), src.file_id);
            self.queue(ns, files, &opened);
        }
        if let Some(first) = listed {
            let files = self.listed_tree(ns, dir, first);
            self.queue(ns, files, &HashMap::from([(path.to_string(), src.file_id)]));
        }
        if queueing {
            let mut st = self.state();
            st.queueing -= 1;
            if st.queueing == 0 {
                st.opened_meanwhile.clear();
            }
        }
        if let Some(dir) = list {
            let me = Arc::downgrade(self);
            let d = dir.clone();
            let started = ns.list_in_background(&dir, move |listed| {
                let Some(me) = me.upgrade() else {
                    return;
                };
                let mut st = me.state();
                let opened = st.listing.remove(&d).unwrap_or_default();
                match listed {
                    Ok(files) => st.listed.push((files, opened)),
                    Err(e) => tracing::debug!(dir = d, "no prefetch: not listed: {e}"),
                }
            });
            if !started {
                // A listing of it runs already (or no thread could start): a later open
                // tries again.
                let mut st = self.state();
                st.listing.remove(&dir);
                st.dirs.remove(&dir);
            }
        }
        self.pump();
    }

    fn note_open(&self, st: &mut State, path: &str, src: &FileSource) {
        let Some(phase) = st.files.get_mut(path) else {
            return;
        };
        match phase {
            // The reader got there first: it fetches the file itself.
            Phase::Queued { opened: None, .. } => *phase = Phase::Done,
            Phase::Queued { opened, .. } => *opened = Some(src.file_id),
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

    /// The files of the tree the process listed around `dir` (whose listing is `first`): from
    /// the highest directory above it whose listing the metadata cache holds and that lists
    /// the one below, every directory under that one whose listing it holds. No request.
    fn listed_tree(&self, ns: &Namespace, dir: &str, first: Vec<FileInfo>) -> Vec<FileInfo> {
        let (mut top, mut listing) = (dir.to_string(), first);
        loop {
            let up = parent(&top);
            if up == top {
                break;
            }
            match ns.cached_listing(up) {
                Some(l) if l.iter().any(|e| e.is_dir && e.path == top) => {
                    top = up.to_string();
                    listing = l;
                }
                _ => break,
            }
        }
        self.state().dirs.insert(top);
        let mut files = Vec::new();
        let mut below = Vec::new();
        let mut seen = 1;
        loop {
            for e in listing {
                if !e.is_dir {
                    files.push(e);
                } else if seen < MAX_TREE_DIRS {
                    seen += 1;
                    below.push(e.path);
                }
            }
            let Some(next) = below.pop() else {
                break;
            };
            listing = match ns.cached_listing(&next) {
                Some(l) => {
                    self.state().dirs.insert(next);
                    l
                }
                None => Vec::new(),
            };
        }
        files
    }

    /// Queues the files this node owns, largest first (at most `MAX_QUEUED` of them waiting);
    /// `opened`: files a reader opened already, with the version it opened. Whether the cache
    /// holds them already is looked at when their turn comes, off the reader's thread.
    fn queue(&self, ns: &Namespace, mut files: Vec<FileInfo>, opened: &HashMap<String, u128>) {
        let page = self.cache.page_size();
        files.retain(|f| {
            // A file of one page that a reader opened is being fetched by that reader.
            let mine = !opened.contains_key(&f.path) || f.len > page;
            !f.is_dir && f.len > 0 && mine
        });
        let room = MAX_QUEUED.saturating_sub(self.state().queue.len());
        if files.len() > room {
            files.select_nth_unstable_by(room.saturating_sub(1), |a, b| b.len.cmp(&a.len));
            files.truncate(room);
        }
        let mut picked = Vec::new();
        for info in files {
            let Some(blocks) = self.owned(ns, &info) else {
                continue;
            };
            let path = info.path.clone();
            let Ok((r, src)) = ns.source("prefetch", &path, Some(info)) else {
                continue;
            };
            if r.mount.cached {
                picked.push((path, src, blocks));
            }
        }
        let mut st = self.state();
        for (path, src, blocks) in picked {
            if st.files.contains_key(&path) {
                continue;
            }
            st.queue.push((src.entry.len, Reverse(path.clone())));
            // Opened by this reader, or by another one while this one was queueing.
            let opened = opened
                .get(&path)
                .or_else(|| st.opened_meanwhile.get(&path))
                .copied();
            st.files.insert(
                path,
                Phase::Queued {
                    src,
                    opened,
                    blocks,
                },
            );
        }
    }

    /// The parts of a file this node owns on the placement ring: `None` when it owns no block
    /// of it, `Some(None)` for all of it (always, with no ring), else the byte ranges of the
    /// blocks it owns (a large file's blocks are placed one by one, and Spark sends the task
    /// reading each block to the block's owner).
    fn owned(&self, ns: &Namespace, info: &FileInfo) -> Option<Option<Arc<[Range<u64>]>>> {
        let bs = self.settings.block_size;
        let owners = ns.block_owners(&info.path, info.len, bs);
        if owners.is_empty() {
            return Some(None);
        }
        let me = self.me();
        let mine: Vec<Range<u64>> = (0..owners.len() as u64)
            .filter(|b| me.contains(&owners[*b as usize]))
            .map(|b| b * bs..((b + 1) * bs).min(info.len))
            .collect();
        match mine.len() {
            0 => None,
            n if n == owners.len() => Some(None),
            _ => Some(Some(mine.into())),
        }
    }

    /// The names this node has on the placement ring.
    fn me(&self) -> &HashSet<String> {
        self.me.get_or_init(|| match &self.settings.host {
            Some(h) => HashSet::from([h.clone()]),
            None => local_names(),
        })
    }

    /// Pages of `src` (of its `blocks` only, when given) that no tier holds and none is
    /// fetching, and that a tier could keep.
    fn missing_pages(&self, src: &FileSource, blocks: Option<&[Range<u64>]>) -> Vec<u64> {
        let ps = self.cache.page_size();
        let pages = src.entry.len.div_ceil(ps);
        (0..pages)
            .filter(|&index| {
                blocks.is_none_or(|b| {
                    b.iter()
                        .any(|r| r.start < (index + 1) * ps && index * ps < r.end)
                })
            })
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
                .filter(|p| matches!(p, Phase::Queued { .. }))
            else {
                continue;
            };
            let Phase::Queued {
                src,
                opened,
                blocks,
            } = std::mem::replace(phase, Phase::Done)
            else {
                continue;
            };
            // One its reader opened first is not ahead of it.
            *phase = Phase::Fetching {
                file: src.file_id,
                len,
                opened: opened.is_some(),
                read: opened == Some(src.file_id),
            };
            if opened.is_none() {
                st.ahead_files += 1;
                st.ahead_bytes += len;
            }
            let turn = st.next_turn;
            st.next_turn += 1;
            let me = self.clone();
            crate::runtime::handle()
                .spawn(async move { me.fetch_file(path, src, blocks, turn).await });
        }
    }

    async fn fetch_file(
        self: Arc<Self>,
        path: String,
        src: Arc<FileSource>,
        blocks: Option<Arc<[Range<u64>]>>,
        turn: u64,
    ) {
        let mine = Arc::new(Stats::default());
        let stats: StatsSet = self.stats.iter().cloned().chain([mine.clone()]).collect();
        let mut results: Vec<Result<()>> = Vec::new();
        {
            // This file's turn: its pages take the byte bound after those of the files started
            // before it, and before those of the files after it.
            let _ = self.admitted.subscribe().wait_for(|a| *a >= turn).await;
            let _next = Turn(&self.admitted, turn);
            let mut pages = Vec::new();
            for index in self.missing_pages(&src, blocks.as_deref()) {
                let range = self.cache.page_range(src.entry.len, index);
                let units = (range.end - range.start)
                    .div_ceil(UNIT)
                    .clamp(1, self.units as u64) as u32;
                let Ok(permit) = self.budget.clone().acquire_many_owned(units).await else {
                    break;
                };
                let page = self.cache.fetch(&src, index, &stats);
                pages.push(crate::runtime::handle().spawn(async move {
                    let page = page.await;
                    drop(permit);
                    page
                }));
            }
            drop(_next);
            for p in pages {
                results.push(match p.await {
                    Ok(Ok(page)) if page.fits(&src) => Ok(()),
                    Ok(Ok(_)) => Err(src.changed()),
                    Ok(Err(e)) => Err(e),
                    Err(e) => Err(crate::Error::new(
                        crate::ErrorKind::Other,
                        format!("prefetch task: {e}"),
                    )),
                });
            }
        }
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
                    || !st.listing.is_empty()
                    || (st.ahead_files < self.settings.files_ahead
                        && st.files.values().any(|p| matches!(p, Phase::Queued { .. })));
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

/// A file's turn to take the byte bound; the next file's comes when it is dropped (all its pages
/// have their share, or its task ended early).
struct Turn<'a>(&'a tokio::sync::watch::Sender<u64>, u64);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let next = self.1 + 1;
        self.0.send_modify(|a| *a = (*a).max(next));
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

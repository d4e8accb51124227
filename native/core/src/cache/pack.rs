//! Small objects packed many to a file (`shoal.cache.pack.max.object`).
//!
//! A dataset of a million small objects would otherwise be a million page files: a million
//! inodes and directory entries in the kernel's caches, and an `open`, `fstat` and `close` for
//! every object read. Packed, an object smaller than its page (the whole object is one page,
//! of index 0) and not larger than `shoal.cache.pack.max.object` is appended to a pack of its
//! layout directory instead, and read through the pack's one open handle.
//!
//! ```text
//! <dir>/v2/<aa>/pack-<16 hex>   entries, appended by one process (the one that made the pack)
//!                               until it holds PACK_BYTES:
//!   0   magic "SHOALPE1"                                  8 bytes
//!   8   entry length (this head included)                 u32 LE
//!   12  crc32c of bytes 0..12                             u32 LE
//!   16  the page, encoded as a page file is (`page_file`: data, chunk checksums, trailer)
//! <dir>/v2/<aa>/packs.idx       where each packed page is: a 48-byte head (magic "SPKI", at 8
//!                               the index's generation, a random u64, at 44 the crc32c of
//!                               bytes 0..44), then 48-byte records appended under a lock by
//!                               every process that packs or drops a page of the leaf:
//!   0   magic "SPK1"                                      4 bytes
//!   4   page size the page was cut with (0: dropped)       u32 LE
//!   8   file identity                                     16
//!   24  pack id (0: dropped)                               u64 LE
//!   32  offset of the entry in the pack                    u64 LE
//!   40  entry length                                       u32 LE
//!   44  crc32c of bytes 0..44                             u32 LE
//! ```
//!
//! A process reads a leaf's index on its first lookup there and afterwards only what was
//! appended since (one `stat` of the index when a page is not found in what it read; an index
//! whose inode, length or mtime moved has its generation read, and one of another generation
//! is read whole: a new index may reuse the inode and the length of one removed): its
//! memory is about 90 bytes per packed page of the leaves it reads. Nothing is trusted that a
//! page's own trailer does not confirm: a record leads to an entry whose trailer must name the
//! page, its page size and its length, and whose chunks must match their checksums, as for a
//! page file; a record that leads nowhere (its pack was evicted) is a miss, a torn record is
//! skipped. A pack is never changed where it was written, only appended to and removed.
//!
//! A pack is the unit of eviction: its mtime is its recency and its segment, refreshed by a hit
//! on any of its pages (`evict`). Freeing a packed object (`free`, a corrupt entry) appends a
//! drop record, so that no process reads it again; its bytes are given back when its pack is
//! evicted. The janitor rewrites a leaf's index without the records of removed packs after it
//! evicts there and when it reconciles, so that the index and what processes hold of it stay
//! in proportion to what is cached. Processes whose packing settings differ do not read each
//! other's packs (as with page sizes); an earlier Shoal version removes packs as files it does not
//! know, which costs a fetch again and never a wrong byte.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind as IoKind, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::disk::{allocated, hit_stamp, new_file, open_for_reading, DiskDir, TOUCH_EVERY};
use super::evict::{self, Segment};
use super::open_pages::{stale_mtime, OpenPage};
use super::page_file::{self, PageId};
use super::trust;
use crate::error::{Error, ErrorKind, Result};

/// The index of a layout directory's packs.
pub const INDEX: &str = "packs.idx";
/// Pack file names: this, then the pack's id in 16 hex digits.
pub const PREFIX: &str = "pack-";
/// A pack takes no more entries once it holds this many bytes: the unit of eviction.
pub const PACK_BYTES: u64 = 4 << 20;
/// The largest `shoal.cache.pack.max.object`.
pub const MAX_OBJECT: u64 = 1 << 20;
/// The default `shoal.cache.pack.max.object`.
pub const DEFAULT_MAX_OBJECT: u64 = 256 << 10;
const HEAD: u64 = 16;
const ENTRY_MAGIC: &[u8; 8] = b"SHOALPE1";
const RECORD: usize = 48;
const RECORD_MAGIC: &[u8; 4] = b"SPK1";
const INDEX_MAGIC: &[u8; 4] = b"SPKI";
/// Packs this process keeps open to open pages from (a page's own handle keeps its pack open
/// as long as it lives, see `open_pages`).
const HANDLES: usize = 256;
/// The index is read in pieces of this size.
const READ_PIECE: usize = 1 << 20;

/// Where a packed page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub pack: u64,
    pub off: u32,
    pub len: u32,
    pub page_size: u32,
}

impl Loc {
    /// Where the page's encoding starts.
    fn base(&self) -> u64 {
        self.off as u64 + HEAD
    }

    fn encoded(&self) -> u64 {
        (self.len as u64).saturating_sub(HEAD)
    }
}

/// What this process knows of one layout directory's packs.
#[derive(Debug, Default)]
struct Leaf {
    /// Where each packed page of the leaf is, as far as the index was read.
    map: HashMap<u128, Loc>,
    /// The index as it was when last read: inode, mtime and generation (a rewrite replaces
    /// it), and how far it was read.
    ino: u64,
    mtime_ns: i128,
    generation: u64,
    read_to: u64,
    /// How many pages of `map` each pack holds.
    live: HashMap<u64, u32>,
    /// The pack this process appends to.
    active: Option<Active>,
}

impl Leaf {
    fn put(&mut self, file: u128, loc: Loc) {
        if let Some(old) = self.map.insert(file, loc) {
            self.unlive(old.pack);
        }
        *self.live.entry(loc.pack).or_default() += 1;
    }

    fn take(&mut self, file: u128) -> Option<Loc> {
        let loc = self.map.remove(&file)?;
        self.unlive(loc.pack);
        Some(loc)
    }

    fn unlive(&mut self, pack: u64) {
        if let Some(n) = self.live.get_mut(&pack) {
            *n -= 1;
            if *n == 0 {
                self.live.remove(&pack);
            }
        }
    }

    /// Forgets where a page was, if it was there (its pack was found removed).
    fn forget(&mut self, file: u128, loc: Loc) {
        if self.map.get(&file) == Some(&loc) {
            self.take(file);
        }
    }

    fn holds(&self, pack: u64) -> bool {
        self.live.contains_key(&pack)
    }
}

#[derive(Debug)]
struct Active {
    id: u64,
    file: Arc<File>,
    end: u64,
}

/// The packs of one cache directory, as this process knows them.
#[derive(Debug)]
pub struct Packs {
    max_object: u64,
    leaves: Box<[Mutex<Leaf>]>,
    handles: Mutex<HashMap<u64, Arc<File>>>,
    id_base: u64,
    seq: AtomicU64,
}

impl Packs {
    pub fn new(max_object: u64) -> Self {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mut seed = Vec::with_capacity(32);
        seed.extend_from_slice(&now.to_le_bytes());
        seed.extend_from_slice(&std::process::id().to_le_bytes());
        seed.extend_from_slice(&(&seed as *const _ as usize).to_le_bytes());
        Packs {
            max_object: max_object.min(MAX_OBJECT),
            leaves: (0..256).map(|_| Mutex::default()).collect(),
            handles: Mutex::new(HashMap::new()),
            id_base: xxhash_rust::xxh3::xxh3_64(&seed),
            seq: AtomicU64::new(0),
        }
    }

    /// Whether a page of `len` bytes at `index`, with pages of `page_size`, is packed: the
    /// whole of a small object.
    fn packs(&self, index: u64, len: u64, page_size: u32) -> bool {
        index == 0 && len < page_size as u64 && len <= self.max_object
    }

    fn leaf(&self, file: u128) -> MutexGuard<'_, Leaf> {
        self.leaves[leaf_index(file)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn next_id(&self) -> u64 {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.id_base.to_le_bytes());
        b[8..].copy_from_slice(&n.to_le_bytes());
        xxhash_rust::xxh3::xxh3_64(&b).max(1)
    }

    fn handle(&self, id: u64) -> Option<Arc<File>> {
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    fn keep_handle(&self, id: u64, f: Arc<File>) {
        let mut h = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() >= HANDLES {
            h.clear();
        }
        h.insert(id, f);
    }

    fn drop_handle(&self, id: u64) {
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

/// The layout directory (0..256) of a file's pages: its id's first two hex digits.
fn leaf_index(file: u128) -> usize {
    (file >> 120) as usize
}

/// A pack's id from its file name.
pub fn pack_id(p: &Path) -> Option<u64> {
    let name = p.file_name()?.to_str()?;
    let hex = name.strip_prefix(PREFIX)?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

fn pack_name(id: u64) -> String {
    format!("{PREFIX}{id:016x}")
}

fn record(file: u128, loc: Option<Loc>) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0..4].copy_from_slice(RECORD_MAGIC);
    r[8..24].copy_from_slice(&file.to_le_bytes());
    if let Some(l) = loc {
        r[4..8].copy_from_slice(&l.page_size.to_le_bytes());
        r[24..32].copy_from_slice(&l.pack.to_le_bytes());
        r[32..40].copy_from_slice(&(l.off as u64).to_le_bytes());
        r[40..44].copy_from_slice(&l.len.to_le_bytes());
    }
    let crc = crc32c::crc32c(&r[0..44]);
    r[44..48].copy_from_slice(&crc.to_le_bytes());
    r
}

fn valid(r: &[u8]) -> bool {
    &r[0..4] == RECORD_MAGIC
        && crc32c::crc32c(&r[0..44]) == u32::from_le_bytes(r[44..48].try_into().unwrap())
}

/// Applies the whole records of `buf` (a put, or a drop: `None`) in order; returns the bytes
/// consumed. A record that does not check out is skipped a byte at a time (a writer died in
/// the middle of it), unless it may be one still being appended (it starts right and no whole
/// record follows it): then reading stops before it.
fn parse_records(buf: &[u8], mut apply: impl FnMut(u128, Option<Loc>)) -> usize {
    let mut at = 0;
    while buf.len() - at >= RECORD {
        let r = &buf[at..at + RECORD];
        let u32_at = |i: usize| u32::from_le_bytes(r[i..i + 4].try_into().unwrap());
        let u64_at = |i: usize| u64::from_le_bytes(r[i..i + 8].try_into().unwrap());
        let starts = &r[0..4] == RECORD_MAGIC;
        if valid(r) {
            let file = u128::from_le_bytes(r[8..24].try_into().unwrap());
            let pack = u64_at(24);
            let off = u64_at(32);
            let loc = (pack != 0 && off <= u32::MAX as u64).then(|| Loc {
                pack,
                off: off as u32,
                len: u32_at(40),
                page_size: u32_at(4),
            });
            apply(file, loc);
            at += RECORD;
        } else if starts
            && !(at + 1..=(at + RECORD).min(buf.len() - RECORD)).any(|j| valid(&buf[j..j + RECORD]))
        {
            // A record after a torn one starts within a record's length of it.
            break;
        } else {
            at += 1;
        }
    }
    at
}

/// The head of an index of `generation`.
fn index_head(generation: u64) -> [u8; RECORD] {
    let mut h = [0u8; RECORD];
    h[0..4].copy_from_slice(INDEX_MAGIC);
    h[8..16].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..44]);
    h[44..48].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The generation an index's head gives; `None` for a head that does not check out.
fn index_generation(h: &[u8]) -> Option<u64> {
    (h.len() >= RECORD
        && &h[0..4] == INDEX_MAGIC
        && crc32c::crc32c(&h[0..44]) == u32::from_le_bytes(h[44..48].try_into().unwrap()))
    .then(|| u64::from_le_bytes(h[8..16].try_into().unwrap()))
}

fn mtime_ns(m: &fs::Metadata) -> i128 {
    m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128
}

/// Applies the records of an index from `from` to its end, read in pieces; returns the bytes
/// of whole records consumed (a read error ends it early).
fn read_records(f: &File, from: u64, mut apply: impl FnMut(u128, Option<Loc>)) -> u64 {
    let (mut at, mut consumed) = (from, 0u64);
    let mut carry: Vec<u8> = Vec::new();
    let mut piece = vec![0u8; READ_PIECE];
    while let Ok(n) = crate::pread::read_full_at(f, &mut piece, at) {
        if n == 0 {
            break;
        }
        at += n as u64;
        carry.extend_from_slice(&piece[..n]);
        let used = parse_records(&carry, &mut apply);
        consumed += used as u64;
        carry.drain(..used);
        if n < piece.len() {
            break;
        }
    }
    consumed
}

fn entry_head(len: u32) -> [u8; HEAD as usize] {
    let mut h = [0u8; HEAD as usize];
    h[0..8].copy_from_slice(ENTRY_MAGIC);
    h[8..12].copy_from_slice(&len.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..12]);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

fn corrupt(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Corrupt, msg)
}

/// Verifies every entry of a pack on its own (`shoal cache verify`); returns how many. An
/// entry cut short at the end is an append its process did not finish (it died): no record
/// leads to it, and it is not counted as damage.
pub fn verify_pack(file: &File) -> Result<u64> {
    let size = file.metadata()?.len();
    let (mut at, mut n) = (0u64, 0u64);
    while at < size {
        let mut h = [0u8; HEAD as usize];
        if crate::pread::read_full_at(file, &mut h, at)? < h.len() {
            break;
        }
        let len = u32::from_le_bytes(h[8..12].try_into().unwrap()) as u64;
        if &h[0..8] != ENTRY_MAGIC
            || crc32c::crc32c(&h[0..12]) != u32::from_le_bytes(h[12..16].try_into().unwrap())
            || len <= HEAD
        {
            return Err(corrupt(format!("pack entry at {at} has a bad head")));
        }
        if at + len > size {
            break;
        }
        page_file::verify_at(file, at + HEAD, len - HEAD)?;
        at += len;
        n += 1;
    }
    Ok(n)
}

impl DiskDir {
    fn leaf_dir(&self, file: u128) -> PathBuf {
        self.root().join(format!("{:02x}", leaf_index(file)))
    }

    /// Reads what was appended to the leaf's index since this process last looked (all of it
    /// when the index is another one than it read: rewritten, or removed and made anew). A
    /// missing index, or one that is not a private file or whose head does not check out,
    /// holds nothing.
    fn refresh(&self, file: u128, leaf: &mut Leaf) {
        let path = self.leaf_dir(file).join(INDEX);
        let reset = |leaf: &mut Leaf| {
            leaf.map = HashMap::new();
            leaf.live = HashMap::new();
            leaf.ino = 0;
            leaf.mtime_ns = 0;
            leaf.generation = 0;
            leaf.read_to = 0;
        };
        let m = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() && trust::not_private(&m).is_none() => m,
            _ => {
                if leaf.ino != 0 {
                    reset(leaf);
                }
                return;
            }
        };
        if (m.ino(), mtime_ns(&m), m.len()) == (leaf.ino, leaf.mtime_ns, leaf.read_to) {
            return; // nothing appended since
        }
        let Ok(f) = open_for_reading(&path) else {
            return;
        };
        if !f.metadata().is_ok_and(|fm| fm.ino() == m.ino()) {
            return;
        }
        let mut head = [0u8; RECORD];
        let generation = match crate::pread::read_full_at(&f, &mut head, 0) {
            Ok(RECORD) => index_generation(&head),
            _ => None,
        };
        let Some(generation) = generation else {
            reset(leaf);
            return;
        };
        if generation != leaf.generation || m.ino() != leaf.ino || m.len() < leaf.read_to {
            reset(leaf);
            leaf.generation = generation;
            leaf.read_to = RECORD as u64;
        }
        leaf.ino = m.ino();
        // What is appended after this `stat` is read now or, by its new mtime, next time.
        leaf.mtime_ns = mtime_ns(&m);
        let from = leaf.read_to;
        let used = read_records(&f, from, |file, loc| match loc {
            Some(l) => leaf.put(file, l),
            None => {
                leaf.take(file);
            }
        });
        leaf.read_to = from + used;
    }

    /// Where a packed page is, reading the index's news first when `fresh` or when this process
    /// does not know the page yet.
    fn locate(&self, file: u128, leaf: &mut Leaf, fresh: bool) -> Option<Loc> {
        let known = leaf.map.get(&file).copied();
        let loc = if fresh || known.is_none() {
            self.refresh(file, leaf);
            leaf.map.get(&file).copied()
        } else {
            known
        };
        loc.filter(|l| l.page_size == self.page_size() && l.len as u64 > HEAD)
    }

    fn pack_path(&self, file: u128, pack: u64) -> PathBuf {
        self.leaf_dir(file).join(pack_name(pack))
    }

    /// The open pack, from this process's handles or opened now (`None`: it was removed).
    fn open_pack(&self, packs: &Packs, file: u128, pack: u64) -> Result<Option<Arc<File>>> {
        if let Some(f) = packs.handle(pack) {
            return Ok(Some(f));
        }
        let f = match open_for_reading(&self.pack_path(file, pack)) {
            Ok(f) => f,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(corrupt("a symbolic link where a pack should be"))
            }
            Err(e) => return Err(e.into()),
        };
        let m = f.metadata()?;
        if !m.is_file() {
            return Err(corrupt("a pack is not a file"));
        }
        if let Some(why) = trust::not_private(&m) {
            return Err(corrupt(format!(
                "a pack is not private to this user: {why}"
            )));
        }
        let f = Arc::new(f);
        packs.keep_handle(pack, f.clone());
        Ok(Some(f))
    }

    /// The open handle of a packed page, its trailer checked; `None` when the page is not
    /// packed (or packing is off, or its pack was evicted).
    pub(super) fn packed_page(
        &self,
        id: PageId,
        page_len: u32,
        removals: u64,
    ) -> Result<Option<Arc<OpenPage>>> {
        let Some(packs) = self.packs() else {
            return Ok(None);
        };
        if !packs.packs(id.index, page_len as u64, self.page_size()) {
            return Ok(None);
        }
        let mut leaf = packs.leaf(id.file);
        let mut fresh = false;
        let (loc, file, mut meta) = loop {
            let Some(loc) = self.locate(id.file, &mut leaf, fresh) else {
                return Ok(None);
            };
            if let Some(file) = self.open_pack(packs, id.file, loc.pack)? {
                let meta = file.metadata()?;
                if meta.nlink() > 0 {
                    break (loc, file, meta);
                }
            }
            // Its pack was removed (evicted, or freed with its last page): the page may have
            // been packed again since, which only the index's news say.
            leaf.forget(id.file, loc);
            packs.drop_handle(loc.pack);
            if fresh {
                return Ok(None);
            }
            fresh = true;
        };
        drop(leaf);
        let header =
            page_file::read_header_at(&file, loc.base(), loc.encoded(), self.expect(id, page_len))?;
        if stale_mtime(&meta, TOUCH_EVERY) && file.set_modified(hit_stamp()).is_ok() {
            meta = file.metadata()?;
        }
        Ok(Some(self.open_pages().insert(
            id,
            OpenPage::new(file, &meta, header),
            removals,
        )))
    }

    /// Whether a kept handle of a packed page still reads what the index says the page is
    /// (not dropped, its pack not removed); marks it checked and refreshes the pack's recency.
    pub(super) fn packed_recheck(
        &self,
        p: &OpenPage,
        id: PageId,
        page_len: u32,
        removals: u64,
    ) -> bool {
        let Some(packs) = self.packs() else {
            return false;
        };
        let loc = {
            let mut leaf = packs.leaf(id.file);
            self.locate(id.file, &mut leaf, true)
        };
        let Some(loc) = loc else {
            return false;
        };
        if loc.base() != p.header.base || p.header.len != page_len {
            return false;
        }
        match fs::symlink_metadata(self.pack_path(id.file, loc.pack)) {
            Ok(m) if p.same_file(&m) => {
                self.open_pages().checked(p, &m, removals);
                if stale_mtime(&m, TOUCH_EVERY) && p.file.set_modified(hit_stamp()).is_ok() {
                    if let Ok(m) = p.file.metadata() {
                        p.touched(&m);
                    }
                }
                true
            }
            _ => false,
        }
    }

    /// Whether the page is packed and its pack is there.
    pub(super) fn has_packed(&self, id: PageId) -> bool {
        let Some(packs) = self.packs() else {
            return false;
        };
        if id.index != 0 {
            return false;
        }
        let mut leaf = packs.leaf(id.file);
        for fresh in [false, true] {
            let Some(loc) = self.locate(id.file, &mut leaf, fresh) else {
                return false;
            };
            if fs::symlink_metadata(self.pack_path(id.file, loc.pack)).is_ok() {
                return true;
            }
            // Its pack was removed; the page may have been packed again since.
            leaf.forget(id.file, loc);
        }
        false
    }

    /// Packs an encoded page (given in parts) when it is the whole of a small object: `None`
    /// when it is not one to pack, else whether it was cached.
    pub(super) fn write_packed(self: &Arc<Self>, id: PageId, parts: &[&[u8]]) -> Option<bool> {
        let packs = self.packs()?;
        let encoded: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let chunk = page_file::chunk_size_for(self.page_size() as u64);
        // The data length: the largest whose encoding fits (the encoding grows with it).
        let data = data_len(encoded, chunk)?;
        if !packs.packs(id.index, data, self.page_size()) {
            return None;
        }
        if !self.writable() {
            return Some(false);
        }
        let len = HEAD + encoded;
        let mut leaf = packs.leaf(id.file);
        let (pack, file, at) = match self.active_pack(packs, id.file, &mut leaf, len) {
            Ok(a) => a,
            Err(e) => {
                self.turn_off_writes(&e.to_string());
                return Some(false);
            }
        };
        let grow = self.alloc(at + len) - self.alloc(at);
        match self.reserve(grow) {
            Ok(true) => {}
            Ok(false) => {
                drop(leaf);
                self.start_janitor(true);
                return Some(false);
            }
            Err(e) => {
                self.turn_off_writes(&format!("cannot update its usage file: {e}"));
                return Some(false);
            }
        }
        let mut buf = Vec::with_capacity(len as usize);
        buf.extend_from_slice(&entry_head(len as u32));
        parts.iter().for_each(|p| buf.extend_from_slice(p));
        let loc = Loc {
            pack,
            off: at as u32,
            len: len as u32,
            page_size: self.page_size(),
        };
        // Appending moves the mtime, which records the pack's segment: keep it (a new pack is
        // on probation; one of its pages hit is protected).
        let written = file.metadata().and_then(|m| {
            let segment = m
                .modified()
                .map(evict::segment)
                .unwrap_or(Segment::Probation);
            file.write_all_at(&buf, at)?;
            file.set_modified(evict::stamp(SystemTime::now(), segment))
        });
        if let Err(e) = written {
            leaf.active = None;
            self.give_back(grow);
            self.turn_off_writes(&e.to_string());
            return Some(false);
        }
        if let Some(a) = leaf.active.as_mut() {
            a.end = at + len;
        }
        if let Err(e) = self.append_record(id.file, &record(id.file, Some(loc))) {
            // The entry stays in the pack, unreachable, until the pack is evicted.
            self.turn_off_writes(&format!("cannot write the index of packs: {e}"));
            return Some(false);
        }
        leaf.put(id.file, loc);
        // A page of another ETag it replaces is not read through an old handle.
        self.open_pages().remove(&id);
        Some(true)
    }

    /// The pack to append `len` bytes to: this process's pack of the leaf when it has room
    /// and is still there, else a new one. Returns its id, file and where to append.
    fn active_pack(
        &self,
        packs: &Packs,
        file: u128,
        leaf: &mut Leaf,
        len: u64,
    ) -> std::io::Result<(u64, Arc<File>, u64)> {
        if let Some(a) = &leaf.active {
            let live = a.file.metadata().is_ok_and(|m| m.nlink() > 0);
            if live && a.end + len <= PACK_BYTES.max(len) {
                return Ok((a.id, a.file.clone(), a.end));
            }
        }
        leaf.active = None;
        let dir = self.leaf_dir(file);
        self.make_leaf(&dir)?;
        for _ in 0..4 {
            let id = packs.next_id();
            let path = dir.join(pack_name(id));
            let f = match new_file(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == IoKind::AlreadyExists => continue,
                // The janitor removed the directory, empty, in between.
                Err(e) if e.kind() == IoKind::NotFound => {
                    self.make_leaf(&dir)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            f.set_modified(evict::stamp(SystemTime::now(), Segment::Probation))?;
            let f = Arc::new(f);
            leaf.active = Some(Active {
                id,
                file: f.clone(),
                end: 0,
            });
            self.count_leaf_of(&dir);
            return Ok((id, f, 0));
        }
        Err(std::io::Error::other("cannot name a new pack"))
    }

    /// Appends a record to the leaf's index under its lock (to the index its name leads to: a
    /// rewrite by the janitor replaces it) and counts what it grew by.
    fn append_record(&self, file: u128, r: &[u8; RECORD]) -> std::io::Result<()> {
        let path = self.leaf_dir(file).join(INDEX);
        for _ in 0..8 {
            let f = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            f.lock()?;
            let m = f.metadata()?;
            if !fs::symlink_metadata(&path).is_ok_and(|n| n.ino() == m.ino()) {
                continue; // replaced while this process waited for the lock
            }
            if let Some(why) = trust::not_private(&m) {
                return Err(std::io::Error::other(format!(
                    "the index of packs is not private: {why}"
                )));
            }
            let mut head = [0u8; RECORD];
            let whole = m.len() >= RECORD as u64
                && crate::pread::read_full_at(&f, &mut head, 0)? == RECORD
                && index_generation(&head).is_some();
            if whole {
                (&f).write_all(r)?;
            } else {
                // New (or its head torn by a full disk): a head of a new generation first.
                f.set_len(0)?;
                let generation = self.packs().map_or(1, Packs::next_id);
                let mut both = index_head(generation).to_vec();
                both.extend_from_slice(r);
                (&f).write_all(&both)?;
            }
            let now = f.metadata().map_or(m.len(), |n| n.len());
            let _ = f.unlock();
            self.charge(self.alloc(now) as i64 - self.alloc(m.len()) as i64);
            return Ok(());
        }
        Err(std::io::Error::other(
            "the index of packs keeps being replaced",
        ))
    }

    /// Drops a packed page, for every process of the node (freed, or found corrupt); the
    /// pack goes when none of its pages is left. Returns whether the page was packed, and the
    /// bytes given back on disk.
    pub(super) fn drop_packed(&self, file: u128) -> Option<u64> {
        let packs = self.packs()?;
        let mut leaf = packs.leaf(file);
        self.refresh(file, &mut leaf);
        let loc = leaf.take(file)?;
        self.open_pages().remove(&PageId { file, index: 0 });
        let _ = self.append_record(file, &record(file, None));
        let mut freed = 0;
        if !leaf.holds(loc.pack) {
            // Its last page: the pack goes (a process still appending to it sees that it was
            // removed and starts another).
            let path = self.pack_path(file, loc.pack);
            if let Ok(m) = fs::symlink_metadata(&path) {
                if m.is_file() && fs::remove_file(&path).is_ok() {
                    freed = allocated(&m);
                    self.charge(-(freed as i64));
                }
            }
            packs.drop_handle(loc.pack);
            if leaf.active.as_ref().is_some_and(|a| a.id == loc.pack) {
                leaf.active = None;
            }
            if leaf.live.is_empty() {
                // Nothing packed is left here: the index goes too (unless a page was packed
                // since; the rewrite reads it under its lock).
                self.compact_index(&self.leaf_dir(file));
            }
        }
        self.open_pages().page_files_removed();
        Some(freed)
    }

    /// Forgets what this process holds of a pack it removed: its pages' handles and places.
    pub(super) fn forget_pack(&self, path: &Path) {
        let (Some(packs), Some(id)) = (self.packs(), pack_id(path)) else {
            return;
        };
        packs.drop_handle(id);
        let Some(leaf_idx) = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| usize::from_str_radix(n, 16).ok())
            .filter(|i| *i < 256)
        else {
            return;
        };
        let mut leaf = packs.leaves[leaf_idx]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if leaf.active.as_ref().is_some_and(|a| a.id == id) {
            leaf.active = None;
        }
        let files: Vec<u128> = leaf
            .map
            .iter()
            .filter(|(_, l)| l.pack == id)
            .map(|(f, _)| *f)
            .collect();
        for f in files {
            leaf.take(f);
            self.open_pages().remove(&PageId { file: f, index: 0 });
        }
    }

    /// Rewrites a leaf's index keeping only the records of packed pages whose pack is there
    /// (the last record of each page), after packs were removed from it; removes an index
    /// left with none. Under the index's lock; processes see the new index by its inode.
    pub(super) fn compact_index(&self, leaf_dir: &Path) {
        let path = leaf_dir.join(INDEX);
        let Ok(f) = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        else {
            return;
        };
        if f.lock().is_err() {
            return;
        }
        let Ok(m) = f.metadata() else { return };
        if !fs::symlink_metadata(&path).is_ok_and(|n| n.ino() == m.ino()) {
            return;
        }
        let mut head = [0u8; RECORD];
        let head_whole = crate::pread::read_full_at(&f, &mut head, 0).ok() == Some(RECORD)
            && index_generation(&head).is_some();
        let mut live: HashMap<u128, Loc> = HashMap::new();
        read_records(&f, RECORD as u64, |file, loc| match loc {
            Some(l) => {
                live.insert(file, l);
            }
            None => {
                live.remove(&file);
            }
        });
        let mut there: HashMap<u64, bool> = HashMap::new();
        live.retain(|_, l| {
            *there.entry(l.pack).or_insert_with(|| {
                fs::symlink_metadata(leaf_dir.join(pack_name(l.pack))).is_ok_and(|m| m.is_file())
            })
        });
        let before = allocated(&m);
        if live.is_empty() {
            if fs::remove_file(&path).is_ok() {
                self.charge(-(before as i64));
            }
            return;
        }
        if head_whole && (live.len() + 1) * RECORD >= m.len() as usize {
            return; // nothing to drop
        }
        let generation = self.packs().map_or(1, Packs::next_id);
        let mut out = Vec::with_capacity((live.len() + 1) * RECORD);
        out.extend_from_slice(&index_head(generation));
        for (file, loc) in &live {
            out.extend_from_slice(&record(*file, Some(*loc)));
        }
        let tmp = leaf_dir.join(self.tmp_name("index"));
        let written = new_file(&tmp).and_then(|mut t| {
            t.write_all(&out)?;
            let size = t.metadata().map(|m| allocated(&m))?;
            fs::rename(&tmp, &path)?;
            Ok(size)
        });
        match written {
            Ok(after) => self.charge(after as i64 - before as i64),
            Err(_) => {
                let _ = fs::remove_file(&tmp);
            }
        }
    }
}

/// The data length of a page whose encoding is `encoded` bytes, cut in chunks of `chunk`.
fn data_len(encoded: u64, chunk: u32) -> Option<u64> {
    let fixed = page_file::TRAILER as u64;
    let body = encoded.checked_sub(fixed)?;
    // body = len + 4 * ceil(len / chunk); ceil(len / chunk) is at most body / chunk + 1.
    let chunks = body.div_ceil(chunk as u64 + 4);
    let len = body.checked_sub(4 * chunks)?;
    (page_file::file_size(len as u32, chunk) == encoded).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::open_pages::OpenPages;
    use crate::cache::page_file::{encode, Expect};
    use crate::stats::Stats;

    const PAGE_SIZE: u64 = 1 << 20;

    /// A directory packing objects up to 64 KiB: what a process of the node sees.
    fn process(top: &Path, capacity: u64) -> Arc<DiskDir> {
        let d = DiskDir::with_open_pages(
            top,
            capacity,
            PAGE_SIZE,
            OpenPages::new(64),
            Arc::new(Stats::default()),
        );
        d.pack_small(DEFAULT_MAX_OBJECT);
        d
    }

    /// Object `n`: its id spreads over the layout directories; 100 B to 12 KB.
    fn id(n: u64) -> PageId {
        let file = xxhash_rust::xxh3::xxh3_128(&n.to_le_bytes());
        PageId { file, index: 0 }
    }

    fn data(n: u64) -> Vec<u8> {
        let len = 100 + (n * 7919) % 12_000;
        (0..len).map(|i| (i * 31 + n * 7) as u8).collect()
    }

    fn write(d: &Arc<DiskDir>, n: u64) -> bool {
        let data = data(n);
        let e = Expect {
            id: id(n),
            page_size: PAGE_SIZE as u32,
            len: data.len() as u32,
        };
        d.write_page(id(n), &encode(e, 0, &data))
    }

    /// Object `n` read whole from the directory: `None` when it is not cached.
    fn read(d: &DiskDir, n: u64) -> Option<Vec<u8>> {
        let len = data(n).len();
        let (bytes, _) = d.read_page(id(n), len as u32)?;
        assert_eq!(bytes.len(), len);
        Some(bytes.to_vec())
    }

    /// The files of the layout: (packs, page files, indexes).
    fn files(d: &DiskDir) -> (usize, usize, usize) {
        let (mut packs, mut pages, mut indexes) = (0, 0, 0);
        for leaf in fs::read_dir(d.root()).unwrap() {
            let leaf = leaf.unwrap().path();
            if !leaf.is_dir() {
                continue;
            }
            for f in fs::read_dir(&leaf).unwrap() {
                let f = f.unwrap().path();
                if pack_id(&f).is_some() {
                    packs += 1;
                } else if f.file_name().unwrap() == INDEX {
                    indexes += 1;
                } else {
                    pages += 1;
                }
            }
        }
        (packs, pages, indexes)
    }

    /// A new directory holding objects `0..n`, and the process that wrote them.
    fn filled(n: u64) -> (tempfile::TempDir, Arc<DiskDir>) {
        let top = tempfile::tempdir().unwrap();
        let w = process(top.path(), 1 << 30);
        for i in 0..n {
            assert!(write(&w, i));
        }
        (top, w)
    }

    /// Where object `n` is, by the index as it is now.
    fn loc_of(d: &DiskDir, n: u64) -> Loc {
        let mut leaf = d.packs().unwrap().leaf(id(n).file);
        d.locate(id(n).file, &mut leaf, true)
            .unwrap_or_else(|| panic!("object {n} is not packed"))
    }

    fn index_records(d: &DiskDir) -> u64 {
        fs::read_dir(d.root())
            .unwrap()
            .filter_map(|l| fs::symlink_metadata(l.unwrap().path().join(INDEX)).ok())
            .map(|m| m.len() / RECORD as u64 - 1)
            .sum()
    }

    #[test]
    fn many_small_objects_take_a_pack_per_layout_directory_and_another_process_reads_them() {
        let (top, writer) = filled(3000);
        let (packs, pages, indexes) = files(&writer);
        assert_eq!(pages, 0);
        assert!(
            packs <= 256 && indexes <= 256,
            "{packs} packs, {indexes} indexes"
        );
        // A new process: nothing examined before its first hit, every byte right.
        let reader = process(top.path(), 1 << 30);
        assert_eq!(read(&reader, 17).unwrap(), data(17));
        assert_eq!(reader.entries_examined(), 0);
        for n in 0..3000 {
            assert_eq!(read(&reader, n).unwrap(), data(n), "object {n}");
        }
        assert!(read(&reader, 3001).is_none());
        // Its handles share the packs' files.
        let kept: std::collections::HashSet<_> = (0..3000)
            .map(|n| {
                let p = reader.page(id(n), data(n).len() as u32).unwrap().unwrap();
                Arc::as_ptr(&p.file) as usize
            })
            .collect();
        assert!(
            kept.len() <= packs,
            "{} files for {packs} packs",
            kept.len()
        );
        // The usage figure counts the packs as they lie on disk (give or take the blocks a
        // filesystem adds to map a file appended to over time, which only a walk sees).
        let (_, on_disk) = reader.scan_usage().unwrap();
        let slack = 4096 * (packs as u64 / 16 + 4);
        assert!(reader.usage().unwrap().abs_diff(on_disk) <= slack);
        let (checked, bad) = reader.verify(false).unwrap();
        assert!(
            bad.is_empty() && checked as usize == packs,
            "{checked} {bad:?}"
        );
    }

    #[test]
    fn a_freed_or_corrupt_object_is_served_by_no_process_and_its_pack_goes_with_its_last() {
        let (top, a) = filled(40);
        let b = process(top.path(), 1 << 30);
        for n in 0..40 {
            assert_eq!(read(&b, n).unwrap(), data(n)); // b keeps handles
        }
        a.remove_page(id(3));
        assert!(
            read(&b, 3).is_none(),
            "a freed object served from a kept handle"
        );
        assert!(!b.has_page(id(3)));
        assert_eq!(read(&b, 4).unwrap(), data(4));
        // Damage an entry: the reader finds it, drops it for everyone, and nothing else moves.
        let loc = loc_of(&b, 5);
        let pack = OpenOptions::new()
            .write(true)
            .open(b.pack_path(id(5).file, loc.pack))
            .unwrap();
        pack.write_all_at(b"\xff\xfe", loc.base() + 10).unwrap();
        let c = process(top.path(), 1 << 30);
        assert!(read(&c, 5).is_none(), "corrupt bytes served");
        assert!(read(&process(top.path(), 1 << 30), 5).is_none());
        // The pack holding it is reported by `cache verify` while it is there (it goes with
        // its last object).
        let (_, bad) = c.verify(false).unwrap();
        let pack_left = b.pack_path(id(5).file, loc.pack).exists();
        assert_eq!(bad.len(), usize::from(pack_left));
        // A process that died in the middle of an append leaves a pack that is not damaged.
        let other = (0..40)
            .filter(|n| ![3, 5].contains(n))
            .find(|n| loc_of(&b, *n).pack != loc.pack)
            .unwrap();
        let path = b.pack_path(id(other).file, loc_of(&b, other).pack);
        let mut torn = entry_head(5000).to_vec();
        torn.extend_from_slice(&[9u8; 100]);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&torn)
            .unwrap();
        assert_eq!(c.verify(false).unwrap().1.len(), usize::from(pack_left));
        assert_eq!(
            read(&process(top.path(), 1 << 30), other).unwrap(),
            data(other)
        );
        // An object alone in its pack: freeing it gives the pack back.
        let lone = (100..)
            .find(|n| leaf_index(id(*n).file) != leaf_index(id(0).file))
            .unwrap();
        let d = process(top.path(), 1 << 30);
        let lone_leaf = leaf_index(id(lone).file);
        let others = (0..40)
            .filter(|n| leaf_index(id(*n).file) == lone_leaf)
            .count();
        assert!(write(&d, lone));
        let before = d.usage().unwrap();
        let freed = d.remove_file_pages(id(lone).file).unwrap();
        if others == 0 {
            assert!(freed > 0);
        }
        // (and the index and the layout directory, when they held nothing else)
        assert!(d.usage().unwrap() <= before - freed);
        assert!(read(&a, lone).is_none());
    }

    #[test]
    fn eviction_takes_whole_packs_and_the_index_keeps_only_what_is_there() {
        let (top, w) = filled(4000);
        let held = w.usage().unwrap();
        let records = index_records(&w);
        assert_eq!(records, 4000);
        // A process with half the capacity evicts down to 90% of it.
        let small = process(top.path(), held / 2);
        small.run_janitor(true).unwrap(); // after the one its opening started, if any
        let now = small.usage().unwrap();
        assert!(now <= held / 2 / 10 * 9 && now > 0, "{now} of {held} held");
        let left: Vec<u64> = (0..4000).filter(|n| read(&small, *n).is_some()).collect();
        assert!(!left.is_empty() && left.len() < 4000);
        for n in &left {
            assert_eq!(read(&process(top.path(), 1 << 30), *n).unwrap(), data(*n));
        }
        // The index holds no record of what was evicted; the old process sees the rewrite.
        assert_eq!(index_records(&small), left.len() as u64);
        let gone = (0..4000).find(|n| !left.contains(n)).unwrap();
        assert!(read(&w, gone).is_none());
        assert_eq!(read(&w, left[0]).unwrap(), data(left[0]));
        let (_, on_disk) = small.scan_usage().unwrap();
        assert!(small.usage().unwrap().abs_diff(on_disk) <= 64 << 10);
    }

    #[test]
    fn an_index_removed_and_made_anew_is_read_anew_even_at_its_old_inode_and_length() {
        let top = tempfile::tempdir().unwrap();
        let w = process(top.path(), 1 << 30);
        let a = 0;
        let b = (1..)
            .find(|n| leaf_index(id(*n).file) == leaf_index(id(a).file))
            .unwrap();
        assert!(write(&w, a));
        let r = process(top.path(), 1 << 30);
        assert_eq!(read(&r, a).unwrap(), data(a));
        let index = w.leaf_dir(id(a).file).join(INDEX);
        let before = fs::symlink_metadata(&index).unwrap();
        // Freed, its pack and the index go; a new object makes an index of the same length,
        // which the filesystem is free to give the same inode.
        w.remove_file_pages(id(a).file).unwrap();
        assert!(!index.exists());
        assert!(write(&w, b));
        let after = fs::symlink_metadata(&index).unwrap();
        assert_eq!(after.len(), before.len());
        assert!(
            r.has_page(id(b)),
            "a new index taken for the one read before"
        );
        assert_eq!(read(&r, b).unwrap(), data(b));
        assert!(read(&r, a).is_none());
    }

    #[test]
    fn an_object_freed_and_packed_again_is_found_by_a_process_that_knew_its_old_place() {
        let top = tempfile::tempdir().unwrap();
        let w = process(top.path(), 1 << 30);
        assert!(write(&w, 7));
        let r = process(top.path(), 1 << 30);
        assert_eq!(read(&r, 7).unwrap(), data(7));
        // Freed (its pack goes with it), then read again by someone: packed anew elsewhere.
        w.remove_file_pages(id(7).file).unwrap();
        assert!(write(&w, 7));
        assert!(
            r.has_page(id(7)),
            "the old place, gone, taken for the object"
        );
        assert_eq!(read(&r, 7).unwrap(), data(7));
        let again = process(top.path(), 1 << 30);
        w.remove_file_pages(id(7).file).unwrap();
        assert!(write(&w, 7));
        assert_eq!(read(&again, 7).unwrap(), data(7));
    }

    #[test]
    fn appending_keeps_a_pack_in_its_segment() {
        let top = tempfile::tempdir().unwrap();
        let w = process(top.path(), 1 << 30);
        let same: Vec<u64> = (0..)
            .filter(|n| leaf_index(id(*n).file) == leaf_index(id(0).file))
            .take(40)
            .collect();
        let segment = |d: &DiskDir| {
            let path = d.pack_path(id(0).file, loc_of(d, 0).pack);
            evict::segment(fs::metadata(path).unwrap().modified().unwrap())
        };
        for n in &same[..20] {
            assert!(write(&w, *n));
            assert_eq!(segment(&w), Segment::Probation, "after object {n}");
        }
        // A hit a minute after the pack was written protects it; later appends keep that.
        let path = w.pack_path(id(0).file, loc_of(&w, 0).pack);
        let old = SystemTime::now() - std::time::Duration::from_secs(120);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(evict::stamp(old, Segment::Probation))
            .unwrap();
        let r = process(top.path(), 1 << 30);
        assert_eq!(read(&r, 0).unwrap(), data(0));
        assert_eq!(segment(&r), Segment::Protected);
        for n in &same[20..] {
            assert!(write(&w, *n));
            assert_eq!(segment(&w), Segment::Protected, "after object {n}");
        }
    }

    #[test]
    fn a_torn_index_and_planted_links_are_not_misread() {
        let (top, w) = filled(300);
        // A writer died mid-record in the index of object 1's leaf; later records still count.
        let leaf = w.leaf_dir(id(1).file);
        let mut idx = OpenOptions::new()
            .append(true)
            .open(leaf.join(INDEX))
            .unwrap();
        idx.write_all(&record(id(1).file, None)[..30]).unwrap();
        let later = (300..)
            .find(|n| leaf_index(id(*n).file) == leaf_index(id(1).file))
            .unwrap();
        assert!(write(&w, later));
        let r = process(top.path(), 1 << 30);
        assert_eq!(read(&r, 1).unwrap(), data(1));
        assert_eq!(read(&r, later).unwrap(), data(later));
        // A pack swapped for a link to a file of the same bytes is refused, never followed.
        let loc = loc_of(&r, 2);
        let path = r.pack_path(id(2).file, loc.pack);
        let copy = top.path().join("elsewhere");
        fs::copy(&path, &copy).unwrap();
        fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&copy, &path).unwrap();
        let fresh = process(top.path(), 1 << 30);
        assert!(read(&fresh, 2).is_none());
        assert!(copy.exists());
    }

    #[test]
    fn data_lengths_are_found_from_encodings() {
        for chunk in [4096u32, 8192] {
            for len in [0u32, 1, 4095, 4096, 4097, 65_536, 100_000] {
                let enc = page_file::file_size(len, chunk);
                assert_eq!(data_len(enc, chunk), Some(len as u64), "{len} {chunk}");
            }
        }
    }

    #[test]
    fn records_round_trip_and_torn_ones_are_skipped() {
        let loc = Loc {
            pack: 7,
            off: 4096,
            len: 300,
            page_size: 1 << 20,
        };
        let mut buf = Vec::new();
        buf.extend_from_slice(&record(1, Some(loc)));
        buf.extend_from_slice(&record(2, Some(loc))[..20]); // a writer died mid-record
        buf.extend_from_slice(&record(3, Some(loc)));
        buf.extend_from_slice(&record(1, None));
        let mut seen = Vec::new();
        let used = parse_records(&buf, |f, l| seen.push((f, l)));
        assert_eq!(used, buf.len());
        assert_eq!(seen, vec![(1, Some(loc)), (3, Some(loc)), (1, None)]);
        // A record still being appended (the last, starting right) is left for later.
        let partial = &record(4, Some(loc))[..40];
        let mut tail = record(5, Some(loc)).to_vec();
        tail.extend_from_slice(partial);
        let mut seen = Vec::new();
        assert_eq!(parse_records(&tail, |f, _| seen.push(f)), RECORD);
        assert_eq!(seen, vec![5]);
    }
}

//! The read path: how one positioned read of one file version is served. A reader hands the
//! cache its `FileSource`, a position and a buffer (`PageCache::read`); the cache answers each
//! page from the memory tier, else from its page file on disk, else fetches it (single flight,
//! `PageCache::fetch`), and widens the read-ahead window of a stream that reads sequentially.
//! Pages found corrupt are removed here and fetched again; the reader never sees the page
//! format, the disk directories or their handles.
//!
//! Concurrent reads of one stream run in parallel: the only state they share is the stream's
//! read-ahead window, locked just long enough to update it, never while a page is fetched.
//!
//! Whole-file operations live here too: `load` (every page into the cache), `free` (every page
//! out) and `cached_bytes`.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use super::{page_file, FileSource, PageCache, PageId, StatsSet};
use crate::error::{Error, ErrorKind, Result};
use crate::stats::Stats;

thread_local! {
    /// Whole chunks of a read not aligned to them, while they are checked: one per thread, so
    /// readers share no buffer.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What the cache keeps for one open stream: the counters its reads bump (the filesystem's,
/// the stream's, the process's) and its read-ahead window.
#[derive(Debug)]
pub struct ReadStream {
    pub stats: StatsSet,
    window: Mutex<Window>,
    /// The stream's file as Parquet (`parquet.rs`).
    pub(super) parquet: super::parquet::StreamPlan,
}

#[derive(Debug, Default)]
struct Window {
    /// Where the last read ended, to recognise sequential reading.
    last_end: Option<u64>,
    /// Read-ahead window in pages; 0 while reading is not sequential.
    pages: u64,
    /// Pages before this one have been asked for ahead already.
    ahead_until: u64,
}

impl ReadStream {
    pub fn new(stats: StatsSet) -> Self {
        ReadStream {
            stats,
            window: Mutex::new(Window::default()),
            parquet: Default::default(),
        }
    }
}

impl Drop for ReadStream {
    fn drop(&mut self) {
        self.parquet.finish(&self.stats);
    }
}

impl FileSource {
    /// Reads all of `out` at `pos` from the store, no cache involved; fails when the store
    /// ends before the file's length.
    pub fn read_exact_direct(&self, pos: u64, out: &mut [u8], stats: &StatsSet) -> Result<()> {
        let mut done = 0;
        while done < out.len() {
            for s in stats.iter() {
                crate::bump!(store_get_requests, 1, s);
            }
            let n = self.read_direct(pos + done as u64, &mut out[done..])?;
            if n == 0 {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!(
                        "the store returned fewer bytes than the file's length {} \
                         (was it changed or truncated?)",
                        self.entry.len
                    ),
                ));
            }
            for s in stats.iter() {
                crate::bump!(bytes_from_store, n, s);
            }
            done += n;
        }
        Ok(())
    }
}

impl PageCache {
    /// Fills `out` with the bytes of `src` at `pos`; the caller keeps the read within the file.
    /// Pages come from memory, from disk, or from the store (all misses of one read fetched
    /// in parallel); a sequential stream then gets its read-ahead.
    pub fn read(
        self: &Arc<Self>,
        src: &Arc<FileSource>,
        pos: u64,
        out: &mut [u8],
        stream: &ReadStream,
    ) -> Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let ps = self.page_size();
        let len = src.entry.len;
        let end = pos + out.len() as u64;
        let (first, last) = (pos / ps, (end - 1) / ps);
        let stats = &stream.stats;
        let mut missing = Vec::new();
        for index in first..=last {
            let page = self.page_range(len, index);
            let (from, to) = (pos.max(page.start), end.min(page.end));
            let dst = &mut out[(from - pos) as usize..(to - pos) as usize];
            let id = PageId {
                file: src.file_id,
                index,
            };
            if let Some(p) = self.memory_get(&id).filter(|p| p.fits(src)) {
                let off = (from - page.start) as usize;
                dst.copy_from_slice(&p.data[off..off + dst.len()]);
                for s in stats.iter() {
                    crate::bump!(cache_hits, 1, s);
                    crate::bump!(bytes_from_memory, dst.len(), s);
                }
                continue;
            }
            let page_len = (page.end - page.start) as u32;
            if self.read_disk(src, id, page_len, from - page.start, dst) {
                for s in stats.iter() {
                    crate::bump!(cache_hits, 1, s);
                    crate::bump!(bytes_from_disk, dst.len(), s);
                }
            } else if !self.can_hold(&id) {
                // Nowhere to keep the page: read just the bytes asked for.
                src.read_exact_direct(from, dst, stats)?;
            } else {
                missing.push(index);
            }
        }
        if !missing.is_empty() {
            let futures: Vec<_> = missing.iter().map(|i| self.fetch(src, *i, stats)).collect();
            let pages = crate::runtime::block_on(futures::future::join_all(futures))?;
            for (index, page) in missing.iter().zip(pages) {
                let page = page?;
                if !page.fits(src) {
                    return Err(src.changed());
                }
                let range = self.page_range(len, *index);
                let (from, to) = (pos.max(range.start), end.min(range.end));
                let off = (from - range.start) as usize;
                out[(from - pos) as usize..(to - pos) as usize]
                    .copy_from_slice(&page.data[off..off + (to - from) as usize]);
            }
        }
        self.read_ahead(src, pos, end, last, stream);
        Ok(())
    }

    /// Read-ahead: a sequential reader gets a window that doubles up to the limit.
    fn read_ahead(
        self: &Arc<Self>,
        src: &Arc<FileSource>,
        pos: u64,
        end: u64,
        last: u64,
        stream: &ReadStream,
    ) {
        let ahead = {
            let mut w = stream.window.lock().unwrap_or_else(|p| p.into_inner());
            let sequential = w.last_end == Some(pos) || (pos == 0 && w.last_end.is_none());
            w.last_end = Some(end);
            if sequential {
                w.pages = (w.pages * 2).clamp(1, self.settings.readahead_pages.max(1));
                let pages = src.entry.len.div_ceil(self.page_size());
                let from = w.ahead_until.max(last + 1);
                let to = (last + 1 + w.pages).min(pages);
                (from < to).then(|| {
                    w.ahead_until = to;
                    from..to
                })
            } else {
                w.pages = 0;
                w.ahead_until = 0;
                None
            }
        };
        if let Some(pages) = ahead {
            self.prefetch(src, pages, &stream.stats);
        }
    }

    /// Serves `dst` from the page's disk file; false when the page is not on disk, holds bytes
    /// of another ETag than the reader's (it is then fetched anew), or could not be read: a
    /// corrupt page file is removed, an unreadable one's handle dropped.
    fn read_disk(
        &self,
        src: &FileSource,
        id: PageId,
        page_len: u32,
        offset: u64,
        dst: &mut [u8],
    ) -> bool {
        let Some(dir) = self.dir_for(&id) else {
            return false;
        };
        let mut read = || -> Result<bool> {
            let Some(page) = dir.page(id, page_len)? else {
                return Ok(false);
            };
            if !src.accepts(page.header.etag, None) {
                return Ok(false);
            }
            SCRATCH.with(|scratch| {
                page_file::read_checked(
                    &page.file,
                    &page.header,
                    Some(&page.verified),
                    offset,
                    dst,
                    &mut scratch.borrow_mut(),
                )
            })?;
            Ok(true)
        };
        match read() {
            Ok(served) => served,
            Err(e) if e.kind() == ErrorKind::Corrupt => {
                tracing::warn!(key = %src.key, page = id.index, "corrupt cache page removed: {e}");
                crate::bump!(corrupt_pages, 1, self.stats, crate::stats::process());
                dir.remove_page(id);
                false
            }
            Err(e) => {
                tracing::warn!(key = %src.key, page = id.index, "cache page unreadable: {e}");
                dir.forget(id);
                false
            }
        }
    }

    /// The ids of every page of `src`.
    fn page_ids(&self, src: &FileSource) -> impl Iterator<Item = PageId> {
        let file = src.file_id;
        (0..src.entry.len.div_ceil(self.page_size())).map(move |index| PageId { file, index })
    }

    /// Brings every page the given `(position, length)` ranges touch into the cache, fetching
    /// the missing ones in parallel (at most `shoal.cache.readahead.max` bytes in flight for
    /// the whole process, none of them kept beyond the tiers). Ranges close together share
    /// pages, so they cost one fetch.
    pub fn fetch_ranges(
        self: &Arc<Self>,
        src: &Arc<FileSource>,
        ranges: &[(u64, u64)],
        stats: &StatsSet,
    ) -> Result<()> {
        let len = src.entry.len;
        let ps = self.page_size();
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
                file: src.file_id,
                index: *i,
            };
            self.can_hold(&id) && !self.is_present(&id)
        });
        if pages.is_empty() {
            return Ok(());
        }
        let fetch = self.clone().fetch_all(src.clone(), pages, stats.clone());
        crate::runtime::block_on(fetch)?
    }

    /// Brings the whole file into the cache; returns the bytes fetched from the store.
    pub fn load(self: &Arc<Self>, src: &Arc<FileSource>, stats: &StatsSet) -> Result<u64> {
        let mine = Arc::new(Stats::default());
        let stats: StatsSet = stats.iter().cloned().chain([mine.clone()]).collect();
        self.fetch_ranges(src, &[(0, src.entry.len)], &stats)?;
        Ok(mine
            .bytes_from_store
            .load(std::sync::atomic::Ordering::Relaxed))
    }

    /// (bytes held, capacity) of the cache's directories together, as counted by every process
    /// sharing them.
    pub fn usage(&self) -> (u64, u64) {
        self.dirs().iter().fold((0, 0), |(u, cap), d| {
            (u + d.usage().unwrap_or(0), cap + d.capacity())
        })
    }

    /// Bytes of the file held by this node's cache (memory or disk).
    pub fn cached_bytes(&self, src: &FileSource) -> u64 {
        self.page_ids(src)
            .filter(|id| {
                self.memory_get(id).is_some() || self.dir_for(id).is_some_and(|d| d.has_page(*id))
            })
            .map(|id| {
                let r = self.page_range(src.entry.len, id.index);
                r.end - r.start
            })
            .sum()
    }

    /// Drops the file's pages from this node's cache (memory and disk), leaving the store
    /// alone; returns the bytes freed on disk. On disk, the pages of every page size go.
    pub fn free(&self, src: &FileSource) -> u64 {
        for id in self.page_ids(src) {
            self.memory_remove(&id);
        }
        self.dirs()
            .iter()
            .map(|d| d.remove_file_pages(src.file_id).unwrap_or(0))
            .sum()
    }
}

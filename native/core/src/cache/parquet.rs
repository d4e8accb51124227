//! Parquet-aware reads: the cache reads a Parquet file the way its readers will.
//!
//! **Footers.** When a read ends at a file's last byte and those bytes end in `PAR1`, the
//! footer is read through the cache (the reader asks for those pages next anyway) and parsed
//! (the `parquet` crate's metadata decoder, nothing else of it). What is kept is the file's
//! *layout*: the byte range of every column chunk of every row group. Layouts live in a
//! process-wide cache bounded in bytes (`shoal.parquet.footers.size`), keyed by the file's
//! version (the page cache's file id, which hashes store, key and version): a file replaced in
//! the store is a new version and is parsed anew.
//! A file that is not Parquet (other bytes under a `.parquet` name, a footer that does not
//! parse, a length that points outside the file, a chunk outside the data) is remembered as
//! such and read like any file.
//!
//! **Row groups.** When a read of a stream lands in a row group the stream has not started
//! yet, the column chunks the reader is going to read are fetched at once, as coalesced ranged
//! GETs (runs of missing pages, at most `shoal.parquet.coalesce.max` bytes each) sent together,
//! into the page cache. Their pages are registered as in flight before the reader's own read
//! asks for them, so the reader waits on the same GETs (single flight), and later page reads
//! are hits. Which chunks: a Parquet reader (parquet-mr in Spark, Arrow's) reads the chunks of
//! the columns it selects in file order, so the first read of a row group lands in the first
//! selected chunk. Chunks before it are not selected; those after it may be. So:
//!
//! - a stream that has read an earlier row group fetches the same columns it read there (its
//!   projection, learned), plus the one the read lands in;
//! - a stream on its first row group fetches the chunk the read lands in and every chunk after
//!   it in the row group: right for a reader of all columns (the common case in training
//!   pipelines), and at worst the chunks of unselected columns after the first selected one,
//!   once per stream. Those bytes are counted in `parquet_unread_bytes`.
//!
//! A plan is bounded in bytes (`shoal.parquet.fetch.max`, also the process's bound on bytes of
//! such fetches in flight): columns are taken in file order while they fit; what does not fit
//! is left to the reader's own reads. Nothing here decides which bytes a read returns: the
//! pages are the cache's usual pages, keyed by the version and bound to the reader's ETag.
//! Across processes of a node these fetches take no fetch lock: two processes that start the
//! same row group at the same moment may both fetch it (each page lands by an atomic rename).

use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::FutureExt;

use super::{page_file, FileSource, Page, PageCache, PageId, ReadStream, StatsSet};
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};

/// The last four bytes of a Parquet file (and its first four).
pub const MAGIC: &[u8; 4] = b"PAR1";
pub const DEFAULT_FETCH_MAX: u64 = 256 << 20;
pub const DEFAULT_COALESCE_MAX: u64 = 8 << 20;
pub const DEFAULT_FOOTERS_SIZE: u64 = 32 << 20;
/// Footers longer than this are not parsed; the file is read as any file.
pub const FOOTER_MAX: u64 = 64 << 20;

/// `shoal.parquet.*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParquetSettings {
    pub enabled: bool,
    /// The most bytes one row group's plan fetches, and the process's bound on bytes of such
    /// fetches in flight at once (under a page: no row group is fetched ahead).
    pub fetch_max: u64,
    /// The longest single GET of a plan.
    pub coalesce_max: u64,
    /// Memory for the layouts of parsed footers (0: none kept).
    pub footers_size: u64,
}

impl Default for ParquetSettings {
    fn default() -> Self {
        ParquetSettings {
            enabled: true,
            fetch_max: DEFAULT_FETCH_MAX,
            coalesce_max: DEFAULT_COALESCE_MAX,
            footers_size: DEFAULT_FOOTERS_SIZE,
        }
    }
}

impl ParquetSettings {
    pub fn from_config(c: &Config) -> Result<Self> {
        let d = ParquetSettings::default();
        Ok(ParquetSettings {
            enabled: c.get_bool("shoal.parquet.enabled", d.enabled)?,
            fetch_max: c.get_size("shoal.parquet.fetch.max", d.fetch_max)?,
            coalesce_max: c.get_size("shoal.parquet.coalesce.max", d.coalesce_max)?,
            footers_size: c.get_size("shoal.parquet.footers.size", d.footers_size)?,
        })
    }
}

/// Where a Parquet file's column chunks lie, from its footer.
#[derive(Debug, PartialEq, Eq)]
pub struct Layout {
    /// In file order.
    row_groups: Vec<RowGroup>,
}

#[derive(Debug, PartialEq, Eq)]
struct RowGroup {
    /// From its first chunk's start to its last chunk's end.
    span: Range<u64>,
    /// Its column chunks, in column order.
    chunks: Vec<Range<u64>>,
}

impl Layout {
    /// The layout a footer describes (`meta`: the Thrift metadata, without its length and
    /// magic) for a file whose data ends at `data_end`; `None` when it does not parse or a
    /// chunk lies outside the data. Never panics, whatever the bytes.
    pub fn parse(meta: &[u8], data_end: u64) -> Option<Layout> {
        let decoded = std::panic::catch_unwind(|| {
            parquet::file::metadata::ParquetMetaDataReader::decode_metadata(meta)
        });
        let md = match decoded {
            Ok(Ok(md)) => md,
            _ => return None,
        };
        let mut row_groups = Vec::with_capacity(md.num_row_groups());
        for rg in md.row_groups() {
            let mut chunks = Vec::with_capacity(rg.num_columns());
            for c in rg.columns() {
                let data = c.data_page_offset();
                // Some writers leave a dictionary offset of 0 where there is no dictionary.
                let start = match c.dictionary_page_offset() {
                    Some(d) if d > 0 && d < data => d,
                    _ => data,
                };
                let len = c.compressed_size();
                if start < MAGIC.len() as i64 || len < 0 {
                    return None;
                }
                let end = (start as u64).checked_add(len as u64)?;
                if end > data_end {
                    return None;
                }
                chunks.push(start as u64..end);
            }
            let (Some(first), Some(last)) = (
                chunks.iter().map(|c| c.start).min(),
                chunks.iter().map(|c| c.end).max(),
            ) else {
                continue;
            };
            row_groups.push(RowGroup {
                span: first..last,
                chunks,
            });
        }
        row_groups.sort_by_key(|r| r.span.start);
        Some(Layout { row_groups })
    }

    pub fn row_groups(&self) -> usize {
        self.row_groups.len()
    }

    /// The column chunks of row group `rg`, in column order.
    pub fn chunks(&self, rg: usize) -> &[Range<u64>] {
        &self.row_groups[rg].chunks
    }

    /// Bytes this layout holds in memory, about.
    fn weight(&self) -> u32 {
        let chunks: usize = self
            .row_groups
            .iter()
            .map(|r| 40 + r.chunks.len() * 16)
            .sum();
        (64 + chunks).min(u32::MAX as usize) as u32
    }

    /// The row group whose span holds `pos`.
    fn row_group_at(&self, pos: u64) -> Option<usize> {
        let i = self.row_groups.partition_point(|r| r.span.start <= pos);
        (i > 0 && pos < self.row_groups[i - 1].span.end).then(|| i - 1)
    }
}

/// What the process knows of Parquet files: parsed layouts (or that a version is not
/// Parquet), and the budget of row-group fetches in flight. One per page cache.
pub struct ParquetReads {
    pub settings: ParquetSettings,
    /// By file id (store, key, version): `None` for a version that is not Parquet. Not by the
    /// ETag binding as well: a stream opened from a listing is not bound before its first read,
    /// which is where it needs the layout. A layout only chooses pages to fetch, never bytes.
    footers: Option<moka::sync::Cache<u128, Option<Arc<Layout>>>>,
    /// Pages of row-group fetches that may be in flight at once.
    budget: Arc<tokio::sync::Semaphore>,
}

debug_shows!(ParquetReads, "ParquetReads", |p| { "settings": p.settings });

impl ParquetReads {
    pub fn new(settings: ParquetSettings, page_size: u64) -> Self {
        let footers = (settings.enabled && settings.footers_size > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(settings.footers_size)
                .weigher(|_k: &u128, v: &Option<Arc<Layout>>| v.as_ref().map_or(64, |l| l.weight()))
                .build()
        });
        let permits = (settings.fetch_max / page_size.max(1)).min(u32::MAX as u64 >> 1) as usize;
        ParquetReads {
            settings,
            footers,
            budget: Arc::new(tokio::sync::Semaphore::new(permits)),
        }
    }

    /// What is known of this version: `Some(None)` when it is not Parquet.
    fn lookup(&self, src: &FileSource) -> Option<Option<Arc<Layout>>> {
        self.footers.as_ref()?.get(&src.file_id)
    }

    fn remember(&self, src: &FileSource, layout: Option<Arc<Layout>>) {
        if let Some(f) = &self.footers {
            f.insert(src.file_id, layout);
        }
    }

    /// Layouts (and "not Parquet" marks) held now.
    pub fn footers_held(&self) -> u64 {
        self.footers.as_ref().map_or(0, |f| {
            f.run_pending_tasks();
            f.entry_count()
        })
    }
}

/// One stream's view of its file as Parquet: what it knows of the layout, the row group it is
/// reading and the columns it has read.
#[derive(Debug, Default)]
pub struct StreamPlan(Mutex<PlanState>);

#[derive(Debug, Default)]
struct PlanState {
    layout: Known,
    current: Option<Current>,
    /// The columns the stream read in its last row group.
    learned: Option<Vec<bool>>,
}

#[derive(Debug, Default)]
enum Known {
    #[default]
    Unknown,
    NotParquet,
    Parquet(Arc<Layout>),
}

#[derive(Debug)]
struct Current {
    rg: usize,
    /// Columns the stream's reads touched in this row group.
    touched: Vec<bool>,
    /// Columns whose chunks the plan fetched.
    fetched: Vec<bool>,
    layout: Arc<Layout>,
}

impl Current {
    /// Bytes of chunks fetched for the stream that it never read.
    fn unread(&self) -> u64 {
        let chunks = self.layout.chunks(self.rg);
        (0..chunks.len())
            .filter(|c| self.fetched[*c] && !self.touched[*c])
            .map(|c| chunks[c].end - chunks[c].start)
            .sum()
    }
}

impl StreamPlan {
    /// At the stream's end: counts what its last row group's plan fetched and it never read.
    pub fn finish(&self, stats: &StatsSet) {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cur) = st.current.take() {
            let unread = cur.unread();
            for s in stats.iter() {
                crate::bump!(parquet_unread_bytes, unread, s);
            }
        }
    }
}

impl PageCache {
    /// Before a read of `len` bytes at `pos` of `src`: when the read starts a row group of a
    /// Parquet file whose layout is known, fetches the chunks the reader is going to read
    /// (see the module's comment), in the background.
    pub fn plan_parquet(
        self: &Arc<Self>,
        src: &Arc<FileSource>,
        pos: u64,
        len: u64,
        stream: &ReadStream,
    ) {
        if !self.parquet.settings.enabled || len == 0 {
            return;
        }
        let mut st = stream.parquet.0.lock().unwrap_or_else(|p| p.into_inner());
        let layout = match &st.layout {
            Known::Parquet(l) => l.clone(),
            Known::NotParquet => return,
            Known::Unknown => match self.parquet.lookup(src) {
                Some(Some(l)) => {
                    st.layout = Known::Parquet(l.clone());
                    l
                }
                Some(None) => {
                    st.layout = Known::NotParquet;
                    return;
                }
                None => return,
            },
        };
        let Some(rg) = layout.row_group_at(pos) else {
            return;
        };
        let chunks = layout.chunks(rg);
        let end = pos + len;
        let touches = |c: &Range<u64>| c.start < end && pos < c.end;
        if let Some(cur) = st.current.as_mut().filter(|c| c.rg == rg) {
            for (i, c) in chunks.iter().enumerate() {
                cur.touched[i] |= touches(c);
            }
            return;
        }
        // A new row group: what the last one taught, then this one's plan.
        if let Some(prev) = st.current.take() {
            let unread = prev.unread();
            for s in stream.stats.iter() {
                crate::bump!(parquet_unread_bytes, unread, s);
            }
            if prev.touched.iter().any(|t| *t) {
                st.learned = Some(prev.touched);
            }
        }
        let n = chunks.len();
        let first = chunks.iter().position(|c| c.end > pos).unwrap_or(n);
        let wanted: Vec<usize> = match &st.learned {
            Some(l) if l.len() == n => (0..n).filter(|c| l[*c] || *c == first).collect(),
            _ => (first..n).collect(),
        };
        let mut fetched = vec![false; n];
        let mut total = 0;
        let mut ranges = Vec::new();
        for c in wanted {
            let size = chunks[c].end - chunks[c].start;
            if total + size > self.parquet.settings.fetch_max {
                break;
            }
            total += size;
            fetched[c] = true;
            ranges.push(chunks[c].clone());
        }
        st.current = Some(Current {
            rg,
            touched: chunks.iter().map(touches).collect(),
            fetched,
            layout: layout.clone(),
        });
        drop(st);
        self.fetch_coalesced(src, &ranges, &stream.stats);
    }

    /// After a read of `src` at `pos` that returned `data`: when it ended at the file's end in
    /// Parquet's magic, the footer is parsed (once per version) so that the stream's row
    /// groups can be planned.
    pub fn note_parquet_tail(
        self: &Arc<Self>,
        src: &Arc<FileSource>,
        pos: u64,
        data: &[u8],
        stream: &ReadStream,
    ) {
        if !self.parquet.settings.enabled || pos + data.len() as u64 != src.entry.len {
            return;
        }
        let lock = || stream.parquet.0.lock().unwrap_or_else(|p| p.into_inner());
        {
            let mut st = lock();
            if !matches!(st.layout, Known::Unknown) {
                return;
            }
            if !data.ends_with(MAGIC) {
                if data.len() >= MAGIC.len() {
                    st.layout = Known::NotParquet;
                }
                return;
            }
        }
        // Not under the stream's lock: its other threads' reads go on meanwhile.
        let layout = match self.parquet.lookup(src) {
            Some(known) => known,
            None => match self.footer(src, &stream.stats) {
                Ok(parsed) => parsed,
                Err(e) => {
                    tracing::debug!(key = %src.key, "parquet footer not read: {e}");
                    return;
                }
            },
        };
        lock().layout = match layout {
            Some(l) => Known::Parquet(l),
            None => Known::NotParquet,
        };
    }

    /// The layout of `src`'s footer (`None`: not Parquet), read through the cache and
    /// remembered for its version.
    pub fn footer(
        self: &Arc<Self>,
        src: &Arc<FileSource>,
        stats: &StatsSet,
    ) -> Result<Option<Arc<Layout>>> {
        if let Some(known) = self.parquet.lookup(src) {
            return Ok(known);
        }
        let len = src.entry.len;
        let parsed = if len < 12 {
            None
        } else {
            // Reads of its own: the caller's read-ahead window is not disturbed.
            let own = ReadStream::new(stats.clone());
            let mut tail = [0u8; 8];
            self.read(src, len - 8, &mut tail, &own)?;
            let meta_len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
            if &tail[4..] != MAGIC || meta_len == 0 || meta_len > FOOTER_MAX || meta_len + 12 > len
            {
                None
            } else {
                let data_end = len - 8 - meta_len;
                let mut meta = vec![0u8; meta_len as usize];
                self.read(src, data_end, &mut meta, &own)?;
                Layout::parse(&meta, data_end).map(Arc::new)
            }
        };
        if parsed.is_some() {
            for s in stats.iter() {
                crate::bump!(parquet_footers, 1, s);
            }
        }
        self.parquet.remember(src, parsed.clone());
        Ok(parsed)
    }

    /// Brings `src`'s footer into the cache and parses it (`load --footers`); returns the
    /// bytes fetched from the store. A file that is not Parquet costs its last page.
    pub fn load_footer(self: &Arc<Self>, src: &Arc<FileSource>, stats: &StatsSet) -> Result<u64> {
        let mine = Arc::new(crate::stats::Stats::default());
        let stats: StatsSet = stats.iter().cloned().chain([mine.clone()]).collect();
        self.footer(src, &stats)?;
        Ok(mine
            .bytes_from_store
            .load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Starts fetching, in the background, the pages of `ranges` that are neither cached nor
    /// in flight, as runs of adjacent pages, one GET per run (at most
    /// `shoal.parquet.coalesce.max` bytes), within the process's budget. Their pages are in
    /// flight (single flight) before this returns.
    fn fetch_coalesced(
        self: &Arc<Self>,
        src: &Arc<FileSource>,
        ranges: &[Range<u64>],
        stats: &StatsSet,
    ) {
        let ps = self.page_size();
        let file = src.file_id;
        let mut pages: Vec<u64> = ranges
            .iter()
            .filter(|r| r.start < r.end)
            .flat_map(|r| r.start / ps..=(r.end - 1) / ps)
            .collect();
        pages.sort_unstable();
        pages.dedup();
        pages.retain(|index| {
            let id = PageId {
                file,
                index: *index,
            };
            self.can_hold(&id)
                && self.memory_get(&id).is_none()
                && !self.dir_for(&id).is_some_and(|d| d.has_page(id))
        });
        if pages.is_empty() {
            return;
        }
        let bound = src.bound_tag();
        let per_get = (self.parquet.settings.coalesce_max / ps).max(1);
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        let mut runs: Vec<Range<u64>> = Vec::new();
        for index in pages {
            if super::joinable(&inflight, PageId { file, index }, bound).is_some() {
                continue;
            }
            match runs.last_mut() {
                Some(r) if r.end == index && r.end - r.start < per_get => r.end += 1,
                _ => runs.push(index..index + 1),
            }
        }
        for run in runs {
            let Ok(permit) = self
                .parquet
                .budget
                .clone()
                .try_acquire_many_owned((run.end - run.start) as u32)
            else {
                // Over the budget: the rest is left to the reader's own reads.
                break;
            };
            let me = self.clone();
            let (src, stats, pages) = (src.clone(), stats.clone(), run.clone());
            let get = async move {
                let got = me.get_run(&src, pages.clone(), &stats).await;
                let mut inflight = me.inflight.lock().unwrap_or_else(|p| p.into_inner());
                for index in pages {
                    inflight.remove(&(PageId { file, index }, bound));
                }
                drop(permit);
                got
            }
            .boxed()
            .shared();
            for (k, index) in run.clone().enumerate() {
                let page = get
                    .clone()
                    .map(move |r| r.map(|pages| pages[k].clone()))
                    .boxed()
                    .shared();
                inflight.insert((PageId { file, index }, bound), page);
            }
            crate::runtime::handle().spawn(get);
        }
    }

    /// One GET for the pages `run` of `src`, cut into pages kept in both tiers.
    async fn get_run(
        self: &Arc<Self>,
        src: &Arc<FileSource>,
        run: Range<u64>,
        stats: &StatsSet,
    ) -> Result<Arc<[Page]>> {
        let len = src.entry.len;
        let range = self.page_range(len, run.start).start..self.page_range(len, run.end - 1).end;
        let want = range.end - range.start;
        for s in stats.iter() {
            crate::bump!(store_get_requests, 1, s);
            crate::bump!(parquet_gets, 1, s);
            crate::bump!(cache_misses, run.end - run.start, s);
        }
        let expect = src.expect();
        let got = self
            .in_flight(
                want,
                src.store.fetch_range(&src.key, &expect, range.clone()),
            )
            .await?;
        if got.data.len() as u64 != want {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "the store returned {} bytes for {want} bytes of column chunks (was the \
                     object changed or truncated?)",
                    got.data.len()
                ),
            ));
        }
        let etag: Option<Arc<str>> = got.etag.or(expect.etag).map(Arc::from);
        let tag = page_file::etag_tag(etag.as_deref());
        for s in stats.iter() {
            crate::bump!(bytes_from_store, want, s);
            crate::bump!(parquet_bytes, want, s);
        }
        let mut pages = Vec::with_capacity((run.end - run.start) as usize);
        for index in run {
            let r = self.page_range(len, index);
            let at = (r.start - range.start) as usize..(r.end - range.start) as usize;
            let page = Page {
                // A copy: each page is weighed and evicted alone, never pinning the others.
                data: Bytes::copy_from_slice(&got.data[at]),
                tag,
                etag: etag.clone(),
            };
            self.keep(
                PageId {
                    file: src.file_id,
                    index,
                },
                &page,
            )
            .await;
            pages.push(page);
        }
        Ok(pages.into())
    }
}

//! Reading a file: an open reader is bound to one version of one file and serves positioned
//! reads, from the store directly or through the node cache (`PageCache::read`), from any
//! number of threads at once.

use std::sync::Arc;

use crate::cache::{FileSource, PageCache, ReadStream};
use crate::error::{ErrorKind, Result};
use crate::metadata::MetadataCache;
use crate::mount::Resolved;
use crate::stats::Stats;

/// An open file: positioned reads of one version of it, through the page cache when the
/// mount is cached.
pub struct FileReader {
    resolved: Resolved,
    source: Arc<FileSource>,
    cache: Option<Arc<PageCache>>,
    metadata: Arc<MetadataCache>,
    /// The counters reads bump (the filesystem's, this stream's, the process's) and the
    /// read-ahead window.
    stream: ReadStream,
    stream_stats: Arc<Stats>,
}

debug_shows!(FileReader, "FileReader", |r| {
    "path": r.resolved.path,
    "len": r.source.entry.len,
});

impl FileReader {
    pub(super) fn new(
        resolved: Resolved,
        source: Arc<FileSource>,
        cache: Option<Arc<PageCache>>,
        metadata: Arc<MetadataCache>,
        fs_stats: &Arc<Stats>,
    ) -> Self {
        let stream_stats = Arc::new(Stats::default());
        let stats = Arc::from(vec![
            fs_stats.clone(),
            stream_stats.clone(),
            crate::stats::process().clone(),
        ]);
        FileReader {
            resolved,
            source,
            cache,
            metadata,
            stream: ReadStream::new(stats),
            stream_stats,
        }
    }

    pub fn len(&self) -> u64 {
        self.source.entry.len
    }

    pub fn is_empty(&self) -> bool {
        self.source.entry.len == 0
    }

    pub fn path(&self) -> &str {
        &self.resolved.path
    }

    /// The version this reader reads (its store's version string), when the store has one.
    pub fn version(&self) -> Option<&str> {
        self.source.entry.version.as_deref()
    }

    /// This stream's counters (names in `stats::COUNTER_NAMES`).
    pub fn stats(&self) -> Vec<u64> {
        self.stream_stats.snapshot()
    }

    /// Reads into `out` at `pos`: all of it unless the file ends first; 0 at or past the end.
    /// Safe to call from many threads at once; their reads run in parallel.
    pub fn read_at(&self, pos: u64, out: &mut [u8]) -> Result<usize> {
        let len = self.source.entry.len;
        if pos >= len || out.is_empty() {
            return Ok(0);
        }
        let want = ((len - pos).min(out.len() as u64)) as usize;
        let out = &mut out[..want];
        let r = match &self.cache {
            Some(cache) => {
                // A read that starts a row group of a Parquet file fetches the chunks the
                // reader is going to read, at once; one that ends in a footer has it parsed.
                cache.plan_parquet(&self.source, pos, want as u64, &self.stream);
                cache
                    .read(&self.source, pos, out, &self.stream)
                    .inspect(|_| {
                        cache.note_parquet_tail(&self.source, pos, out, &self.stream);
                    })
            }
            None => self.source.read_exact_direct(pos, out, &self.stream.stats),
        };
        r.map_err(|e| {
            if e.kind() == ErrorKind::Corrupt {
                // The object may have changed: the next open asks the store again.
                self.metadata
                    .invalidate_status(&self.resolved.mount.name, &self.resolved.key);
            }
            e.context("read", &self.resolved.path)
        })?;
        Ok(want)
    }

    /// Brings every page the given `(position, length)` ranges touch into the cache, fetching
    /// the missing ones in parallel; a vectored read then serves each range from the cache.
    /// Without a cache this does nothing.
    pub fn fetch_ranges(&self, ranges: &[(u64, u64)]) -> Result<()> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        cache
            .fetch_ranges(&self.source, ranges, &self.stream.stats)
            .map_err(|e| e.context("read", &self.resolved.path))
    }
}

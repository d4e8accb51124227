//! Counters of what the cache and the stores did. One `Stats` per filesystem instance and one
//! per open stream; both are plain atomics, cheap to bump on every read.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Monotonic counters; read them with `snapshot`.
        #[derive(Debug, Default)]
        pub struct Stats {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// The names, in the order `snapshot` returns the values. Front ends export these
        /// names (Hadoop StorageStatistics, Spark metrics, `shoal cache stats`).
        pub const COUNTER_NAMES: &[&str] = &[$(stringify!($name)),*];

        impl Stats {
            pub fn snapshot(&self) -> Vec<u64> {
                vec![$(self.$name.load(Ordering::Relaxed)),*]
            }
        }
    };
}

counters! {
    /// Reads (or parts of reads) served by a cached page, in memory or on disk.
    cache_hits,
    /// Pages that had to come from the store.
    cache_misses,
    /// Bytes served from the memory tier.
    bytes_from_memory,
    /// Bytes served from disk pages.
    bytes_from_disk,
    /// Bytes fetched from stores (data only).
    bytes_from_store,
    /// Data requests (GETs) sent to stores.
    store_get_requests,
    /// Metadata requests (HEAD, LIST) sent to stores.
    store_metadata_requests,
    /// Pages fetched ahead of the reader.
    readahead_pages,
    /// Pages removed to keep a directory within its capacity.
    evictions,
    /// Page files found corrupt, truncated or foreign, removed and fetched again.
    corrupt_pages,
    /// Metadata answered from the metadata cache.
    metadata_hits,
    /// Metadata that had to be asked of the store.
    metadata_misses,
    /// Bytes fetched from stores ahead of readers, across files (`prefetch.rs`).
    prefetch_bytes,
    /// Of those, bytes of files a reader of the process opened afterwards.
    prefetch_read_bytes,
    /// Of those, bytes of files no reader opened (counted when the filesystem closes, or when
    /// a prefetch failed part-way).
    prefetch_unread_bytes,
    /// Parquet footers parsed (once per file version and process).
    parquet_footers,
    /// Coalesced GETs of Parquet column chunks, sent when a reader started a row group.
    parquet_gets,
    /// Bytes those GETs fetched (also in `bytes_from_store`).
    parquet_bytes,
    /// Bytes of column chunks fetched for a stream that it never read: the cost of a wrong
    /// guess of its columns.
    parquet_unread_bytes,
}

/// Counters of the whole process (every filesystem instance, every stream): what an executor
/// reports to Spark's metrics system.
pub fn process() -> &'static std::sync::Arc<Stats> {
    static PROCESS: std::sync::OnceLock<std::sync::Arc<Stats>> = std::sync::OnceLock::new();
    PROCESS.get_or_init(Default::default)
}

/// Counter `name` of a snapshot (values in [`COUNTER_NAMES`] order); `None` for a name that is
/// not a counter.
pub fn counter(snapshot: &[u64], name: &str) -> Option<u64> {
    let i = COUNTER_NAMES.iter().position(|n| *n == name)?;
    snapshot.get(i).copied()
}

/// Bumps a counter on several `Stats` at once.
#[macro_export]
macro_rules! bump {
    ($field:ident, $n:expr, $($stats:expr),+) => {{
        let n = $n as u64;
        $($stats.$field.fetch_add(n, ::std::sync::atomic::Ordering::Relaxed);)+
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_follows_names() {
        let s = Stats::default();
        bump!(cache_misses, 3, s);
        bump!(evictions, 1, s);
        let snap = s.snapshot();
        assert_eq!(snap.len(), COUNTER_NAMES.len());
        assert_eq!(counter(&snap, "cache_misses"), Some(3));
        assert_eq!(counter(&snap, "no_such_counter"), None);
    }
}

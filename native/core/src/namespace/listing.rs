//! Listings handed to their caller batch by batch (`Namespace::list_stream`,
//! `Namespace::walk_stream`), read from the store page by page (`store::ListPages`): a
//! listing of a million objects holds one page of them, not the million.
//!
//! A directory listing the metadata cache holds is served from it; so is a first listing that
//! one flat listing of the directory's tree answered whole (`Namespace::list_tree`, at most
//! `shoal.metadata.tree.max.entries` objects held while it is cut up). Otherwise the store is
//! listed, and the cache gets a copy of the listing as it streams by ([`ListingCopy`]): kept
//! when the listing ends whole and fits in a quarter of the cache (half for a flat listing of
//! a tree), dropped the moment it grows past that, so a listing never evicts itself. Errors
//! name the Shoal path listed and the store, as every namespace error does.

use std::collections::VecDeque;
use std::sync::Arc;

use super::FileInfo;
use crate::error::Result;
use crate::metadata::{ListingCopy, MetadataCache};
use crate::mount::Resolved;
use crate::stats::Stats;
use crate::store::{Entry, ListPages, LIST_PAGE};

/// A listing in progress. As an iterator it yields batches of at most [`LIST_PAGE`] entries;
/// an error ends it.
pub struct Listing {
    /// Entries read and not yet handed out: at most one page.
    ready: VecDeque<FileInfo>,
    source: Source,
    metadata: Arc<MetadataCache>,
    stats: Arc<Stats>,
}

debug_shows!(Listing, "Listing", |l| {
    "ready": l.ready.len(),
    "held": l.held(),
});

/// Where a listing's entries come from.
enum Source {
    /// A directory's listing the metadata cache held: the entries not yet handed out.
    Cached {
        dir: Dir,
        entries: Arc<Vec<Entry>>,
        next: usize,
    },
    /// A directory's listing read from its store, copied for the cache as it goes.
    Store {
        dir: Dir,
        pages: Box<dyn ListPages>,
        copy: ListingCopy,
    },
    /// The files of a tree: one flat listing per mount involved, in turn.
    Files {
        parts: VecDeque<Part>,
        current: Option<(Part, Box<dyn ListPages>, ListingCopy)>,
    },
    Done,
}

/// A directory being listed, and the names in it that mount points hide.
pub(super) struct Dir {
    pub r: Resolved,
    pub hidden: Vec<String>,
}

/// One mount's share of a recursive listing: the directory listed in it, and the Shoal paths
/// of the mounts nested below it, whose files it does not show.
pub(super) struct Part {
    pub r: Resolved,
    pub nested: Vec<String>,
}

impl Part {
    fn shows(&self, f: &FileInfo) -> bool {
        !self
            .nested
            .iter()
            .any(|n| f.path.starts_with(n) && f.path.as_bytes().get(n.len()) == Some(&b'/'))
    }
}

/// The error of a listing of `r`, naming its Shoal path and its store.
pub(super) fn list_error(r: &Resolved, e: crate::error::Error) -> crate::error::Error {
    e.context(
        "list",
        &format!("{} (in {})", r.path, r.mount.store.describe()),
    )
}

impl Listing {
    /// A listing of entries known already.
    pub(super) fn of(entries: Vec<FileInfo>, ns: &super::Namespace) -> Self {
        Listing {
            ready: entries.into(),
            source: Source::Done,
            metadata: ns.metadata.clone(),
            stats: ns.stats.clone(),
        }
    }

    /// A directory's listing from the cache, after the entries in `first`.
    pub(super) fn cached(
        first: Vec<FileInfo>,
        dir: Dir,
        entries: Arc<Vec<Entry>>,
        ns: &super::Namespace,
    ) -> Self {
        let mut l = Listing::of(first, ns);
        l.source = Source::Cached {
            dir,
            entries,
            next: 0,
        };
        l
    }

    /// A directory's listing from its store, after the entries in `first`.
    pub(super) fn from_store(
        first: Vec<FileInfo>,
        dir: Dir,
        ns: &super::Namespace,
    ) -> Result<Self> {
        let pages = crate::store::list_pages(&dir.r.mount.store, &dir.r.key)
            .map_err(|e| list_error(&dir.r, e))?;
        let mut l = Listing::of(first, ns);
        l.source = Source::Store {
            dir,
            pages,
            copy: ns.metadata.listing_copy(),
        };
        Ok(l)
    }

    /// The files of a tree, one mount's part after the other.
    pub(super) fn files(parts: Vec<Part>, ns: &super::Namespace) -> Self {
        let mut l = Listing::of(Vec::new(), ns);
        l.source = Source::Files {
            parts: parts.into(),
            current: None,
        };
        l
    }

    /// Entries this listing holds now: those read and not handed out, and its copy for the
    /// metadata cache (a listing served from the cache holds none of its own).
    pub fn held(&self) -> usize {
        self.ready.len()
            + match &self.source {
                Source::Store { copy, .. } => copy.held(),
                Source::Files {
                    current: Some((_, _, copy)),
                    ..
                } => copy.held(),
                _ => 0,
            }
    }

    /// Reads until an entry is ready or the listing is over; false when it is over.
    pub(super) fn fill(&mut self) -> Result<bool> {
        while self.ready.is_empty() {
            if !self.read_page()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads one page (or one batch of a cached listing) into `ready`; false at the end.
    fn read_page(&mut self) -> Result<bool> {
        // On an error the source is dropped: an error ends the listing.
        let source = std::mem::replace(&mut self.source, Source::Done);
        let (source, more) = self.read_from(source)?;
        self.source = source;
        Ok(more)
    }

    fn count_request(&self) {
        crate::bump!(
            store_metadata_requests,
            1,
            self.stats,
            crate::stats::process()
        );
    }

    fn read_from(&mut self, source: Source) -> Result<(Source, bool)> {
        match source {
            Source::Done => Ok((Source::Done, false)),
            Source::Cached {
                dir,
                entries,
                mut next,
            } => {
                let end = (next + LIST_PAGE).min(entries.len());
                self.push_dir(&dir, entries[next..end].iter().cloned());
                next = end;
                if next >= entries.len() {
                    return Ok((Source::Done, true));
                }
                Ok((Source::Cached { dir, entries, next }, true))
            }
            Source::Store {
                dir,
                mut pages,
                mut copy,
            } => match pages.next_page().map_err(|e| list_error(&dir.r, e))? {
                Some(page) => {
                    self.count_request();
                    copy.add(&page);
                    self.push_dir(&dir, page.into_iter());
                    Ok((Source::Store { dir, pages, copy }, true))
                }
                None => {
                    let m = &dir.r.mount;
                    self.metadata
                        .keep_listing(&m.name, &dir.r.key, copy, m.immutable);
                    Ok((Source::Done, false))
                }
            },
            Source::Files { mut parts, current } => {
                let (part, mut pages, mut copy) = match current {
                    Some(c) => c,
                    None => {
                        let Some(part) = parts.pop_front() else {
                            return Ok((Source::Done, false));
                        };
                        let pages =
                            crate::store::list_files_pages(&part.r.mount.store, &part.r.key)
                                .map_err(|e| list_error(&part.r, e))?;
                        (part, pages, self.metadata.files_copy())
                    }
                };
                match pages.next_page().map_err(|e| list_error(&part.r, e))? {
                    Some(page) => {
                        self.count_request();
                        copy.add(&page);
                        self.ready.extend(
                            page.into_iter()
                                .map(|e| FileInfo::from_entry(&part.r, e))
                                .filter(|f| part.shows(f)),
                        );
                        let current = Some((part, pages, copy));
                        Ok((Source::Files { parts, current }, true))
                    }
                    None => {
                        let m = &part.r.mount;
                        self.metadata.keep_files(&m.name, copy, m.immutable);
                        Ok((
                            Source::Files {
                                parts,
                                current: None,
                            },
                            true,
                        ))
                    }
                }
            }
        }
    }

    fn push_dir(&mut self, dir: &Dir, entries: impl Iterator<Item = Entry>) {
        self.ready.extend(
            entries
                .filter(|e| !dir.hidden.iter().any(|h| h == e.name()))
                .map(|e| FileInfo::from_entry(&dir.r, e)),
        );
    }

    /// The next batch of at most `max` entries (at least 1); empty once the listing is over.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<FileInfo>> {
        if !self.fill()? {
            return Ok(Vec::new());
        }
        let n = self.ready.len().min(max.max(1));
        Ok(self.ready.drain(..n).collect())
    }
}

impl Iterator for Listing {
    type Item = Result<Vec<FileInfo>>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_batch(LIST_PAGE) {
            Ok(b) if b.is_empty() => None,
            other => Some(other),
        }
    }
}

//! Under stores: where a mount's data really lives. One trait, one module per kind of store:
//! `local` (a directory, through the operating system), `object` (S3, GCS, Azure, HTTP,
//! through object_store, one module per backend) and `hdfs` (HDFS, through hdfs-native). Keys are relative to the mount's root: `""` is the root itself,
//! `a/b` a file or directory under it; they never start or end with `/` and never hold `..`.
//!
//! Errors from a store carry no Shoal path; the namespace layer adds it. Every store is built
//! behind `redact::Redacting`, so no error of it shows a secret of its mount, and every request
//! it makes is bounded by `shoal.store.timeout` (`limit`), except on `file://` mounts, where the
//! operating system decides.

mod hdfs;
pub mod limit;
mod local;
mod object;
pub mod redact;

use std::fmt::Debug;
use std::sync::Arc;

pub use hdfs::HdfsStore;
pub use local::LocalStore;
pub use object::{s3a, ObjectStoreUfs};
pub use redact::{redact_text, redact_uri};

use crate::config::{MountSpec, StoreSettings};
use crate::error::{Error, Result};

/// One file or directory in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Key relative to the mount root.
    pub key: String,
    pub is_dir: bool,
    pub len: u64,
    /// Milliseconds since the epoch; 0 when unknown.
    pub mtime_ms: i64,
    pub etag: Option<String>,
    /// What the cache keys a file's pages by: the ETag or generation, else length + mtime.
    pub version: Option<String>,
}

impl Entry {
    pub fn dir(key: impl Into<String>, mtime_ms: i64) -> Self {
        Entry {
            key: key.into(),
            is_dir: true,
            len: 0,
            mtime_ms,
            etag: None,
            version: None,
        }
    }

    pub fn file(key: impl Into<String>, len: u64, mtime_ms: i64, etag: Option<String>) -> Self {
        let version = Some(match &etag {
            Some(e) => format!("etag:{e}"),
            None => format!("lm:{len}:{mtime_ms}"),
        });
        Entry::with_version(key, len, mtime_ms, etag, version)
    }

    /// A file whose cache version is length + modification time in whole seconds even when
    /// it has an ETag: for stores whose listings carry no ETag (while HEAD does), so that a
    /// file opened after a listing and one opened by HEAD share their cached pages.
    /// Seconds, because HTTP dates (HEAD) have no milliseconds and listings may.
    pub fn file_by_mtime(
        key: impl Into<String>,
        len: u64,
        mtime_ms: i64,
        etag: Option<String>,
    ) -> Self {
        let version = Some(format!("lm:{len}:{}s", mtime_ms.div_euclid(1000)));
        Entry::with_version(key, len, mtime_ms, etag, version)
    }

    fn with_version(
        key: impl Into<String>,
        len: u64,
        mtime_ms: i64,
        etag: Option<String>,
        version: Option<String>,
    ) -> Self {
        Entry {
            key: key.into(),
            is_dir: false,
            len,
            mtime_ms,
            etag,
            version,
        }
    }

    /// The last segment of the key.
    pub fn name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }
}

/// Entries a listing hands on at a time, at most: S3's page (`max-keys` 1,000), the batch a
/// directory of the local filesystem is read in.
pub const LIST_PAGE: usize = 1000;

/// A listing read page by page: each `next_page` makes at most one request to the store (one
/// S3 `ListObjectsV2` page, one HDFS `getListing` batch) or reads at most [`LIST_PAGE`]
/// entries of a local directory, so a listing holds one page, whatever the directory's size.
/// Entries come in the store's order, each page sorted by key.
pub trait ListPages: Send {
    /// The next page; `None` once the listing is over. A page may be empty (a page of
    /// directory markers) before the end.
    fn next_page(&mut self) -> Result<Option<Vec<Entry>>>;
}

/// The pages of a listing that a store answers in one piece (`list`), or of a walk.
pub(crate) struct OnePage(pub(crate) Option<Vec<Entry>>);

impl ListPages for OnePage {
    fn next_page(&mut self) -> Result<Option<Vec<Entry>>> {
        Ok(self.0.take())
    }
}

/// The files under a directory of a store with no flat listing, page by page of each
/// directory's listing (each directory listed once, as `UnderStore::list_files` walks). It
/// holds one page and the names of the directories still to list.
struct Walk {
    store: Arc<dyn UnderStore>,
    stack: Vec<String>,
    current: Option<Box<dyn ListPages>>,
}

impl ListPages for Walk {
    fn next_page(&mut self) -> Result<Option<Vec<Entry>>> {
        loop {
            let pages = match &mut self.current {
                Some(p) => p,
                None => {
                    let Some(dir) = self.stack.pop() else {
                        return Ok(None);
                    };
                    self.current.insert(list_pages(&self.store, &dir)?)
                }
            };
            match pages.next_page()? {
                Some(page) => {
                    let (dirs, files): (Vec<Entry>, Vec<Entry>) =
                        page.into_iter().partition(|e| e.is_dir);
                    self.stack.extend(dirs.into_iter().rev().map(|d| d.key));
                    return Ok(Some(files));
                }
                None => self.current = None,
            }
        }
    }
}

/// The listing of directory `key` (as `UnderStore::list`), page by page where the store
/// pages, else in one page.
pub fn list_pages(store: &Arc<dyn UnderStore>, key: &str) -> Result<Box<dyn ListPages>> {
    Ok(match store.list_pages(key)? {
        Some(p) => p,
        None => Box::new(OnePage(Some(store.list(key)?))),
    })
}

/// Every file at any depth under directory `key` (as `UnderStore::list_files`), page by page:
/// one flat listing where the store has one, else a walk that lists one directory per page.
pub fn list_files_pages(store: &Arc<dyn UnderStore>, key: &str) -> Result<Box<dyn ListPages>> {
    Ok(match store.list_files_pages(key)? {
        Some(p) => p,
        None => Box::new(Walk {
            store: store.clone(),
            stack: vec![key.to_string()],
            current: None,
        }),
    })
}

/// Directory listings that one flat listing of a tree gave (`UnderStore::list_tree`).
#[derive(Debug, Default)]
pub struct TreeListings {
    /// Each directory whose listing the flat listing held whole, with its entries exactly as
    /// `UnderStore::list` gives them (sorted by key).
    pub dirs: Vec<(String, Vec<Entry>)>,
    /// Whether the listed directory itself is among `dirs`: the flat listing ended within its
    /// bound and said what every entry of the directory is.
    pub root_whole: bool,
    /// Directories the flat listing reached whose listing it cannot give (an empty object in
    /// them, which may be a file or a directory marker): each needs a listing of its own.
    pub alone: Vec<String>,
    /// Requests the flat listing made.
    pub requests: u64,
    /// Objects the flat listing gave, directory markers included.
    pub objects: u64,
}

/// One object a flat listing of a tree gave: its key, and its entry as a file.
pub struct Listed {
    pub key: String,
    pub file: Entry,
    /// Whether it holds no bytes: then it may be a directory marker (`dir/`) rather than a
    /// file, which a flat listing cannot tell, unless something lies below it.
    pub empty: bool,
}

/// The listings of directory `root` and of the directories below it, from the objects of a
/// flat listing of `root` in key order. `whole`: the listing ended; otherwise it stopped
/// after `objects` and only directories whose every key lies before where it stopped are
/// whole (keys under one prefix are contiguous in key order). A directory holding an empty
/// object with nothing below it is left out: that object is a file or a directory marker,
/// which only a listing of the directory tells; such directories are returned second. Entries
/// are what `UnderStore::list` gives: a name that is both a file and a prefix is listed once,
/// as a directory.
pub fn tree_listings(
    root: &str,
    objects: Vec<Listed>,
    whole: bool,
) -> (Vec<(String, Vec<Entry>)>, Vec<String>) {
    use std::collections::{BTreeMap, BTreeSet};
    let under = |dir: &str, key: &str| -> bool {
        dir.is_empty()
            || (key.len() > dir.len() && key.starts_with(dir) && key.as_bytes()[dir.len()] == b'/')
    };
    let last = objects.last().map(|o| o.key.clone());
    let parent = |key: &str| {
        key.rsplit_once('/')
            .map_or(String::new(), |(p, _)| p.to_string())
    };
    // A key with something listed below it names a directory, whatever its own object is.
    let mut prefixes: BTreeSet<String> = BTreeSet::new();
    for o in &objects {
        let mut p = parent(&o.key);
        while p != root && under(root, &p) && prefixes.insert(p.clone()) {
            p = parent(&p);
        }
    }
    let mut dirs: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    dirs.insert(root.to_string(), Vec::new());
    for p in &prefixes {
        dirs.entry(p.clone()).or_default();
        dirs.entry(parent(p))
            .or_default()
            .push(Entry::dir(p.clone(), 0));
    }
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    for o in objects {
        if !under(root, &o.key) || prefixes.contains(&o.key) {
            continue;
        }
        let dir = parent(&o.key);
        if o.empty {
            unknown.insert(dir);
            continue;
        }
        dirs.entry(dir).or_default().push(o.file);
    }
    let listings = dirs
        .into_iter()
        .filter(|(d, _)| !unknown.contains(d))
        .filter(|(d, _)| whole || last.as_deref().is_some_and(|l| !under(d, l) && d != root))
        .map(|(d, mut entries)| {
            // Directories first, so that a name both a file and a prefix stays a directory.
            entries.sort_by(|a, b| a.key.cmp(&b.key).then(b.is_dir.cmp(&a.is_dir)));
            entries.dedup_by(|a, b| a.key == b.key);
            (d, entries)
        })
        .collect();
    (listings, unknown.into_iter().collect())
}

/// Bytes read from a store, with the ETag of the object they were read from where the store's
/// answer carries one.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub data: bytes::Bytes,
    pub etag: Option<String>,
}

/// A file being written; nothing is visible in the store until `commit`.
pub trait StoreWriter: Send {
    fn write(&mut self, data: &[u8]) -> Result<()>;
    fn commit(self: Box<Self>) -> Result<()>;
    fn abort(self: Box<Self>);
}

/// The operations every store offers. Calls block the calling thread.
pub trait UnderStore: Send + Sync + Debug {
    /// The store location with no secrets in it, for messages.
    fn describe(&self) -> String;

    /// Everything that decides which bytes a key names in this store, for the identity of
    /// cached pages: for object stores the endpoint, the account and the bucket or container,
    /// not only the URI (two servers may each hold a bucket of the same name). It is hashed,
    /// never shown, and may hold what `describe` leaves out. By default `describe`.
    fn identity(&self) -> String {
        self.describe()
    }

    /// The file or directory at `key`, or `None`.
    fn stat(&self, key: &str) -> Result<Option<Entry>>;

    /// Entries directly under the directory `key`; empty when it has none or does not exist.
    fn list(&self, key: &str) -> Result<Vec<Entry>>;

    /// Every file at any depth under the directory `key`, in key order: one flat (paginated)
    /// listing where the store has one, not a directory walk. By default (stores with no flat
    /// listing: directories, HDFS) a walk that lists each directory once.
    fn list_files(&self, key: &str) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let mut stack = vec![key.to_string()];
        while let Some(dir) = stack.pop() {
            for e in self.list(&dir)? {
                if e.is_dir {
                    stack.push(e.key);
                } else {
                    out.push(e);
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The listing of directory `key` page by page (see [`ListPages`]); `None` where the store
    /// answers a listing in one piece (`list`, which [`list_pages`] then calls).
    fn list_pages(&self, _key: &str) -> Result<Option<Box<dyn ListPages>>> {
        Ok(None)
    }

    /// Every file under directory `key` page by page, from one flat listing; `None` where the
    /// store has none ([`list_files_pages`] then walks the directories).
    fn list_files_pages(&self, _key: &str) -> Result<Option<Box<dyn ListPages>>> {
        Ok(None)
    }

    /// The listings of directory `key` and of the directories below it from one flat listing
    /// of the tree, read for at most `max_entries` objects ([`tree_listings`]); `None` where
    /// the store has no flat listing that costs less than a listing per directory.
    fn list_tree(&self, _key: &str, _max_entries: usize) -> Result<Option<TreeListings>> {
        Ok(None)
    }

    /// `stat`, where a key that is no object is looked for as a directory with the first page
    /// of a flat listing of its tree (`list_tree`'s) instead of a listing read for one key: the
    /// same one request, and the tree comes back with the status (where the listing was made),
    /// so that the listing a caller makes next (Spark lists the input path it just found to be
    /// a directory) costs none. `None` where the store has no flat listing.
    fn stat_tree(&self, _key: &str) -> Result<Option<(Option<Entry>, Option<TreeListings>)>> {
        Ok(None)
    }

    /// Reads `out.len()` bytes at `pos`, fewer only at the end of the object; returns how many,
    /// and the ETag of the object they were read from where the store says. `expect` is the
    /// entry the caller opened: where it has an ETag, a store that can refuses to read another
    /// version (`If-Match`). By default one `fetch_range` request.
    fn read_at(
        &self,
        key: &str,
        expect: &Entry,
        pos: u64,
        out: &mut [u8],
    ) -> Result<(usize, Option<String>)> {
        if out.is_empty() || pos >= expect.len {
            return Ok((0, None));
        }
        let end = (pos + out.len() as u64).min(expect.len);
        let got = crate::runtime::block_on(self.fetch_range(key, expect, pos..end))??;
        let n = got.data.len().min(out.len());
        out[..n].copy_from_slice(&got.data[..n]);
        Ok((n, got.etag))
    }

    /// Fetches `range` of the file `expect` (which the caller opened) as one request, from
    /// within the runtime, with the ETag of what was read where the store gives one. Where
    /// `expect` has an ETag, a store that can refuses to serve another version (`If-Match`).
    fn fetch_range(
        &self,
        key: &str,
        expect: &Entry,
        range: std::ops::Range<u64>,
    ) -> futures::future::BoxFuture<'static, Result<Fetched>>;

    /// Whether every file's status carries the store's ETag, the same from a listing as from a
    /// status request of it (Hadoop's `fs.capability.etags.available`). `key` is where the
    /// caller asks, for a store that has to look.
    fn etags_available(&self, _key: &str) -> Result<bool> {
        Ok(false)
    }

    /// Starts writing `key`, replacing what is there on commit. Parents are implied.
    fn writer(&self, key: &str) -> Result<Box<dyn StoreWriter>>;

    /// Makes `key` exist as a directory (parents too).
    fn mkdirs(&self, key: &str) -> Result<()>;

    /// Whether directories here exist only while something is in them, and `mkdirs` writes a
    /// marker to keep an empty one: then a directory emptied by a delete or a rename needs a
    /// marker of its own to stay, as it would on a filesystem.
    fn writes_dir_markers(&self) -> bool {
        false
    }

    /// Deletes the file `key`, or the directory `key` and everything under it.
    fn delete(&self, entry: &Entry) -> Result<()>;

    /// Moves a file or directory tree; `to` does not exist and its parent does.
    fn rename(&self, from: &Entry, to: &str) -> Result<()>;

    /// Why this store takes no changes at all, when it is so whatever the mount says (an
    /// HTTP server); such a mount is read-only.
    fn read_only(&self) -> Option<&'static str> {
        None
    }
}

/// Builds the store a mount names by its URI scheme, behind `redact::Redacting`.
pub fn open_store(spec: &MountSpec, settings: &StoreSettings) -> Result<Arc<dyn UnderStore>> {
    let store = open_bare_store(spec, settings).map_err(|e| {
        Error::new(
            e.kind(),
            redact::scrub(&redact::secrets_of(spec), e.message()),
        )
    })?;
    Ok(Arc::new(redact::Redacting::new(store, spec)))
}

fn open_bare_store(spec: &MountSpec, settings: &StoreSettings) -> Result<Arc<dyn UnderStore>> {
    let url = url::Url::parse(&spec.uri).map_err(|e| {
        Error::config(format!(
            "mount '{}': shoal.mount.{}.uri '{}' is not a URI: {e}",
            spec.name,
            spec.name,
            redact_uri(&spec.uri)
        ))
    })?;
    match url.scheme() {
        "file" => {
            if !spec.options.is_empty() {
                return Err(Error::config(format!(
                    "mount '{}': file:// mounts take no options (got {:?})",
                    spec.name,
                    spec.options.keys().collect::<Vec<_>>()
                )));
            }
            Ok(Arc::new(LocalStore::new(&spec.name, &url)?))
        }
        "s3" | "s3a" | "gs" | "az" | "adl" | "azure" | "abfs" | "abfss" | "http" | "https" => {
            Ok(Arc::new(ObjectStoreUfs::new(spec, settings, &url)?))
        }
        "hdfs" => Ok(Arc::new(HdfsStore::new(spec, settings, &url)?)),
        other => Err(Error::config(format!(
            "mount '{}': unsupported store scheme '{other}' in shoal.mount.{}.uri \
             (supported: s3, s3a, gs, az, abfs, abfss, file, hdfs, http, https)",
            spec.name, spec.name
        ))),
    }
}

/// A writer that buffers whole chunks (a multipart part, an HDFS write, a cache page) and hands
/// each on when it is full: `write_chunked` is the one buffer-then-flush loop they share.
pub trait Chunked {
    type Error;
    /// The bytes of the chunk being filled.
    fn buffer(&mut self) -> &mut Vec<u8>;
    /// Takes the full chunk from `buffer`.
    fn chunk_full(&mut self) -> std::result::Result<(), Self::Error>;
    /// Whether more bytes are wanted; false ends the loop, dropping the rest.
    fn accepting(&self) -> bool {
        true
    }
}

/// Implements [`Chunked`] for a store writer whose chunk is its field `buf` and whose method
/// `$flush` hands a full one on.
macro_rules! chunked_by {
    ($ty:ty, $flush:ident) => {
        impl $crate::store::Chunked for $ty {
            type Error = $crate::error::Error;

            fn buffer(&mut self) -> &mut Vec<u8> {
                &mut self.buf
            }

            fn chunk_full(&mut self) -> $crate::error::Result<()> {
                self.$flush()
            }
        }
    };
}
pub(crate) use chunked_by;

/// Appends `data` to `w`'s buffer in chunks of `chunk` bytes, handing on each full one.
pub fn write_chunked<W: Chunked>(
    w: &mut W,
    chunk: usize,
    mut data: &[u8],
) -> std::result::Result<(), W::Error> {
    while !data.is_empty() && w.accepting() {
        let buf = w.buffer();
        let n = (chunk - buf.len()).min(data.len());
        buf.extend_from_slice(&data[..n]);
        data = &data[n..];
        if w.buffer().len() == chunk {
            w.chunk_full()?;
        }
    }
    Ok(())
}

/// `parent/child`, or `child` when `parent` is the root key.
pub fn join_key(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_stores_and_only_they_are_read_only() {
        let spec = |uri: &str| MountSpec {
            name: "m".into(),
            path: "/m".into(),
            uri: uri.into(),
            ..MountSpec::default()
        };
        let settings = StoreSettings::default();
        for uri in ["http://127.0.0.1:1/data", "https://127.0.0.1:1/"] {
            let store = open_store(&spec(uri), &settings).unwrap();
            let why = store.read_only().expect(uri);
            assert!(why.contains("http"), "{why}");
        }
        let dir = std::env::temp_dir();
        for uri in [
            "s3://bucket/prefix".to_string(),
            format!("file://{}", dir.display()),
        ] {
            assert_eq!(
                open_store(&spec(&uri), &settings).unwrap().read_only(),
                None
            );
        }
    }

    #[test]
    fn stores_never_show_their_secrets() {
        let spec = MountSpec {
            name: "m".into(),
            path: "/m".into(),
            ..MountSpec::with_options(
                "s3://bucket/p",
                &[
                    ("aws_endpoint", "http://user:pAsSwOrD-1@127.0.0.1:1"),
                    ("aws_secret_access_key", "sEcReT-2"),
                    ("aws_access_key_id", "AKIA"),
                    ("aws_region", "us-east-1"),
                    ("aws_allow_http", "true"),
                ],
            )
        };
        let settings = StoreSettings {
            max_retries: 0,
            ..StoreSettings::default()
        };
        let store = open_store(&spec, &settings).unwrap();
        let e = store.stat("k").unwrap_err();
        for shown in [format!("{store:?}"), store.describe(), e.to_string()] {
            assert!(
                !shown.contains("pAsSwOrD-1") && !shown.contains("sEcReT-2"),
                "{shown}"
            );
        }
        assert!(e.message().contains("127.0.0.1:1"), "{e}");
    }

    #[test]
    fn versions_prefer_etags() {
        assert_eq!(
            Entry::file("a", 3, 9, Some("\"x\"".into()))
                .version
                .unwrap(),
            "etag:\"x\""
        );
        assert_eq!(Entry::file("a", 3, 9, None).version.unwrap(), "lm:3:9");
        assert_eq!(Entry::file("d/e/f", 1, 0, None).name(), "f");
        // HEAD (seconds, ETag) and listing (milliseconds, no ETag) agree by mtime.
        let head = Entry::file_by_mtime("a", 3, 9_000, Some("\"x\"".into()));
        let listed = Entry::file_by_mtime("a", 3, 9_250, None);
        assert_eq!(head.version, listed.version);
        assert_eq!(head.etag.as_deref(), Some("\"x\""));
    }

    fn listed(key: &str, len: u64) -> Listed {
        Listed {
            key: key.to_string(),
            file: Entry::file(key, len, 0, None),
            empty: len == 0,
        }
    }

    fn keys(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| format!("{}{}", e.key, if e.is_dir { "/" } else { "" }))
            .collect()
    }

    fn tree(root: &str, objects: &[(&str, u64)], whole: bool) -> Vec<(String, Vec<String>)> {
        let objects = objects.iter().map(|(k, n)| listed(k, *n)).collect();
        tree_listings(root, objects, whole)
            .0
            .into_iter()
            .map(|(d, e)| (d, keys(&e)))
            .collect()
    }

    #[test]
    fn a_whole_flat_listing_gives_every_directory_s_listing() {
        let objects = [
            ("d/a.txt", 1),
            ("d/train/c1/x", 2),
            ("d/train/c1/y", 2),
            ("d/train/c2/z", 2),
            // Both a file and a prefix: listed once, as a directory.
            ("d/v", 3),
            ("d/v/w", 3),
            // `d/x-1` sorts between `d/x` and `d/x/...`.
            ("d/x", 4),
            ("d/x-1", 4),
            ("d/x/y", 4),
        ];
        let got = tree("d", &objects, true);
        let want = [
            ("d", vec!["d/a.txt", "d/train/", "d/v/", "d/x/", "d/x-1"]),
            ("d/train", vec!["d/train/c1/", "d/train/c2/"]),
            ("d/train/c1", vec!["d/train/c1/x", "d/train/c1/y"]),
            ("d/train/c2", vec!["d/train/c2/z"]),
            ("d/v", vec!["d/v/w"]),
            ("d/x", vec!["d/x/y"]),
        ];
        let want: Vec<(String, Vec<String>)> = want
            .iter()
            .map(|(d, e)| (d.to_string(), e.iter().map(|k| k.to_string()).collect()))
            .collect();
        assert_eq!(got, want);
        // An empty tree is an empty directory (as a listing of a missing one is).
        assert_eq!(tree("d", &[], true), vec![("d".to_string(), vec![])]);
        // The mount root lists from "".
        assert_eq!(
            tree("", &[("a", 1), ("b/c", 1)], true),
            vec![
                (String::new(), vec!["a".to_string(), "b/".into()]),
                ("b".to_string(), vec!["b/c".to_string()])
            ]
        );
    }

    #[test]
    fn a_cut_flat_listing_gives_only_the_directories_it_passed_whole() {
        let objects = [
            ("d/c1/x", 1),
            ("d/c1/y", 1),
            ("d/c2/deep/z", 1),
            ("d/c3/a", 1),
        ];
        // Stopped at d/c3/a: c1 and c2 (and c2/deep) are whole; c3 and d itself are not.
        let got: Vec<String> = tree("d", &objects, false)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(got, vec!["d/c1", "d/c2", "d/c2/deep"]);
        assert!(tree("d", &[], false).is_empty());
    }

    #[test]
    fn an_empty_object_with_nothing_below_leaves_its_directory_to_a_listing_of_its_own() {
        // `d/e/m` may be a file or the marker `d/e/m/` of an empty directory: only a listing
        // of d/e can tell, so d/e has no listing here; d and d/f do.
        let objects = [("d/e/f", 1), ("d/e/m", 0), ("d/f/g", 1)];
        let got: Vec<String> = tree("d", &objects, true)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(got, vec!["d", "d/f"]);
        let objects = objects.iter().map(|(k, n)| listed(k, *n)).collect();
        assert_eq!(tree_listings("d", objects, true).1, vec!["d/e"]);
        // An empty object with something below it is a directory whatever it is itself, and
        // the listed directory's own marker is not one of its entries.
        let objects = [("d", 0), ("d/e", 0), ("d/e/f", 1)];
        let got = tree("d", &objects, true);
        assert_eq!(got[0], ("d".to_string(), vec!["d/e/".to_string()]));
        assert_eq!(got[1], ("d/e".to_string(), vec!["d/e/f".to_string()]));
    }
}

//! A mount over an object store (S3 and S3-compatible servers, GCS, Azure Blob, HTTP) through
//! object_store. Directories are synthesized from key prefixes, as S3A does. Which backend a
//! URI names is object_store's `ObjectStoreScheme`; each backend's module builds its client and
//! says what decides its identity (`s3`, with its directory markers and the `fs.s3a.*`
//! mapping; `gcs`; `azure`; `http`); the operations here are shared, and ask the backend
//! (`Backend`) for what it does differently, never which store it is.
//!
//! An HTTP(S) mount is read-only. Its files are found by HEAD and read by ranged GETs, which
//! any static web server answers; listings need a WebDAV server (PROPFIND). Where the server
//! does not list, a path HEAD does not find is missing, and only files can be listed.
//!
//! On S3, `mkdirs` also writes S3A's directory marker, the empty object `dir/` (see `markers`),
//! so an empty directory persists and S3A readers of the bucket see it. Markers are kept when
//! files are written beneath them, as S3A does by default since Hadoop 3.4
//! (`fs.s3a.directory.marker.retention=keep`); S3A since 3.3.1 (3.3.4 included) reads such
//! buckets correctly whatever its own retention setting. Listings hide the markers; `delete`
//! removes them with the directory; `rename` moves them.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path as OsPath;
use object_store::{
    GetOptions, GetRange, ListResult, ObjectMeta, ObjectStore, ObjectStoreExt, ObjectStoreScheme,
    PutPayload,
};

use super::limit::Limit;
use super::{
    redact_uri, Entry, Fetched, ListPages, OnePage, StoreWriter, TreeListings, UnderStore,
    LIST_PAGE,
};
use crate::config::{MountSpec, StoreSettings};
use crate::error::{Error, ErrorKind, Result};

/// Parts of a multipart upload; S3 wants at least 5 MiB for all but the last.
const PART_SIZE: usize = 8 << 20;

/// The client settings every store starts from, before the mount's own options: a request
/// takes at most the store timeout to answer (`limit` bounds it; the client's own limit is a
/// little longer, so that the bound, and its "timed out" error, is ours), and a connection at
/// most 5 s or the store timeout to be made.
fn client_defaults(settings: &StoreSettings) -> [(object_store::ClientConfigKey, String); 2] {
    use object_store::ClientConfigKey as C;
    let ms = |d: std::time::Duration| format!("{}ms", d.as_millis().max(1));
    [
        (
            C::Timeout,
            ms(settings.timeout + std::time::Duration::from_secs(5)),
        ),
        (
            C::ConnectTimeout,
            ms(settings.timeout.min(std::time::Duration::from_secs(5))),
        ),
    ]
}

macro_rules! with_options {
    ($builder:expr, $key:ty, $client:expr, $spec:expr, $settings:expr, $retry:expr) => {{
        let mut b = $builder.with_retry($retry);
        for (k, v) in client_defaults($settings) {
            b = b.with_config($client(k), v);
        }
        for (k, v) in &$spec.options {
            let key: $key = k.to_ascii_lowercase().parse().map_err(|_| {
                Error::config(format!(
                    "mount '{}': unknown store option shoal.mount.{}.option.{k} for {}",
                    $spec.name,
                    $spec.name,
                    redact_uri(&$spec.uri)
                ))
            })?;
            b = b.with_config(key, v.clone());
        }
        b
    }};
}

fn setup_error(spec: &MountSpec, e: object_store::Error) -> Error {
    Error::config(format!(
        "mount '{}': cannot set up {}: {}",
        spec.name,
        redact_uri(&spec.uri),
        super::redact_text(&e.to_string())
    ))
}

/// A backend's builder from the environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`), the mount's URI
/// and its options.
macro_rules! configured {
    ($builder:ty, $key:ty, $m:expr) => {
        with_options!(
            <$builder>::from_env().with_url($m.spec.uri.as_str()),
            $key,
            <$key>::Client,
            $m.spec,
            $m.settings,
            $m.retry.clone()
        )
    };
}

macro_rules! build_with_options {
    ($builder:expr, $key:ty, $client:expr, $spec:expr, $settings:expr, $retry:expr) => {{
        let b = with_options!($builder, $key, $client, $spec, $settings, $retry);
        std::sync::Arc::new(b.build().map_err(|e| setup_error($spec, e))?)
            as std::sync::Arc<dyn object_store::ObjectStore>
    }};
}

// After the macros, which the backends use.
mod azure;
mod gcs;
mod http;
mod markers;
mod s3;
pub mod s3a;

/// What a backend's module builds its client from.
struct MountArgs<'a> {
    spec: &'a MountSpec,
    settings: &'a StoreSettings,
    retry: object_store::RetryConfig,
}

/// What one backend's module builds: the client, and the backend's own behaviour.
struct Built {
    store: Arc<dyn ObjectStore>,
    /// The same client's listing page by page (S3, GCS, Azure; not HTTP).
    paged: Option<Arc<dyn PaginatedListStore>>,
    /// What decides which bytes a key names (`UnderStore::identity`).
    identity: String,
    backend: Arc<dyn Backend>,
}

impl Built {
    /// A backend with no particulars (`Plain`), listed page by page.
    fn plain(store: impl ObjectStore + PaginatedListStore, identity: String) -> Self {
        let store = Arc::new(store);
        Built {
            store: store.clone(),
            paged: Some(store),
            identity,
            backend: Arc::new(Plain),
        }
    }
}

/// What a backend does differently from the others; the shared operations ask it. The
/// defaults are a writable store that lists, with no directory markers (`Plain`: GCS, Azure);
/// `s3::S3` keeps S3A's directory markers, `http::Http` is read-only and may not list.
trait Backend: Send + Sync {
    /// Why the store takes no changes, if it takes none.
    fn read_only(&self) -> Option<&'static str> {
        None
    }

    /// Whether listings can tell the ETags HEAD gives (`UnderStore::etags_available`).
    fn listings_carry_etags(&self) -> bool {
        true
    }

    /// Whether a failed listing only means that the store does not list (so HEAD decides what
    /// exists), rather than an error to report.
    fn does_not_list(&self, _e: &object_store::Error) -> bool {
        false
    }

    /// Whether `mkdirs` leaves a trace in the store (`UnderStore::writes_dir_markers`).
    fn writes_dir_markers(&self) -> bool {
        false
    }

    /// Makes the directory `key` (never the root) persist, where the store keeps empty
    /// directories; elsewhere a directory exists once something is written under it.
    fn mkdir(&self, _objects: &ObjectStoreUfs, _key: &str) -> Result<()> {
        Ok(())
    }

    /// Which of the listed objects are only directory markers; where none are written,
    /// nothing is one.
    fn markers_among(
        &self,
        _objects: &ObjectStoreUfs,
        metas: &[&object_store::ObjectMeta],
    ) -> Result<Vec<bool>> {
        Ok(vec![false; metas.len()])
    }

    /// Writes the directory markers of `dirs` (a directory moved there).
    fn put_markers(&self, _limit: &Limit, _dirs: &[OsPath]) -> Result<()> {
        Ok(())
    }

    /// Deletes whatever directory markers there are among `dirs` (directories deleted or
    /// moved away, and empty objects that may be markers).
    fn delete_markers(&self, _limit: &Limit, _dirs: Vec<OsPath>) -> Result<()> {
        Ok(())
    }
}

/// A backend with no particulars: GCS, Azure.
struct Plain;

impl Backend for Plain {}

/// Cheap to clone (a listing read page by page holds a clone); clones share what they learn.
#[derive(Clone)]
pub struct ObjectStoreUfs {
    store: Arc<dyn ObjectStore>,
    /// `store`, listing page by page; `None` for HTTP servers.
    paged: Option<Arc<dyn PaginatedListStore>>,
    /// The prefix inside the bucket/container the mount starts at.
    root: OsPath,
    uri: String,
    /// What decides which bytes a key names here (`UnderStore::identity`); may hold an access
    /// key id, so it is never shown.
    identity: String,
    /// Whether this store's listings carry ETags, learned from the first listing that holds a
    /// file. Real S3, GCS and Azure listings do; some S3-compatible servers (s3s-fs) give
    /// ETags only on HEAD. Where listings have none, pages are keyed by length + mtime whatever
    /// the source of the metadata, so a file opened after a listing and one opened by HEAD
    /// (another process, the CLI) share their cached pages.
    listing_etags: Arc<std::sync::OnceLock<bool>>,
    /// What this backend does differently (read-only, directory markers, listings).
    backend: Arc<dyn Backend>,
    /// `shoal.store.timeout`, which every request here waits at most.
    limit: Limit,
}

// The client's own debug output would show its endpoint, user info and all.
debug_shows!(ObjectStoreUfs, "ObjectStoreUfs", |o| { "uri": o.uri });

/// An object store URI with no bucket (`s3://`, `s3:///x`, `gs://`, `az://`) is a
/// configuration error naming the mount. (It used to be taken for a web server's URL, whose
/// client then panicked at its first request: "request must be valid: InvalidUri(Empty)".)
fn unnamed_bucket(spec: &MountSpec, url: &url::Url) -> Result<()> {
    if url.host_str().is_some_and(|h| !h.is_empty()) {
        return Ok(());
    }
    let (what, example) = match url.scheme() {
        // (no `abfss://container@...` here: that reads as user info, which errors mask)
        "abfs" | "abfss" => (
            "storage account",
            "the host container@account.dfs.core.windows.net, or az://container/path",
        ),
        "az" | "adl" | "azure" => ("container", "az://container/path"),
        "gs" => ("bucket", "gs://bucket/path"),
        _ => ("bucket", "s3://bucket/path"),
    };
    Err(Error::config(format!(
        "mount '{}': shoal.mount.{}.uri '{}' names no {what} (use {example})",
        spec.name,
        spec.name,
        redact_uri(&spec.uri)
    )))
}

impl ObjectStoreUfs {
    pub fn new(spec: &MountSpec, settings: &StoreSettings, url: &url::Url) -> Result<Self> {
        // No retry starts after the store timeout either: the call would be over by then.
        let retry = object_store::RetryConfig {
            max_retries: settings.max_retries,
            retry_timeout: settings.retry_timeout.min(settings.timeout),
            ..Default::default()
        };
        let uri = spec.uri.as_str();
        let m = MountArgs {
            spec,
            settings,
            retry,
        };
        let scheme = match url.scheme() {
            // A web server, whatever its host: object_store would take an Azure or S3 host
            // name for that store.
            "http" | "https" => None,
            _ => {
                unnamed_bucket(spec, url)?;
                let (s, _) = ObjectStoreScheme::parse(url).map_err(|e| {
                    Error::config(format!(
                        "mount '{}': shoal.mount.{}.uri '{}' is not an object store URI: {e}",
                        spec.name,
                        spec.name,
                        redact_uri(uri)
                    ))
                })?;
                Some(s)
            }
        };
        let built = match scheme {
            None => http::build(&m, url)?,
            Some(ObjectStoreScheme::AmazonS3) => s3::build(&m)?,
            Some(ObjectStoreScheme::GoogleCloudStorage) => gcs::build(&m)?,
            Some(ObjectStoreScheme::MicrosoftAzure) => azure::build(&m)?,
            Some(other) => {
                return Err(Error::config(format!(
                    "mount '{}': {} is not an object store Shoal mounts ({other:?})",
                    spec.name,
                    redact_uri(uri)
                )))
            }
        };
        let root = OsPath::parse(url.path()).map_err(|e| {
            Error::config(format!(
                "mount '{}': bad path in {}: {e}",
                spec.name,
                redact_uri(uri)
            ))
        })?;
        Ok(ObjectStoreUfs {
            store: built.store,
            paged: built.paged,
            root,
            limit: Limit::new(settings.timeout, &redact_uri(uri)),
            uri: redact_uri(uri),
            identity: built.identity,
            listing_etags: Arc::default(),
            backend: built.backend,
        })
    }

    fn location(&self, key: &str) -> Result<OsPath> {
        let mut loc = self.root.clone();
        for seg in key.split('/').filter(|s| !s.is_empty()) {
            let part = object_store::path::PathPart::parse(seg)
                .map_err(|e| Error::invalid(format!("'{seg}' cannot be a key segment: {e}")))?;
            loc = loc.join(part);
        }
        Ok(loc)
    }

    /// The key of a store location relative to the mount root.
    fn key_of(&self, loc: &OsPath) -> Option<String> {
        let rel: Vec<_> = loc.prefix_match(&self.root)?.collect();
        if rel.is_empty() {
            return None;
        }
        Some(
            rel.iter()
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    fn file_entry(&self, key: String, meta: &object_store::ObjectMeta) -> Entry {
        let (len, mtime, etag) = (
            meta.size,
            meta.last_modified.timestamp_millis(),
            meta.e_tag.clone(),
        );
        match self.listing_etags.get() {
            Some(true) => Entry::file(key, len, mtime, etag),
            _ => Entry::file_by_mtime(key, len, mtime, etag),
        }
    }

    /// Records whether listings carry ETags, from the files of one listing.
    fn learn_from_listing<'a>(
        &self,
        mut files: impl Iterator<Item = &'a object_store::ObjectMeta>,
    ) {
        if self.listing_etags.get().is_none() {
            if let Some(m) = files.next() {
                let has = m.e_tag.is_some();
                if self.listing_etags.set(has).is_ok() {
                    tracing::debug!(store = %self.uri, etags = has, "listings carry ETags: {has}");
                }
            }
        }
    }

    /// Learns whether listings carry ETags when no listing has said yet: one request listing
    /// the parent of `key` (which holds `key` itself), once per store and process.
    fn probe_listing_etags(&self, key: &str) -> Result<()> {
        if self.listing_etags.get().is_some() {
            return Ok(());
        }
        let parent = key.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let loc = self.location(parent)?;
        let prefix = (!loc.as_ref().is_empty()).then_some(loc);
        match self.first_listed(&format!("a listing of '{parent}'"), prefix)? {
            Ok(first) => self.learn_from_listing(first.iter()),
            // A web server that does not list: every entry comes from HEAD, which has the
            // ETag when the server gives one, so pages are keyed by it.
            Err(e) => {
                tracing::debug!(store = %self.uri, error = %e, "HTTP server does not list");
                let _ = self.listing_etags.set(true);
            }
        }
        Ok(())
    }

    /// The first object listed at or under `prefix` (the whole store for None), None when there
    /// is none; the inner error when the store is a web server that does not list. `what`
    /// names the listing in errors.
    fn first_listed(
        &self,
        what: &str,
        prefix: Option<OsPath>,
    ) -> Result<std::result::Result<Option<object_store::ObjectMeta>, Error>> {
        let store = self.store.clone();
        let first = self.limit.block(what, async move {
            let mut s = store.list(prefix.as_ref());
            s.next().await.transpose()
        })?;
        match first {
            Ok(first) => Ok(Ok(first)),
            Err(e) if self.backend.does_not_list(&e) => Ok(Err(Error::from(e))),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object at or under `key`. A directory marker `d/` shows as the location `d`.
    fn all_under(&self, key: &str) -> Result<Vec<object_store::ObjectMeta>> {
        let loc = self.location(key)?;
        let store = self.store.clone();
        let limit = self.limit.clone();
        let what = format!("a listing of '{key}'");
        crate::runtime::block_on(async move {
            let mut out = Vec::new();
            let mut s = store.list(Some(&loc));
            while let Some(m) = limit.wait(&what, s.next()).await? {
                out.push(m?);
            }
            Ok::<_, Error>(out)
        })?
    }

    /// Which of the listed objects are only directory markers (`Backend::markers_among`).
    fn markers_among(&self, metas: &[&object_store::ObjectMeta]) -> Result<Vec<bool>> {
        self.backend.markers_among(self, metas)
    }
}

impl ObjectStoreUfs {
    /// The entries of one listing (or page) of the directory at `loc`, sorted by key: its
    /// subdirectories and files, less the directory's own marker.
    fn entries_listed(&self, loc: &OsPath, listed: &ListResult) -> Vec<Entry> {
        self.learn_from_listing(listed.objects.iter().filter(|m| m.location != *loc));
        let mut out = Vec::with_capacity(listed.objects.len() + listed.common_prefixes.len());
        for p in &listed.common_prefixes {
            if let Some(k) = self.key_of(p) {
                out.push(Entry::dir(k, 0));
            }
        }
        for m in &listed.objects {
            // A directory marker ("dir/") parses to the directory's own location: skip it.
            if m.location == *loc {
                continue;
            }
            if let Some(k) = self.key_of(&m.location) {
                out.push(self.file_entry(k, m));
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        out
    }

    /// The files among objects a flat listing (or a page of it) of the directory at `loc`
    /// gave, sorted by key: less its own marker, and less the markers of directories below.
    fn files_listed(&self, loc: &OsPath, metas: &[ObjectMeta]) -> Result<Vec<Entry>> {
        self.learn_from_listing(metas.iter().filter(|m| m.location != *loc));
        // The listed directory's own marker ("dir/") parses to its location.
        let files: Vec<_> = metas.iter().filter(|m| m.location != *loc).collect();
        let is_marker = self.markers_among(&files)?;
        let mut out: Vec<Entry> = files
            .into_iter()
            .zip(is_marker)
            .filter(|(_, marker)| !marker)
            .filter_map(|(m, _)| self.key_of(&m.location).map(|k| self.file_entry(k, m)))
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }
}

/// A directory's listing, one request (`ListObjectsV2` with a delimiter, or GCS's and Azure's
/// equivalent) per page.
struct DirPages {
    ufs: ObjectStoreUfs,
    key: String,
    loc: OsPath,
    prefix: Option<String>,
    token: Option<String>,
    done: bool,
}

impl ListPages for DirPages {
    fn next_page(&mut self) -> Result<Option<Vec<Entry>>> {
        let Some(paged) = self.ufs.paged.clone().filter(|_| !self.done) else {
            return Ok(None);
        };
        let asked = self.token.take();
        let opts = PaginatedListOptions {
            delimiter: Some("/".into()),
            page_token: asked.clone(),
            ..Default::default()
        };
        let prefix = self.prefix.clone();
        let what = format!("a listing of '{}'", self.key);
        self.done = true;
        let page = self.ufs.limit.block(&what, async move {
            paged.list_paginated(prefix.as_deref(), opts).await
        })??;
        // A server that hands the same token back would never end the listing.
        self.token = page.page_token.filter(|t| Some(t) != asked.as_ref());
        self.done = self.token.is_none();
        Ok(Some(self.ufs.entries_listed(&self.loc, &page.result)))
    }
}

/// A flat listing of every object under a directory, [`LIST_PAGE`] objects at a time from the
/// client's paginated stream (which holds one page of the store's answer).
struct FilePages {
    ufs: ObjectStoreUfs,
    key: String,
    loc: OsPath,
    stream: Option<BoxStream<'static, object_store::Result<ObjectMeta>>>,
}

impl ListPages for FilePages {
    fn next_page(&mut self) -> Result<Option<Vec<Entry>>> {
        let Some(mut stream) = self.stream.take() else {
            return Ok(None);
        };
        let limit = self.ufs.limit.clone();
        let what = format!("a listing of '{}'", self.key);
        let (stream, metas) = crate::runtime::block_on(async move {
            let mut metas = Vec::new();
            while metas.len() < LIST_PAGE {
                match limit.wait(&what, stream.next()).await? {
                    Some(m) => metas.push(m?),
                    None => return Ok::<_, Error>((None, metas)),
                }
            }
            Ok((Some(stream), metas))
        })??;
        self.stream = stream;
        if metas.is_empty() && self.stream.is_none() {
            return Ok(None);
        }
        self.ufs.files_listed(&self.loc, &metas).map(Some)
    }
}

impl ObjectStoreUfs {
    /// A listing of `key` that an HTTP server refused: nothing lies under a file (so listing a
    /// file shows the file), and anything else needs a server that lists.
    fn http_list_failed(&self, key: &str, e: object_store::Error) -> Result<Vec<Entry>> {
        if !key.is_empty() {
            if let Some(entry) = self.stat(key)? {
                if !entry.is_dir {
                    return Ok(Vec::new());
                }
            }
        }
        let e = Error::from(e);
        Err(Error::new(
            e.kind(),
            format!(
                "{} does not list directories (listing an http(s):// mount needs a WebDAV \
                 server that answers PROPFIND): {}",
                self.uri,
                e.message()
            ),
        ))
    }
}

fn not_found_is_none<T>(r: object_store::Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl ObjectStoreUfs {
    /// The file at `key` (one HEAD), else the directory: whether one exists is `probe`'s
    /// answer (whether any object lies under the key; an inner error where the store does not
    /// list).
    fn stat_probing(
        &self,
        key: &str,
        probe: impl FnOnce() -> Result<std::result::Result<bool, Error>>,
    ) -> Result<Option<Entry>> {
        if key.is_empty() {
            return Ok(Some(Entry::dir("", 0)));
        }
        let loc = self.location(key)?;
        let store = self.store.clone();
        let head = self.limit.block(
            &format!("a status request (HEAD) for '{key}'"),
            async move { store.head(&loc).await },
        )?;
        let head_error = match not_found_is_none(head) {
            Ok(Some(meta)) => {
                self.probe_listing_etags(key)?;
                return Ok(Some(self.file_entry(key.to_string(), &meta)));
            }
            Ok(None) => None,
            // A refused credential: a listing would be refused too, less clearly. A store that
            // did not answer in time is not asked again.
            Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::TimedOut) => {
                return Err(e)
            }
            // Servers that keep objects as files (s3s-fs, gateways over POSIX) may fail a
            // HEAD of a key that is a directory on their disk; the listing below decides.
            Err(e) => Some(e),
        };
        // A directory exists when any object lives under the prefix.
        let any = match probe()? {
            Ok(any) => any,
            // HEAD found no file, and a web server that does not list has no directories.
            Err(e) => {
                tracing::debug!(store = %self.uri, key, error = %e, "HTTP server does not list");
                match head_error {
                    None => false,
                    Some(h) => return Err(h),
                }
            }
        };
        match (any, head_error) {
            (true, _) => Ok(Some(Entry::dir(key, 0))),
            (false, Some(e)) => {
                // The listing worked, so the store is reachable and holds nothing at or under
                // the key: such servers fail HEAD on a directory left empty on their disk.
                tracing::warn!(
                    store = %self.uri,
                    key,
                    error = %e,
                    "HEAD failed but the listing shows nothing there; treating it as missing"
                );
                Ok(None)
            }
            (false, None) => Ok(None),
        }
    }
}

impl UnderStore for ObjectStoreUfs {
    fn describe(&self) -> String {
        self.uri.clone()
    }

    fn identity(&self) -> String {
        self.identity.clone()
    }

    /// Where listings carry ETags (learned from the first listing, or from one listing of
    /// `key`'s parent, or of the whole mount): HEAD and listings then give the same one. Not
    /// on HTTP servers, which list through WebDAV if at all. A mount with no file to look at
    /// yet is taken at its protocol's word: S3's, GCS's and Azure's listings carry ETags.
    fn etags_available(&self, key: &str) -> Result<bool> {
        if !self.backend.listings_carry_etags() {
            return Ok(false);
        }
        self.probe_listing_etags(key)?;
        if self.listing_etags.get().is_none() && !key.is_empty() {
            self.probe_listing_etags("")?;
        }
        Ok(self.listing_etags.get().copied().unwrap_or(true))
    }

    fn stat(&self, key: &str) -> Result<Option<Entry>> {
        let what = format!("a listing of '{key}'");
        self.stat_probing(key, || {
            let loc = self.location(key)?;
            Ok(self.first_listed(&what, Some(loc))?.map(|m| m.is_some()))
        })
    }

    fn stat_tree(&self, key: &str) -> Result<Option<(Option<Entry>, Option<TreeListings>)>> {
        if self.paged.is_none() || key.is_empty() {
            return Ok(None);
        }
        let mut tree = None;
        let found = self.stat_probing(key, || {
            // One page: a directory of up to a page of objects comes back whole.
            let t = self
                .list_tree(key, 1)?
                .expect("a paginated store lists trees");
            let any = t.objects > 0;
            tree = Some(t);
            Ok(Ok(any))
        })?;
        Ok(Some((found, tree)))
    }

    fn list(&self, key: &str) -> Result<Vec<Entry>> {
        let loc = self.location(key)?;
        let store = self.store.clone();
        let prefix = if key.is_empty() && self.root.as_ref().is_empty() {
            None
        } else {
            Some(loc.clone())
        };
        let listed = match self
            .limit
            .block(&format!("a listing of '{key}'"), async move {
                store.list_with_delimiter(prefix.as_ref()).await
            })? {
            Ok(l) => l,
            Err(e) if self.backend.does_not_list(&e) => return self.http_list_failed(key, e),
            Err(e) => return Err(e.into()),
        };
        Ok(self.entries_listed(&loc, &listed))
    }

    fn list_pages(&self, key: &str) -> Result<Option<Box<dyn ListPages>>> {
        if self.paged.is_none() {
            return Ok(None);
        }
        let loc = self.location(key)?;
        // A paginated listing adds no delimiter to its prefix.
        let prefix = (!loc.as_ref().is_empty()).then(|| format!("{loc}/"));
        Ok(Some(Box::new(DirPages {
            ufs: self.clone(),
            key: key.to_string(),
            loc,
            prefix,
            token: None,
            done: false,
        })))
    }

    fn list_files_pages(&self, key: &str) -> Result<Option<Box<dyn ListPages>>> {
        if self.paged.is_none() {
            return Ok(Some(Box::new(OnePage(Some(self.list_files(key)?)))));
        }
        let loc = self.location(key)?;
        let prefix = (!loc.as_ref().is_empty()).then_some(loc.clone());
        let stream = self.store.list(prefix.as_ref());
        Ok(Some(Box::new(FilePages {
            ufs: self.clone(),
            key: key.to_string(),
            loc,
            stream: Some(stream),
        })))
    }

    fn list_tree(&self, key: &str, max_entries: usize) -> Result<Option<TreeListings>> {
        let Some(paged) = self.paged.clone() else {
            return Ok(None);
        };
        let loc = self.location(key)?;
        let prefix = (!loc.as_ref().is_empty()).then(|| format!("{loc}/"));
        let what = format!("a listing of '{key}'");
        let mut objects = Vec::new();
        let (mut token, mut requests, mut listed) = (None::<String>, 0u64, 0usize);
        let whole = loop {
            let asked = token.take();
            let opts = PaginatedListOptions {
                page_token: asked.clone(),
                ..Default::default()
            };
            let prefix = prefix.clone();
            let paged = paged.clone();
            let page = self.limit.block(&what, async move {
                paged.list_paginated(prefix.as_deref(), opts).await
            })??;
            requests += 1;
            let metas = page.result.objects;
            listed += metas.len();
            self.learn_from_listing(metas.iter().filter(|m| m.location != loc));
            for m in &metas {
                if let Some(k) = self.key_of(&m.location) {
                    objects.push(super::Listed {
                        file: self.file_entry(k.clone(), m),
                        key: k,
                        empty: m.size == 0,
                    });
                }
            }
            // A server that hands the same token back would never end the listing.
            token = page.page_token.filter(|t| Some(t) != asked.as_ref());
            if token.is_none() {
                break true;
            }
            if objects.len() >= max_entries {
                break false;
            }
        };
        let listed = listed as u64;
        let (dirs, alone) = super::tree_listings(key, objects, whole);
        Ok(Some(TreeListings {
            root_whole: whole && !alone.iter().any(|d| d == key),
            dirs,
            alone,
            requests,
            objects: listed,
        }))
    }

    fn list_files(&self, key: &str) -> Result<Vec<Entry>> {
        let loc = self.location(key)?;
        let prefix = (!loc.as_ref().is_empty()).then_some(loc.clone());
        let store = self.store.clone();
        let limit = self.limit.clone();
        let what = format!("a listing of '{key}'");
        let listed = crate::runtime::block_on(async move {
            let mut out = Vec::new();
            let mut s = store.list(prefix.as_ref());
            while let Some(m) = limit.wait(&what, s.next()).await? {
                match m {
                    Ok(m) => out.push(m),
                    Err(e) => return Ok(Err(e)),
                }
            }
            Ok::<_, Error>(Ok::<_, object_store::Error>(out))
        })??;
        let metas = match listed {
            Ok(m) => m,
            Err(e) if self.backend.does_not_list(&e) => {
                // A file lists itself; nothing lies under it.
                self.http_list_failed(key, e)?;
                return Ok(self.stat(key)?.into_iter().collect());
            }
            Err(e) => return Err(e.into()),
        };
        self.files_listed(&loc, &metas)
    }

    fn fetch_range(
        &self,
        key: &str,
        expect: &Entry,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'static, Result<Fetched>> {
        let loc = match self.location(key) {
            Ok(l) => l,
            Err(e) => return futures::future::ready(Err(e)).boxed(),
        };
        let store = self.store.clone();
        let what = format!("a read of '{key}' (bytes {}-{})", range.start, range.end);
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range)),
            if_match: expect.etag.clone(),
            ..Default::default()
        };
        let limit = self.limit.clone();
        async move {
            let r = limit.wait(&what, store.get_opts(&loc, opts)).await??;
            let etag = r.meta.e_tag.clone();
            Ok(Fetched {
                data: limit.collect(&what, r.into_stream()).await?,
                etag,
            })
        }
        .boxed()
    }

    fn writer(&self, key: &str) -> Result<Box<dyn StoreWriter>> {
        Ok(Box::new(ObjectWriter {
            store: self.store.clone(),
            loc: self.location(key)?,
            buf: Vec::new(),
            upload: None,
            limit: self.limit.clone(),
        }))
    }

    fn writes_dir_markers(&self) -> bool {
        self.backend.writes_dir_markers()
    }

    fn mkdirs(&self, key: &str) -> Result<()> {
        if key.is_empty() {
            return Ok(());
        }
        self.backend.mkdir(self, key)
    }

    fn delete(&self, entry: &Entry) -> Result<()> {
        let (files, dirs) = if entry.is_dir {
            let own = self.location(&entry.key)?;
            let metas = self.all_under(&entry.key)?;
            let mut files = Vec::with_capacity(metas.len());
            let mut dirs = Vec::new();
            for m in metas {
                if m.location == own {
                    continue; // the directory's own marker, deleted last
                }
                // An empty object may be a subdirectory's marker: delete "d" and "d/" both
                // (S3 answers success for a key that is not there).
                if m.size == 0 {
                    dirs.push(m.location.clone());
                }
                files.push(m.location);
            }
            dirs.push(own);
            (files, dirs)
        } else {
            (vec![self.location(&entry.key)?], Vec::new())
        };
        let store = self.store.clone();
        let limit = self.limit.clone();
        let what = format!("a delete under '{}'", entry.key);
        crate::runtime::block_on(async move {
            let stream = futures::stream::iter(files.into_iter().map(Ok)).boxed();
            let mut results = store.delete_stream(stream);
            while let Some(r) = limit.wait(&what, results.next()).await? {
                match r {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(Error::from(e)),
                }
            }
            Ok(())
        })??;
        self.backend.delete_markers(&self.limit, dirs)
    }

    fn read_only(&self) -> Option<&'static str> {
        self.backend.read_only()
    }

    fn rename(&self, from: &Entry, to: &str) -> Result<()> {
        // Objects to copy, and directory markers to recreate, at their new locations.
        let mut files: Vec<(OsPath, OsPath)> = Vec::new();
        let mut dirs: Vec<(OsPath, OsPath)> = Vec::new();
        if from.is_dir {
            let src_root = self.location(&from.key)?;
            let dst_root = self.location(to)?;
            let metas = self.all_under(&from.key)?;
            let refs: Vec<_> = metas.iter().collect();
            let is_marker = self.markers_among(&refs)?;
            for (m, marker) in metas.iter().zip(is_marker) {
                let rel: Vec<_> = m
                    .location
                    .prefix_match(&src_root)
                    .map(|p| p.collect())
                    .unwrap_or_default();
                let mut dst = dst_root.clone();
                for part in rel {
                    dst = dst.join(part);
                }
                if m.location == src_root || marker {
                    dirs.push((m.location.clone(), dst));
                } else {
                    files.push((m.location.clone(), dst));
                }
            }
        } else {
            files.push((self.location(&from.key)?, self.location(to)?));
        }
        let store = self.store.clone();
        let moved_files = files.clone();
        let limit = self.limit.clone();
        crate::runtime::block_on(async move {
            for (src, dst) in moved_files {
                let what = format!("a copy of '{src}' to '{dst}'");
                limit.wait(&what, store.copy(&src, &dst)).await??;
            }
            Ok::<_, Error>(())
        })??;
        let (sources, targets): (Vec<_>, Vec<_>) = dirs.into_iter().unzip();
        self.backend.put_markers(&self.limit, &targets)?;
        // Only once everything exists at the destination is the source removed.
        let store = self.store.clone();
        let limit = self.limit.clone();
        crate::runtime::block_on(async move {
            for (src, _) in files {
                let what = format!("a delete of '{src}'");
                limit.wait(&what, store.delete(&src)).await??;
            }
            Ok::<_, Error>(())
        })??;
        self.backend.delete_markers(&self.limit, sources)
    }
}

/// Buffers up to one part; small files become one PUT, large ones a multipart upload.
struct ObjectWriter {
    store: Arc<dyn ObjectStore>,
    loc: OsPath,
    buf: Vec<u8>,
    upload: Option<Box<dyn object_store::MultipartUpload>>,
    /// Each request of the write (one part, the completion) waits at most the store timeout.
    limit: Limit,
}

impl ObjectWriter {
    fn what(&self, request: &str) -> String {
        format!("{request} of '{}'", self.loc)
    }

    fn flush_part(&mut self) -> Result<()> {
        let part = PutPayload::from(std::mem::take(&mut self.buf));
        let store = self.store.clone();
        let loc = self.loc.clone();
        let mut upload = match self.upload.take() {
            Some(u) => u,
            None => self
                .limit
                .block(&self.what("the start of an upload"), async move {
                    store.put_multipart(&loc).await
                })??,
        };
        let fut = upload.put_part(part);
        let r = self.limit.block(&self.what("a part upload"), fut);
        self.upload = Some(upload);
        r??;
        Ok(())
    }

    /// Abandons the multipart upload, if one was started (best effort).
    fn abandon(&mut self) {
        if let Some(mut u) = self.upload.take() {
            let what = self.what("the abort of an upload");
            let _ = self.limit.block(&what, async move { u.abort().await });
        }
    }
}

super::chunked_by!(ObjectWriter, flush_part);

impl StoreWriter for ObjectWriter {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        super::write_chunked(self, PART_SIZE, data)
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        match self.upload.take() {
            None => {
                let payload = PutPayload::from(std::mem::take(&mut self.buf));
                let store = self.store.clone();
                let loc = self.loc.clone();
                self.limit.block(&self.what("a write"), async move {
                    store.put(&loc, payload).await
                })??;
                Ok(())
            }
            Some(u) => {
                self.upload = Some(u);
                if !self.buf.is_empty() {
                    self.flush_part()?;
                }
                let mut u = self.upload.take().expect("upload present");
                let limit = self.limit.clone();
                let what = self.what("the completion of an upload");
                let r = crate::runtime::block_on(async move {
                    match limit.wait(&what, u.complete()).await? {
                        Ok(_) => Ok(()),
                        Err(e) => {
                            let _ = limit.wait(&what, u.abort()).await;
                            Err(Error::from(e))
                        }
                    }
                })?;
                r
            }
        }
    }

    fn abort(mut self: Box<Self>) {
        self.abandon();
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        self.abandon();
    }
}

//! A mount over HDFS (`hdfs://namenode:port/path`) through hdfs-native, a pure-Rust client of
//! the NameNode and DataNode protocols (no JVM, no libhdfs). HDFS has real directories, so
//! `mkdirs` persists empty ones, and rename is one atomic NameNode operation. Files have no
//! ETag: pages are keyed by length + modification time (milliseconds, the same in listings and
//! in file status). Writes go to a hidden temporary file beside the target, renamed over it on
//! commit (HDFS's rename with overwrite is atomic), so readers never see a partial file.
//!
//! Mount options (`shoal.mount.<name>.option.<key>`): `user` acts as that HDFS user (simple
//! authentication; otherwise `HADOOP_USER_NAME` or the process's user); keys starting with
//! `dfs.`, `fs.`, `hadoop.` or `ipc.` are Hadoop client settings (HA name services,
//! `dfs.client.use.datanode.hostname`, ...), on top of `HADOOP_CONF_DIR`'s `core-site.xml` and
//! `hdfs-site.xml`, which the client reads itself.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use hdfs_native::{Client, ClientBuilder, HdfsError, WriteOptions};

use super::limit::Limit;
use super::{join_key, redact_uri, Entry, Fetched, ListPages, StoreWriter, UnderStore, LIST_PAGE};
use crate::config::{MountSpec, StoreSettings};
use crate::error::{Error, ErrorKind, Result};

/// Temporary files of unfinished writes; hidden from listings (as in `local`).
const TMP_MARK: &str = ".shoal-tmp-";
/// Bytes a writer gathers before handing them to the client (one runtime round trip each).
const WRITE_CHUNK: usize = 1 << 20;
/// Option prefixes passed to the client as Hadoop configuration.
const HADOOP_PREFIXES: [&str; 4] = ["dfs.", "fs.", "hadoop.", "ipc."];
/// How often the client tries a NameNode again (with a doubling pause from 0.5 s) after a
/// connection failure; Hadoop's default of 15 makes an unreachable NameNode a 3-minute wait.
const FAILOVER_ATTEMPTS: &str = "dfs.client.failover.max.attempts";

pub struct HdfsStore {
    client: Client,
    /// Absolute HDFS path of the mount root, without a trailing `/` (empty for `/`).
    root: String,
    uri: String,
    /// `shoal.store.timeout`, which every NameNode and DataNode request here waits at most.
    limit: Limit,
}

debug_shows!(HdfsStore, "HdfsStore", |h| { "uri": h.uri });

impl HdfsStore {
    pub fn new(spec: &MountSpec, settings: &StoreSettings, url: &url::Url) -> Result<Self> {
        let bad = |why: String| {
            Error::config(format!(
                "mount '{}': {} {why}",
                spec.name,
                redact_uri(&spec.uri)
            ))
        };
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad(
                "names no NameNode (use hdfs://host:port/path or hdfs://nameservice/path)".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("may not have a query or fragment".into()));
        }
        let mut config = Vec::new();
        let mut user = None;
        for (k, v) in &spec.options {
            if k == "user" {
                user = Some(v.clone());
            } else if HADOOP_PREFIXES.iter().any(|p| k.starts_with(p)) {
                config.push((k.clone(), v.clone()));
            } else {
                return Err(Error::config(format!(
                    "mount '{}': unknown store option shoal.mount.{}.option.{k} for {} \
                     (hdfs:// mounts take 'user' and Hadoop keys starting with {})",
                    spec.name,
                    spec.name,
                    redact_uri(&spec.uri),
                    HADOOP_PREFIXES.join(", ")
                )));
            }
        }
        // A NameNode that cannot be reached is tried again as often as any store request
        // (`shoal.store.max.retries`), unless the mount sets Hadoop's own key.
        if !config.iter().any(|(k, _)| k == FAILOVER_ATTEMPTS) {
            config.push((FAILOVER_ATTEMPTS.into(), settings.max_retries.to_string()));
        }
        let mut builder = ClientBuilder::new()
            .with_url(&url[..url::Position::BeforePath])
            .with_io_runtime(crate::runtime::handle())
            .with_config(config);
        if let Some(u) = user {
            builder = builder.with_user(u);
        }
        let client = builder
            .build()
            .map_err(|e| bad(format!("cannot be set up: {e}")))?;
        Ok(HdfsStore {
            client,
            root: url.path().trim_end_matches('/').to_string(),
            uri: redact_uri(&spec.uri),
            limit: Limit::new(settings.timeout, &redact_uri(&spec.uri)),
        })
    }

    /// The absolute HDFS path of `key`.
    fn path(&self, key: &str) -> String {
        match (self.root.is_empty(), key.is_empty()) {
            (true, true) => "/".to_string(),
            (false, true) => self.root.clone(),
            (_, false) => format!("{}/{key}", self.root),
        }
    }

    fn entry(key: String, st: &hdfs_native::client::FileStatus) -> Entry {
        let mtime_ms = st.modification_time as i64;
        if st.isdir {
            Entry::dir(key, mtime_ms)
        } else {
            Entry::file(key, st.length as u64, mtime_ms, None)
        }
    }

    /// The directory `key`'s entries, or `None` when it does not exist.
    fn list_dir(&self, key: &str) -> Result<Option<Vec<Entry>>> {
        let path = self.path(key);
        let client = self.client.clone();
        let listed = {
            let path = path.clone();
            self.limit
                .block(&format!("a listing of '{key}'"), async move {
                    client.list_status(&path, false).await
                })?
        };
        let statuses = match listed {
            Ok(s) => s,
            Err(e) => {
                return match kind_of(&e) {
                    ErrorKind::NotFound | ErrorKind::NotADirectory => Ok(None),
                    _ => Err(hdfs_error(e)),
                }
            }
        };
        Ok(Some(entries_listed(&path, key, &statuses)))
    }
}

/// The entries of directory `key` (at HDFS path `path`) among statuses its listing gave,
/// sorted by key: a file "lists" itself under its own path, and is left out.
fn entries_listed(
    path: &str,
    key: &str,
    statuses: &[hdfs_native::client::FileStatus],
) -> Vec<Entry> {
    let mut out = Vec::with_capacity(statuses.len());
    for st in statuses {
        let Some(name) = st
            .path
            .strip_prefix(path.trim_end_matches('/'))
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|n| !n.is_empty() && !n.contains('/'))
        else {
            continue;
        };
        if name.contains(TMP_MARK) {
            continue;
        }
        out.push(HdfsStore::entry(join_key(key, name), st));
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// A directory's listing, [`LIST_PAGE`] entries at a time from the client's paged listing (one
/// `getListing` call per batch the NameNode hands out, `dfs.ls.limit`, 1,000 by default).
struct HdfsPages {
    stream: Option<
        futures::stream::BoxStream<'static, hdfs_native::Result<hdfs_native::client::FileStatus>>,
    >,
    path: String,
    key: String,
    limit: Limit,
}

impl ListPages for HdfsPages {
    fn next_page(&mut self) -> Result<Option<Vec<Entry>>> {
        let Some(mut stream) = self.stream.take() else {
            return Ok(None);
        };
        let limit = self.limit.clone();
        let what = format!("a listing of '{}'", self.key);
        let (stream, statuses, failed) = crate::runtime::block_on(async move {
            let mut statuses = Vec::new();
            while statuses.len() < LIST_PAGE {
                match limit.wait(&what, stream.next()).await? {
                    Some(Ok(st)) => statuses.push(st),
                    Some(Err(e)) => return Ok::<_, Error>((None, statuses, Some(e))),
                    None => return Ok((None, statuses, None)),
                }
            }
            Ok((Some(stream), statuses, None))
        })??;
        self.stream = stream;
        match failed {
            // Not there, or not a directory: nothing under it, as `list` says.
            Some(e) if matches!(kind_of(&e), ErrorKind::NotFound | ErrorKind::NotADirectory) => {}
            Some(e) => return Err(hdfs_error(e)),
            None => {}
        }
        if statuses.is_empty() && self.stream.is_none() {
            return Ok(None);
        }
        Ok(Some(entries_listed(&self.path, &self.key, &statuses)))
    }
}

/// Shoal's kind for an HDFS error: by the Java exception class the NameNode sent, never by
/// message text.
fn kind_of(e: &HdfsError) -> ErrorKind {
    match e {
        HdfsError::FileNotFound(_) | HdfsError::BlocksNotFound(_) => ErrorKind::NotFound,
        HdfsError::AlreadyExists(_) => ErrorKind::AlreadyExists,
        HdfsError::IsADirectoryError(_) => ErrorKind::IsADirectory,
        HdfsError::ChecksumError => ErrorKind::Corrupt,
        HdfsError::InvalidPath(_) | HdfsError::InvalidArgument(_) => ErrorKind::InvalidArgument,
        HdfsError::UnsupportedFeature(_) | HdfsError::UnsupportedErasureCodingPolicy(_) => {
            ErrorKind::Unsupported
        }
        HdfsError::IOError(io) => Error::from(std::io::Error::new(io.kind(), "")).kind(),
        HdfsError::RPCError(class, _) | HdfsError::FatalRPCError(class, _) => {
            match class.rsplit('.').next().unwrap_or(class) {
                "AccessControlException" | "AuthorizationException" => ErrorKind::PermissionDenied,
                "FileNotFoundException" => ErrorKind::NotFound,
                "FileAlreadyExistsException" | "AlreadyBeingCreatedException" => {
                    ErrorKind::AlreadyExists
                }
                "ParentNotDirectoryException" => ErrorKind::NotADirectory,
                "PathIsNotEmptyDirectoryException" => ErrorKind::NotEmpty,
                "PathIsNotDirectoryException" => ErrorKind::NotADirectory,
                "InvalidPathException" | "HadoopIllegalArgumentException" => {
                    ErrorKind::InvalidArgument
                }
                "UnsupportedOperationException" => ErrorKind::Unsupported,
                "SafeModeException" | "StandbyException" => ErrorKind::Other,
                _ => ErrorKind::Other,
            }
        }
        HdfsError::SASLError(_) | HdfsError::GSSAPIError(..) | HdfsError::NoSASLMechanism => {
            ErrorKind::PermissionDenied
        }
        _ => ErrorKind::Other,
    }
}

fn hdfs_error(e: HdfsError) -> Error {
    let kind = kind_of(&e);
    // The NameNode's messages repeat the class name first; keep the text, it names the cause.
    Error::new(kind, e.to_string())
}

impl UnderStore for HdfsStore {
    fn describe(&self) -> String {
        self.uri.clone()
    }

    fn stat(&self, key: &str) -> Result<Option<Entry>> {
        let path = self.path(key);
        let client = self.client.clone();
        let what = format!("a status request for '{key}'");
        match self
            .limit
            .block(&what, async move { client.get_file_info(&path).await })?
        {
            Ok(st) => Ok(Some(Self::entry(key.to_string(), &st))),
            Err(e) => match kind_of(&e) {
                // `file/child`: nothing there, as on a local disk.
                ErrorKind::NotFound | ErrorKind::NotADirectory => Ok(None),
                _ => Err(hdfs_error(e)),
            },
        }
    }

    fn list(&self, key: &str) -> Result<Vec<Entry>> {
        Ok(self.list_dir(key)?.unwrap_or_default())
    }

    fn list_pages(&self, key: &str) -> Result<Option<Box<dyn ListPages>>> {
        let path = self.path(key);
        Ok(Some(Box::new(HdfsPages {
            stream: Some(self.client.list_status_iter(&path, false).into_stream()),
            path,
            key: key.to_string(),
            limit: self.limit.clone(),
        })))
    }

    fn fetch_range(
        &self,
        key: &str,
        expect: &Entry,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'static, Result<Fetched>> {
        let path = self.path(key);
        let client = self.client.clone();
        let want_len = expect.len;
        let limit = self.limit.clone();
        let what = format!("a read of '{key}' (bytes {}-{})", range.start, range.end);
        async move {
            let reader = limit
                .wait(&what, client.read(&path))
                .await?
                .map_err(hdfs_error)?;
            let len = reader.file_length() as u64;
            if len != want_len {
                // HDFS has no conditional read; a changed length is a changed file.
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!(
                        "the file changed in the store while it was being read \
                         (length {want_len} when opened, now {len})"
                    ),
                ));
            }
            let start = range.start.min(len);
            let end = range.end.min(len);
            if start >= end {
                return Ok(Fetched {
                    data: Bytes::new(),
                    etag: None,
                });
            }
            let pieces = reader
                .read_range_stream(start as usize, (end - start) as usize)
                .map(|r| r.map_err(hdfs_error));
            Ok(Fetched {
                data: limit.collect(&what, pieces).await?,
                etag: None,
            })
        }
        .boxed()
    }

    fn writer(&self, key: &str) -> Result<Box<dyn StoreWriter>> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let (parent, name) = match key.rsplit_once('/') {
            Some((p, n)) => (p, n),
            None if key.is_empty() => return Err(Error::invalid("cannot write the mount root")),
            None => ("", key),
        };
        let tmp = self.path(&join_key(
            parent,
            &format!(
                ".{name}{TMP_MARK}{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ),
        ));
        let client = self.client.clone();
        let tmp2 = tmp.clone();
        let file = self
            .limit
            .block(&format!("the creation of '{key}'"), async move {
                client
                    .create(&tmp2, WriteOptions::default().create_parent(true))
                    .await
            })?
            .map_err(hdfs_error)?;
        Ok(Box::new(HdfsWriter {
            limit: self.limit.clone(),
            client: self.client.clone(),
            file: Some(file),
            buf: Vec::new(),
            tmp,
            target: self.path(key),
        }))
    }

    fn mkdirs(&self, key: &str) -> Result<()> {
        let path = self.path(key);
        let client = self.client.clone();
        let what = format!("a mkdirs of '{key}'");
        self.limit
            .block(
                &what,
                async move { client.mkdirs(&path, 0o755, true).await },
            )?
            .map_err(|e| match kind_of(&e) {
                ErrorKind::AlreadyExists | ErrorKind::NotADirectory => {
                    Error::new(ErrorKind::NotADirectory, "a file is in the way")
                }
                _ => hdfs_error(e),
            })
    }

    fn delete(&self, entry: &Entry) -> Result<()> {
        let client = self.client.clone();
        if entry.is_dir && entry.key.is_empty() {
            // The mount root stays; its contents go.
            let paths: Vec<String> = self
                .list_dir("")?
                .unwrap_or_default()
                .iter()
                .map(|e| self.path(&e.key))
                .collect();
            let limit = self.limit.clone();
            return crate::runtime::block_on(async move {
                for p in paths {
                    let what = format!("a delete of '{p}'");
                    limit
                        .wait(&what, client.delete(&p, true))
                        .await?
                        .map_err(hdfs_error)?;
                }
                Ok(())
            })?;
        }
        let path = self.path(&entry.key);
        let recursive = entry.is_dir;
        let what = format!("a delete of '{}'", entry.key);
        self.limit
            .block(&what, async move { client.delete(&path, recursive).await })?
            .map(|_| ())
            .map_err(hdfs_error)
    }

    fn rename(&self, from: &Entry, to: &str) -> Result<()> {
        let (src, dst) = (self.path(&from.key), self.path(to));
        let client = self.client.clone();
        let what = format!("a rename of '{}' to '{to}'", from.key);
        self.limit
            .block(&what, async move { client.rename(&src, &dst, false).await })?
            .map_err(hdfs_error)
    }
}

/// Writes a hidden temporary file; `commit` closes it and renames it over the target.
struct HdfsWriter {
    /// Each request of the write waits at most the store timeout.
    limit: Limit,
    client: Client,
    file: Option<hdfs_native::file::FileWriter>,
    buf: Vec<u8>,
    tmp: String,
    target: String,
}

impl HdfsWriter {
    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut file = self
            .file
            .take()
            .ok_or_else(|| Error::invalid("write after close"))?;
        let data = Bytes::from(std::mem::take(&mut self.buf));
        let what = format!("a write of '{}'", self.target);
        let (file, r) = self.limit.block(&what, async move {
            let r = file.write_bytes(data).await;
            (file, r)
        })?;
        self.file = Some(file);
        r.map(|_| ()).map_err(hdfs_error)
    }

    /// Deletes the temporary file (best effort).
    fn discard(&mut self) {
        self.file.take();
        let client = self.client.clone();
        let tmp = self.tmp.clone();
        let what = format!("a delete of '{tmp}'");
        let _ = self
            .limit
            .block(&what, async move { client.delete(&tmp, false).await });
    }
}

super::chunked_by!(HdfsWriter, flush);

impl StoreWriter for HdfsWriter {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.file.is_none() {
            return Err(Error::invalid("write after close"));
        }
        super::write_chunked(self, WRITE_CHUNK, data)
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        let result = (|| -> Result<()> {
            self.flush()?;
            let mut file = self
                .file
                .take()
                .ok_or_else(|| Error::invalid("closed twice"))?;
            let (client, tmp, target) =
                (self.client.clone(), self.tmp.clone(), self.target.clone());
            let what = format!("the completion of '{target}'");
            self.limit
                .block(&what, async move {
                    file.close().await?;
                    client.rename(&tmp, &target, true).await
                })?
                .map_err(hdfs_error)
        })();
        if result.is_err() {
            self.discard();
        }
        result
    }

    fn abort(mut self: Box<Self>) {
        self.discard();
    }
}

impl Drop for HdfsWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.discard();
        }
    }
}

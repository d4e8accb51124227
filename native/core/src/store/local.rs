//! A mount over a local (or network-mounted POSIX) directory, through std::fs: real
//! directories, positioned reads, writes to a temporary name renamed into place.
//!
//! Symbolic links are followed as the operating system resolves them, as Hadoop's
//! LocalFileSystem and every POSIX reader of the directory do, also when they lead out of the
//! mount's directory (a `..` in a Shoal path cannot; a link placed in the directory can, as it
//! can for those readers). Dangling links and links that loop are left out of listings. A
//! directory whose device and inode are those of a directory on its own path from the mount
//! root (a link to an ancestor, or a bind mount of one) is left out of that listing too, with a
//! warning: so a recursive listing or `load` ends, every directory being walked at most once
//! per path.

use std::fs;
use std::io::{ErrorKind as IoKind, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use super::{join_key, Entry, Fetched, ListPages, OnePage, StoreWriter, UnderStore, LIST_PAGE};
use crate::error::{Error, ErrorKind, Result};

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(mount: &str, url: &url::Url) -> Result<Self> {
        let root = url.to_file_path().map_err(|_| {
            Error::config(format!(
                "mount '{mount}': '{url}' is not a local directory URI (use file:///abs/dir)"
            ))
        })?;
        Ok(LocalStore { root })
    }

    fn path(&self, key: &str) -> PathBuf {
        if key.is_empty() {
            self.root.clone()
        } else {
            self.root.join(key)
        }
    }

    /// (device, inode) of the mount root and of each directory from it down to `key`, as the
    /// path resolves them.
    fn directories_on_path(&self, key: &str) -> Result<Vec<(u64, u64)>> {
        use std::os::unix::fs::MetadataExt;
        let mut out = Vec::new();
        let mut dir = self.root.clone();
        let meta = fs::metadata(&dir)?;
        out.push((meta.dev(), meta.ino()));
        for seg in key.split('/').filter(|s| !s.is_empty()) {
            dir.push(seg);
            let meta = fs::metadata(&dir)?;
            out.push((meta.dev(), meta.ino()));
        }
        Ok(out)
    }

    fn entry(key: &str, meta: &fs::Metadata) -> Entry {
        let mtime_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        if meta.is_dir() {
            Entry::dir(key, mtime_ms)
        } else {
            Entry::file(key, meta.len(), mtime_ms, None)
        }
    }
}

/// A directory read [`LIST_PAGE`] entries at a time.
struct DirPages {
    store: LocalStore,
    key: String,
    dir: Option<fs::ReadDir>,
    /// (device, inode) of every directory from the mount root to this one, once needed.
    on_path: Option<Vec<(u64, u64)>>,
}

impl LocalStore {
    /// The pages of directory `key`; `None` when it is not there or not a directory.
    fn dir_pages(&self, key: &str) -> Result<Option<DirPages>> {
        let dir = match fs::read_dir(self.path(key)) {
            Ok(d) => d,
            Err(e) if absent(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(DirPages {
            store: self.clone(),
            key: key.to_string(),
            dir: Some(dir),
            on_path: None,
        }))
    }
}

impl ListPages for DirPages {
    fn next_page(&mut self) -> Result<Option<Vec<Entry>>> {
        let Some(dir) = self.dir.as_mut() else {
            return Ok(None);
        };
        let key = self.key.as_str();
        let mut out = Vec::new();
        while out.len() < LIST_PAGE {
            let Some(item) = dir.next() else {
                self.dir = None;
                break;
            };
            let item = item?;
            let name = match item.file_name().into_string() {
                Ok(name) => name,
                Err(raw) => {
                    // Not addressable as a Shoal path (UTF-8, as Hadoop's are): said, so that a
                    // file missing from a job's input is not a mystery.
                    tracing::warn!(
                        store = %self.store.describe(),
                        key = %join_key(key, &raw.to_string_lossy()),
                        "left out of the listing: its name is not UTF-8"
                    );
                    continue;
                }
            };
            if name.contains(TMP_MARK) {
                continue;
            }
            // Follow symlinks like a reader would; skip dangling and looping ones.
            let Ok(meta) = fs::metadata(item.path()) else {
                continue;
            };
            if meta.is_dir() {
                use std::os::unix::fs::MetadataExt;
                if self.on_path.is_none() {
                    self.on_path = Some(self.store.directories_on_path(key)?);
                }
                if self
                    .on_path
                    .as_ref()
                    .is_some_and(|a| a.contains(&(meta.dev(), meta.ino())))
                {
                    tracing::warn!(
                        store = %self.store.describe(),
                        key = %join_key(key, &name),
                        "left out of the listing: it leads back to a directory on its own path \
                         (a symbolic link or bind mount loop)"
                    );
                    continue;
                }
            }
            out.push(LocalStore::entry(&join_key(key, &name), &meta));
        }
        if out.is_empty() && self.dir.is_none() {
            return Ok(None);
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Some(out))
    }
}

/// Whether an error of a lookup means that nothing is there: not found, a file where a
/// directory is on the path, or a name longer than this file system's names (ENAMETOOLONG; it
/// cannot be there, as Java's `File.exists` and Hadoop's `LocalFileSystem` say, rather than a
/// failure of the store, which the FUSE mount would report as EIO).
fn absent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        IoKind::NotFound | IoKind::NotADirectory | IoKind::InvalidFilename
    )
}

/// Temporary files of unfinished writes; hidden from listings.
const TMP_MARK: &str = ".shoal-tmp-";

impl UnderStore for LocalStore {
    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn stat(&self, key: &str) -> Result<Option<Entry>> {
        match fs::metadata(self.path(key)) {
            Ok(m) => Ok(Some(Self::entry(key, &m))),
            Err(e) if absent(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn list(&self, key: &str) -> Result<Vec<Entry>> {
        let Some(mut pages) = self.dir_pages(key)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        while let Some(page) = pages.next_page()? {
            out.extend(page);
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn list_pages(&self, key: &str) -> Result<Option<Box<dyn ListPages>>> {
        Ok(Some(match self.dir_pages(key)? {
            Some(p) => Box::new(p),
            None => Box::new(OnePage(None)),
        }))
    }

    fn read_at(
        &self,
        key: &str,
        _expect: &Entry,
        pos: u64,
        out: &mut [u8],
    ) -> Result<(usize, Option<String>)> {
        Ok((read_file_at(&self.path(key), pos, out)?, None))
    }

    fn fetch_range(
        &self,
        key: &str,
        expect: &Entry,
        range: std::ops::Range<u64>,
    ) -> futures::future::BoxFuture<'static, Result<Fetched>> {
        use futures::FutureExt;
        let path = self.path(key);
        let _ = expect; // a local file has no version to hold the read to
        async move {
            let read = tokio::task::spawn_blocking(move || -> Result<Fetched> {
                let mut buf = vec![0u8; (range.end - range.start) as usize];
                let n = read_file_at(&path, range.start, &mut buf)?;
                buf.truncate(n);
                Ok(Fetched {
                    data: buf.into(),
                    etag: None,
                })
            });
            read.await
                .map_err(|e| Error::new(ErrorKind::Other, format!("read task failed: {e}")))?
        }
        .boxed()
    }

    fn writer(&self, key: &str) -> Result<Box<dyn StoreWriter>> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let target = self.path(key);
        let parent = target
            .parent()
            .ok_or_else(|| Error::invalid("cannot write the mount root"))?;
        fs::create_dir_all(parent)?;
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let tmp = parent.join(format!(
            ".{name}{TMP_MARK}{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let file = fs::File::create(&tmp)?;
        Ok(Box::new(LocalWriter {
            file: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
            tmp,
            target,
        }))
    }

    fn mkdirs(&self, key: &str) -> Result<()> {
        fs::create_dir_all(self.path(key)).map_err(|e| {
            if e.kind() == IoKind::AlreadyExists || e.kind() == IoKind::NotADirectory {
                Error::new(ErrorKind::NotADirectory, "a file is in the way")
            } else {
                e.into()
            }
        })
    }

    fn delete(&self, entry: &Entry) -> Result<()> {
        let p = self.path(&entry.key);
        if entry.is_dir {
            if entry.key.is_empty() {
                // The mount root stays; its contents go.
                for item in fs::read_dir(&p)? {
                    let item = item?;
                    if item.file_type()?.is_dir() {
                        fs::remove_dir_all(item.path())?;
                    } else {
                        fs::remove_file(item.path())?;
                    }
                }
                Ok(())
            } else {
                Ok(fs::remove_dir_all(p)?)
            }
        } else {
            Ok(fs::remove_file(p)?)
        }
    }

    fn rename(&self, from: &Entry, to: &str) -> Result<()> {
        Ok(fs::rename(self.path(&from.key), self.path(to))?)
    }
}

/// Reads `out.len()` bytes at `pos`, fewer only at the end of the file.
fn read_file_at(path: &std::path::Path, pos: u64, out: &mut [u8]) -> Result<usize> {
    let file = fs::File::open(path)?;
    Ok(crate::pread::read_full_at(&file, out, pos)?)
}

struct LocalWriter {
    file: Option<std::io::BufWriter<fs::File>>,
    tmp: PathBuf,
    target: PathBuf,
}

impl StoreWriter for LocalWriter {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.file {
            Some(f) => Ok(f.write_all(data)?),
            None => Err(Error::invalid("write after close")),
        }
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        let result = (|| -> Result<()> {
            let f = self
                .file
                .take()
                .ok_or_else(|| Error::invalid("closed twice"))?;
            let f = f.into_inner().map_err(|e| Error::from(e.into_error()))?;
            f.sync_data()?;
            drop(f);
            fs::rename(&self.tmp, &self.target)?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        result
    }

    fn abort(mut self: Box<Self>) {
        self.file.take();
        let _ = fs::remove_file(&self.tmp);
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

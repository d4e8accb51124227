//! The Shoal namespace: every operation a front end offers, on Shoal paths, over the mount
//! table. Paths above mount points are synthesized directories; paths outside every mount do
//! not exist. Every error names the Shoal path it concerns.

use std::sync::Arc;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::mount::{Location, MountTable, Resolved};
use crate::store::{join_key, Entry, StoreWriter};

/// A file or directory as front ends see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Absolute Shoal path.
    pub path: String,
    pub is_dir: bool,
    pub len: u64,
    pub mtime_ms: i64,
    pub etag: Option<String>,
    pub version: Option<String>,
}

impl FileInfo {
    fn synthetic_dir(path: String) -> Self {
        FileInfo {
            path,
            is_dir: true,
            len: 0,
            mtime_ms: 0,
            etag: None,
            version: None,
        }
    }

    fn from_entry(r: &Resolved, e: Entry) -> Self {
        FileInfo {
            path: r.mount.shoal_path(&e.key),
            is_dir: e.is_dir,
            len: e.len,
            mtime_ms: e.mtime_ms,
            etag: e.etag,
            version: e.version,
        }
    }
}

/// The namespace of one configuration.
#[derive(Debug)]
pub struct Namespace {
    mounts: MountTable,
}

impl Namespace {
    pub fn new(config: &Config) -> Result<Self> {
        let threads = match config.get("shoal.runtime.threads") {
            Some(_) => Some(config.get_usize("shoal.runtime.threads", 1)?),
            None => None,
        };
        crate::runtime::init(threads)?;
        Ok(Namespace {
            mounts: MountTable::from_specs(&config.mounts()?, &config.store_settings()?)?,
        })
    }

    pub fn from_table(mounts: MountTable) -> Self {
        Namespace { mounts }
    }

    pub fn mount_table(&self) -> &MountTable {
        &self.mounts
    }

    fn mounted(&self, op: &str, path: &str) -> Result<Resolved> {
        match self.mounts.locate(path).map_err(|e| e.context(op, path))? {
            Location::Mounted(r) => Ok(r),
            Location::Ancestor(p) => Err(Error::new(
                ErrorKind::ReadOnly,
                format!("{op} {p}: this directory holds mount points and is not in any mount"),
            )),
            Location::Outside(p) => Err(not_mounted(op, &p)),
        }
    }

    fn writable(&self, op: &str, path: &str) -> Result<Resolved> {
        let r = self.mounted(op, path)?;
        if r.mount.readonly {
            return Err(Error::new(
                ErrorKind::ReadOnly,
                format!(
                    "{op} {}: mount '{}' is read-only (shoal.mount.{}.readonly=true)",
                    r.path, r.mount.name, r.mount.name
                ),
            ));
        }
        Ok(r)
    }

    fn stat_resolved(&self, r: &Resolved) -> Result<Option<Entry>> {
        r.mount.store.stat(&r.key).map_err(|e| {
            e.context(
                "status",
                &format!("{} (in {})", r.path, r.mount.store.describe()),
            )
        })
    }

    /// The status of one path.
    pub fn status(&self, path: &str) -> Result<FileInfo> {
        match self
            .mounts
            .locate(path)
            .map_err(|e| e.context("status", path))?
        {
            Location::Ancestor(p) => Ok(FileInfo::synthetic_dir(p)),
            Location::Outside(p) => Err(not_mounted("status", &p)),
            Location::Mounted(r) => match self.stat_resolved(&r)? {
                Some(e) => Ok(FileInfo::from_entry(&r, e)),
                None if r.key.is_empty() => Ok(FileInfo::synthetic_dir(r.path)),
                None => Err(Error::not_found(format!(
                    "status {}: no such file or directory",
                    r.path
                ))),
            },
        }
    }

    /// The entries of a directory, or the file itself. Mount points below `path` appear as
    /// directories, and hide whatever the enclosing store has under the same name.
    pub fn list(&self, path: &str) -> Result<Vec<FileInfo>> {
        let children = self
            .mounts
            .child_mount_points(path)
            .map_err(|e| e.context("list", path))?;
        let mut out = match self
            .mounts
            .locate(path)
            .map_err(|e| e.context("list", path))?
        {
            Location::Ancestor(_) => Vec::new(),
            Location::Outside(p) => return Err(not_mounted("list", &p)),
            Location::Mounted(r) => {
                let entries = r.mount.store.list(&r.key).map_err(|e| {
                    e.context(
                        "list",
                        &format!("{} (in {})", r.path, r.mount.store.describe()),
                    )
                })?;
                if entries.is_empty() && children.is_empty() && !r.key.is_empty() {
                    // Empty directory, a file, or nothing at all.
                    let st = self.status(&r.path)?;
                    if !st.is_dir {
                        return Ok(vec![st]);
                    }
                }
                entries
                    .into_iter()
                    .filter(|e| !children.iter().any(|c| c == e.name()))
                    .map(|e| FileInfo::from_entry(&r, e))
                    .collect()
            }
        };
        let base = crate::path::join(&crate::path::segments(path)?);
        for c in children {
            let p = if base == "/" {
                format!("/{c}")
            } else {
                format!("{base}/{c}")
            };
            out.push(FileInfo::synthetic_dir(p));
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Opens a file for positioned reads. With `known` (from an earlier status) no metadata
    /// request is made.
    pub fn open(&self, path: &str, known: Option<FileInfo>) -> Result<FileReader> {
        let r = self.mounted("open", path)?;
        let entry = match known {
            Some(k) => Entry {
                key: r.key.clone(),
                is_dir: false,
                len: k.len,
                mtime_ms: k.mtime_ms,
                etag: k.etag,
                version: k.version,
            },
            None => match self.stat_resolved(&r)? {
                Some(e) => e,
                None if r.key.is_empty() => Entry::dir("", 0),
                None => return Err(Error::not_found(format!("open {}: no such file", r.path))),
            },
        };
        if entry.is_dir {
            return Err(Error::new(
                ErrorKind::IsADirectory,
                format!("open {}: is a directory", r.path),
            ));
        }
        Ok(FileReader { resolved: r, entry })
    }

    /// Starts writing a file. Refused when a directory is there, or a file and not
    /// `overwrite`, or when the parent is a file.
    pub fn create(&self, path: &str, overwrite: bool) -> Result<FileWriter> {
        let r = self.writable("create", path)?;
        if r.key.is_empty() || !self.mounts.child_mount_points(&r.path)?.is_empty() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("create {}: a directory (a mount point) is there", r.path),
            ));
        }
        match self.stat_resolved(&r)? {
            Some(e) if e.is_dir => {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("create {}: a directory is there", r.path),
                ))
            }
            Some(_) if !overwrite => {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("create {}: the file exists and overwrite is false", r.path),
                ))
            }
            _ => {}
        }
        if let Some((parent, _)) = r.key.rsplit_once('/') {
            if let Some(p) = r.mount.store.stat(parent)? {
                if !p.is_dir {
                    return Err(Error::new(
                        ErrorKind::NotADirectory,
                        format!(
                            "create {}: parent {} is a file",
                            r.path,
                            r.mount.shoal_path(parent)
                        ),
                    ));
                }
            }
        }
        let inner = r
            .mount
            .store
            .writer(&r.key)
            .map_err(|e| e.context("create", &r.path))?;
        Ok(FileWriter {
            path: r.path,
            inner: Some(inner),
        })
    }

    /// Makes a directory and its parents.
    pub fn mkdirs(&self, path: &str) -> Result<()> {
        if let Location::Ancestor(_) = self
            .mounts
            .locate(path)
            .map_err(|e| e.context("mkdirs", path))?
        {
            return Ok(());
        }
        let r = self.writable("mkdirs", path)?;
        if r.key.is_empty() {
            return Ok(());
        }
        // Every existing ancestor within the mount must be a directory.
        let segs: Vec<&str> = r.key.split('/').collect();
        for i in 1..=segs.len() {
            let k = segs[..i].join("/");
            match r
                .mount
                .store
                .stat(&k)
                .map_err(|e| e.context("mkdirs", &r.path))?
            {
                Some(e) if !e.is_dir => {
                    let kind = if i == segs.len() {
                        ErrorKind::AlreadyExists
                    } else {
                        ErrorKind::NotADirectory
                    };
                    return Err(Error::new(
                        kind,
                        format!("mkdirs {}: {} is a file", r.path, r.mount.shoal_path(&k)),
                    ));
                }
                Some(_) => {}
                None => break,
            }
        }
        r.mount
            .store
            .mkdirs(&r.key)
            .map_err(|e| e.context("mkdirs", &r.path))
    }

    /// Deletes a file or a directory. Returns false when nothing was there.
    pub fn delete(&self, path: &str, recursive: bool) -> Result<bool> {
        match self
            .mounts
            .locate(path)
            .map_err(|e| e.context("delete", path))?
        {
            Location::Outside(_) => return Ok(false),
            Location::Ancestor(p) => {
                return Err(Error::new(
                    ErrorKind::ReadOnly,
                    format!("delete {p}: mount points cannot be deleted; change the configuration"),
                ))
            }
            Location::Mounted(_) => {}
        }
        let r = self.writable("delete", path)?;
        let Some(entry) = self.stat_resolved(&r)? else {
            return Ok(false);
        };
        if entry.is_dir {
            if !self.mounts.child_mount_points(&r.path)?.is_empty() {
                return Err(Error::new(
                    ErrorKind::ReadOnly,
                    format!("delete {}: it holds mount points", r.path),
                ));
            }
            let children = r.mount.store.list(&r.key)?;
            if !children.is_empty() && !recursive {
                return Err(Error::new(
                    ErrorKind::NotEmpty,
                    format!(
                        "delete {}: directory is not empty and recursive is false",
                        r.path
                    ),
                ));
            }
            if r.key.is_empty() && children.is_empty() {
                return Ok(false);
            }
        }
        r.mount
            .store
            .delete(&entry)
            .map_err(|e| e.context("delete", &r.path))?;
        Ok(true)
    }

    /// Renames a file or directory within one mount, following Hadoop's rules: into an
    /// existing directory it moves beneath it; it returns false when the source is missing,
    /// the destination file exists, or the destination's parent does not exist.
    pub fn rename(&self, src: &str, dst: &str) -> Result<bool> {
        let s = self.writable("rename", src)?;
        let mut d = self.writable("rename", dst)?;
        if !Arc::ptr_eq(&s.mount, &d.mount) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "rename {} to {}: they are in different mounts ('{}' and '{}'); copy instead",
                    s.path, d.path, s.mount.name, d.mount.name
                ),
            ));
        }
        if s.key.is_empty() {
            return Err(Error::invalid(format!(
                "rename {}: a mount point cannot be renamed",
                s.path
            )));
        }
        let Some(src_entry) = self.stat_resolved(&s)? else {
            return Ok(false);
        };
        if s.path == d.path {
            // Renaming a file onto itself succeeds; a directory onto itself does not.
            return Ok(!src_entry.is_dir);
        }
        if src_entry.is_dir && d.key.starts_with(&format!("{}/", s.key)) {
            return Err(Error::invalid(format!(
                "rename {} to {}: a directory cannot move beneath itself",
                s.path, d.path
            )));
        }
        match self.stat_resolved(&d)? {
            Some(e) if e.is_dir => {
                let key = join_key(&d.key, src_entry.name());
                if s.mount.store.stat(&key)?.is_some() {
                    return Ok(false);
                }
                d = Resolved {
                    path: d.mount.shoal_path(&key),
                    key,
                    mount: d.mount,
                };
            }
            Some(_) => return Ok(false),
            None => {
                if let Some((parent, _)) = d.key.rsplit_once('/') {
                    match d.mount.store.stat(parent)? {
                        Some(p) if p.is_dir => {}
                        _ => return Ok(false),
                    }
                }
            }
        }
        s.mount
            .store
            .rename(&src_entry, &d.key)
            .map_err(|e| e.context("rename", &format!("{} to {}", s.path, d.path)))?;
        Ok(true)
    }
}

fn not_mounted(op: &str, path: &str) -> Error {
    Error::not_found(format!(
        "{op} {path}: no such file or directory (the path is in no mount; \
         see shoal.mount.<name>.path)"
    ))
}

/// An open file: positioned reads of one version of it.
#[derive(Debug)]
pub struct FileReader {
    resolved: Resolved,
    entry: Entry,
}

impl FileReader {
    pub fn len(&self) -> u64 {
        self.entry.len
    }

    pub fn is_empty(&self) -> bool {
        self.entry.len == 0
    }

    pub fn path(&self) -> &str {
        &self.resolved.path
    }

    /// Reads into `out` at `pos`: all of it unless the file ends first; 0 at or past the end.
    pub fn read_at(&self, pos: u64, out: &mut [u8]) -> Result<usize> {
        if pos >= self.entry.len || out.is_empty() {
            return Ok(0);
        }
        let want = ((self.entry.len - pos).min(out.len() as u64)) as usize;
        let out = &mut out[..want];
        let mut done = 0;
        while done < want {
            let n = self
                .resolved
                .mount
                .store
                .read_at(
                    &self.resolved.key,
                    &self.entry,
                    pos + done as u64,
                    &mut out[done..],
                )
                .map_err(|e| e.context("read", &self.resolved.path))?;
            if n == 0 {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    format!(
                        "read {}: the store returned fewer bytes than the file's length {} \
                         (was it changed or truncated?)",
                        self.resolved.path, self.entry.len
                    ),
                ));
            }
            done += n;
        }
        Ok(done)
    }
}

/// A file being written; the store shows it once `close` succeeds.
pub struct FileWriter {
    path: String,
    inner: Option<Box<dyn StoreWriter>>,
}

impl FileWriter {
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.inner {
            Some(w) => w.write(data).map_err(|e| e.context("write", &self.path)),
            None => Err(Error::invalid(format!(
                "write {}: stream is closed",
                self.path
            ))),
        }
    }

    /// Commits the file.
    pub fn close(mut self) -> Result<()> {
        match self.inner.take() {
            Some(w) => w.commit().map_err(|e| e.context("close", &self.path)),
            None => Ok(()),
        }
    }

    /// Discards what was written.
    pub fn abort(mut self) {
        if let Some(w) = self.inner.take() {
            w.abort();
        }
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if let Some(w) = self.inner.take() {
            w.abort();
        }
    }
}

//! `ShoalFs`: the FUSE operations over a `Namespace`. Inode numbers are handed out per path as
//! the kernel looks paths up and taken back when it forgets them; every answer comes from the
//! namespace (its metadata cache, its page cache). Read-only: every write gets `EROFS`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyXattr, Request,
};
use shoal_core::{Error, ErrorKind, FileInfo, FileReader, Namespace};

/// The extended attribute of the mount's root that holds this mount's counters (JSON).
const STATS_XATTR: &str = "user.shoal.stats";
/// How long the kernel keeps attributes and entries of immutable mounts.
const IMMUTABLE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Block size reported in `stat` (buffered readers size their reads by it).
const BLKSIZE: u32 = 128 * 1024;

/// The errno a user expects for a core error. Store failures, timeouts and corrupt data are
/// `EIO`; their cause goes to the log.
pub fn errno(kind: ErrorKind) -> Errno {
    match kind {
        ErrorKind::NotFound => Errno::ENOENT,
        ErrorKind::AlreadyExists => Errno::EEXIST,
        ErrorKind::NotADirectory => Errno::ENOTDIR,
        ErrorKind::IsADirectory => Errno::EISDIR,
        ErrorKind::NotEmpty => Errno::ENOTEMPTY,
        ErrorKind::ReadOnly => Errno::EROFS,
        ErrorKind::PermissionDenied => Errno::EACCES,
        ErrorKind::Unsupported => Errno::EOPNOTSUPP,
        ErrorKind::InvalidArgument => Errno::EINVAL,
        ErrorKind::PastEof
        | ErrorKind::Other
        | ErrorKind::Panic
        | ErrorKind::TimedOut
        | ErrorKind::Corrupt
        | ErrorKind::Config => Errno::EIO,
    }
}

/// Maps an error to errno and logs it: failures the user cannot explain from the errno alone
/// (`EIO`, `EACCES`) with their cause at warning level, the rest at debug level.
fn fail(op: &str, e: &Error) -> Errno {
    let n = errno(e.kind());
    if n == Errno::EIO || n == Errno::EACCES {
        tracing::warn!(target: "shoal::fuse", "{op} failed ({}): {e}", errno_name(n));
    } else {
        tracing::debug!(target: "shoal::fuse", "{op} failed ({}): {e}", errno_name(n));
    }
    n
}

fn errno_name(n: Errno) -> &'static str {
    match n.code() {
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::EACCES => "EACCES",
        libc::EROFS => "EROFS",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        _ => "errno",
    }
}

/// Settings of one mount.
#[derive(Debug, Clone)]
pub struct FsSettings {
    /// How long the kernel caches attributes and entries (`shoal.metadata.ttl`).
    pub ttl: Duration,
    /// How long the kernel caches "no such file" (`shoal.metadata.negative.ttl`).
    pub negative_ttl: Duration,
    /// Owner of every file and directory (the mounting user by default).
    pub uid: u32,
    pub gid: u32,
}

struct Node {
    path: String,
    /// Lookups the kernel holds; the node goes when it forgets them all.
    lookups: u64,
    /// The version whose bytes the kernel's page cache may hold for this inode.
    cached_version: Option<String>,
}

/// Inode numbers for paths, in both directions.
struct Inodes {
    by_ino: HashMap<u64, Node>,
    by_path: HashMap<String, u64>,
    next: u64,
}

impl Inodes {
    fn new() -> Self {
        let mut by_ino = HashMap::new();
        by_ino.insert(
            INodeNo::ROOT.0,
            Node {
                path: "/".into(),
                lookups: 1,
                cached_version: None,
            },
        );
        let mut by_path = HashMap::new();
        by_path.insert("/".to_string(), INodeNo::ROOT.0);
        Inodes {
            by_ino,
            by_path,
            next: INodeNo::ROOT.0 + 1,
        }
    }

    /// The inode of `path`, made if needed, with one more lookup counted.
    fn lookup(&mut self, path: &str) -> u64 {
        if let Some(&ino) = self.by_path.get(path) {
            if let Some(n) = self.by_ino.get_mut(&ino) {
                n.lookups += 1;
            }
            return ino;
        }
        let ino = self.next;
        self.next += 1;
        self.by_path.insert(path.to_string(), ino);
        self.by_ino.insert(
            ino,
            Node {
                path: path.to_string(),
                lookups: 1,
                cached_version: None,
            },
        );
        ino
    }

    fn forget(&mut self, ino: u64, n: u64) {
        if ino == INodeNo::ROOT.0 {
            return;
        }
        let gone = match self.by_ino.get_mut(&ino) {
            Some(node) => {
                node.lookups = node.lookups.saturating_sub(n);
                node.lookups == 0
            }
            None => false,
        };
        if gone {
            if let Some(node) = self.by_ino.remove(&ino) {
                self.by_path.remove(&node.path);
            }
        }
    }

    fn path(&self, ino: u64) -> Option<String> {
        self.by_ino.get(&ino).map(|n| n.path.clone())
    }
}

/// A directory opened for reading: its entries as listed at `opendir`.
struct DirHandle {
    path: String,
    entries: Vec<(String, FileInfo)>,
}

/// The FUSE filesystem over one namespace.
pub struct ShoalFs {
    ns: Arc<Namespace>,
    settings: FsSettings,
    inodes: Mutex<Inodes>,
    files: RwLock<HashMap<u64, Arc<FileReader>>>,
    dirs: RwLock<HashMap<u64, Arc<DirHandle>>>,
    next_handle: AtomicU64,
    /// When this mount started: the time of directories that have none of their own.
    started: SystemTime,
}

fn child_path(parent: &str, name: &OsStr) -> Result<String, Errno> {
    // Shoal paths are UTF-8; no other name can exist in the namespace.
    let name = name.to_str().ok_or(Errno::ENOENT)?;
    if name.contains('/') || name.is_empty() {
        return Err(Errno::EINVAL);
    }
    Ok(if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    })
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// What identifies the bytes of one version of a file.
fn version_of(info: &FileInfo) -> String {
    format!(
        "{}:{}:{}:{}",
        info.len,
        info.mtime_ms,
        info.etag.as_deref().unwrap_or(""),
        info.version.as_deref().unwrap_or("")
    )
}

impl ShoalFs {
    pub fn new(ns: Arc<Namespace>, settings: FsSettings) -> Self {
        ShoalFs {
            ns,
            settings,
            inodes: Mutex::new(Inodes::new()),
            files: RwLock::new(HashMap::new()),
            dirs: RwLock::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            started: SystemTime::now(),
        }
    }

    fn inodes(&self) -> std::sync::MutexGuard<'_, Inodes> {
        self.inodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, ino: INodeNo) -> Result<String, Errno> {
        // An inode the kernel still uses is never forgotten, so this is a kernel bug or a race
        // with an unmount; ESTALE is what NFS answers in the same case.
        self.inodes()
            .path(ino.0)
            .ok_or(Errno::from_i32(libc::ESTALE))
    }

    /// The kernel's cache lifetime for a path: long on immutable mounts.
    fn ttl(&self, path: &str) -> Duration {
        let immutable = matches!(
            self.ns.mount_table().locate(path),
            Ok(shoal_core::mount::Location::Mounted(r)) if r.mount.immutable
        );
        if immutable {
            IMMUTABLE_TTL.max(self.settings.ttl)
        } else {
            self.settings.ttl
        }
    }

    fn attr(&self, ino: u64, info: &FileInfo) -> FileAttr {
        let mtime = if info.mtime_ms > 0 {
            UNIX_EPOCH + Duration::from_millis(info.mtime_ms as u64)
        } else {
            self.started
        };
        let (kind, perm, nlink, size) = if info.is_dir {
            (FileType::Directory, 0o555, 2, 0)
        } else {
            (FileType::RegularFile, 0o444, 1, info.len)
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: mtime,
            mtime,
            ctime: mtime,
            crtime: mtime,
            kind,
            perm,
            nlink,
            uid: self.settings.uid,
            gid: self.settings.gid,
            rdev: 0,
            blksize: BLKSIZE,
            flags: 0,
        }
    }

    /// This mount's counters as a JSON object: the value of `user.shoal.stats` on the root.
    pub fn stats_json(&self) -> String {
        let fields: Vec<String> = shoal_core::stats::COUNTER_NAMES
            .iter()
            .zip(self.ns.stats())
            .map(|(n, v)| format!("\"{n}\": {v}"))
            .collect();
        format!("{{{}}}", fields.join(", "))
    }

    fn handle(&self) -> u64 {
        self.next_handle.fetch_add(1, Ordering::Relaxed)
    }

    fn reader(&self, fh: FileHandle) -> Result<Arc<FileReader>, Errno> {
        self.files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fh.0)
            .cloned()
            .ok_or(Errno::EBADF)
    }

    fn dir(&self, fh: FileHandle) -> Result<Arc<DirHandle>, Errno> {
        self.dirs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fh.0)
            .cloned()
            .ok_or(Errno::EBADF)
    }
}

fn kind_of(info: &FileInfo) -> FileType {
    if info.is_dir {
        FileType::Directory
    } else {
        FileType::RegularFile
    }
}

impl Filesystem for ShoalFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Optional capabilities: each is used only when the kernel offers it.
        for cap in [
            // Drop cached file data when a file's size or mtime is seen to change.
            InitFlags::FUSE_AUTO_INVAL_DATA,
            // Listings carry attributes, so `ls -l`, `find` and os.walk need no lookups.
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
            // Lookups and listings of one directory may run in parallel.
            InitFlags::FUSE_PARALLEL_DIROPS,
        ] {
            if config.capabilities().contains(cap) {
                let _ = config.add_capabilities(cap);
            }
        }
        let _ = config.set_max_background(64);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let path = match self.path(parent).and_then(|p| child_path(&p, name)) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        match self.ns.status(&path) {
            Ok(info) => {
                let ttl = self.ttl(&path);
                let ino = self.inodes().lookup(&path);
                reply.entry(&ttl, &self.attr(ino, &info), Generation(0));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // A negative entry the kernel keeps for the negative TTL.
                let mut attr = self.attr(0, &FileInfo::default_file(&path));
                attr.ino = INodeNo(0);
                reply.entry(&self.settings.negative_ttl, &attr, Generation(0));
            }
            Err(e) => reply.error(fail("lookup", &e)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.inodes().forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let path = match self.path(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        match self.ns.status(&path) {
            Ok(info) => reply.attr(&self.ttl(&path), &self.attr(ino.0, &info)),
            Err(e) => reply.error(fail("getattr", &e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0 {
            return reply.error(Errno::EROFS);
        }
        let path = match self.path(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let info = match self.ns.status(&path) {
            Ok(i) => i,
            Err(e) => return reply.error(fail("open", &e)),
        };
        let reader = match self.ns.open(&path, Some(info.clone())) {
            Ok(r) => r,
            Err(e) => return reply.error(fail("open", &e)),
        };
        // The kernel keeps the file's pages from earlier opens only while the version is the
        // same; a new version starts with an empty kernel cache.
        let version = version_of(&info);
        let keep = {
            let mut inodes = self.inodes();
            match inodes.by_ino.get_mut(&ino.0) {
                Some(node) if node.cached_version.as_deref() == Some(version.as_str()) => true,
                Some(node) => {
                    node.cached_version = Some(version);
                    false
                }
                None => false,
            }
        };
        let fh = self.handle();
        self.files
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fh, Arc::new(reader));
        let flags = if keep {
            FopenFlags::FOPEN_KEEP_CACHE
        } else {
            FopenFlags::empty()
        };
        reply.opened(FileHandle(fh), flags);
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        let reader = match self.reader(fh) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            if buf.len() < size as usize {
                buf.resize(size as usize, 0);
            }
            match reader.read_at(offset, &mut buf[..size as usize]) {
                Ok(n) => reply.data(&buf[..n]),
                Err(e) => reply.error(fail("read", &e)),
            }
        });
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.files
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let path = match self.path(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let listing = match self.ns.list(&path) {
            Ok(l) => l,
            Err(e) => return reply.error(fail("opendir", &e)),
        };
        // `list` of a file returns the file itself.
        if listing.len() == 1 && !listing[0].is_dir && listing[0].path == path {
            return reply.error(Errno::ENOTDIR);
        }
        let entries = listing
            .into_iter()
            .map(|i| (name_of(&i.path).to_string(), i))
            .collect();
        let fh = self.handle();
        self.dirs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fh, Arc::new(DirHandle { path, entries }));
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let dir = match self.dir(fh) {
            Ok(d) => d,
            Err(e) => return reply.error(e),
        };
        let mut i = offset;
        loop {
            let full = match i {
                0 => reply.add(ino, 1, FileType::Directory, "."),
                1 => reply.add(INodeNo::ROOT, 2, FileType::Directory, ".."),
                _ => match dir.entries.get((i - 2) as usize) {
                    Some((name, info)) => {
                        let child = child_path(&dir.path, OsStr::new(name)).unwrap_or_default();
                        // The inode a later lookup will give, when the kernel knows it already.
                        let known = self.inodes().by_path.get(&child).copied();
                        let ino = known.unwrap_or(u64::MAX - i);
                        reply.add(INodeNo(ino), i + 1, kind_of(info), name)
                    }
                    None => break,
                },
            };
            if full {
                break;
            }
            i += 1;
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let dir = match self.dir(fh) {
            Ok(d) => d,
            Err(e) => return reply.error(e),
        };
        let ttl = self.ttl(&dir.path);
        let dot = FileInfo::default_dir(&dir.path);
        let mut i = offset;
        loop {
            let full = match i {
                0 => reply.add(ino, 1, ".", &ttl, &self.attr(ino.0, &dot), Generation(0)),
                1 => reply.add(
                    INodeNo::ROOT,
                    2,
                    "..",
                    &ttl,
                    &self.attr(INodeNo::ROOT.0, &dot),
                    Generation(0),
                ),
                _ => match dir.entries.get((i - 2) as usize) {
                    Some((name, info)) => {
                        let child = child_path(&dir.path, OsStr::new(name)).unwrap_or_default();
                        // Each entry the kernel accepts counts as a lookup of its inode.
                        let mut inodes = self.inodes();
                        let child_ino = inodes.lookup(&child);
                        let full = reply.add(
                            INodeNo(child_ino),
                            i + 1,
                            name,
                            &ttl,
                            &self.attr(child_ino, info),
                            Generation(0),
                        );
                        if full {
                            inodes.forget(child_ino, 1);
                        }
                        full
                    }
                    None => break,
                },
            };
            if full {
                break;
            }
            i += 1;
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.dirs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh.0);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // Nothing can be written, so nothing is free; the size is the node cache's capacity.
        let (_, capacity) = self.ns.cache_usage();
        let bsize = 4096u32;
        reply.statfs(capacity / bsize as u64, 0, 0, 0, 0, bsize, 1024, bsize);
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        if ino != INodeNo::ROOT || name != STATS_XATTR {
            return reply.error(Errno::NO_XATTR);
        }
        let value = self.stats_json();
        if size == 0 {
            reply.size(value.len() as u32);
        } else if (size as usize) < value.len() {
            reply.error(Errno::ERANGE);
        } else {
            reply.data(value.as_bytes());
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let names: &[u8] = if ino == INodeNo::ROOT {
            b"user.shoal.stats\0"
        } else {
            b""
        };
        if size == 0 {
            reply.size(names.len() as u32);
        } else if (size as usize) < names.len() {
            reply.error(Errno::ERANGE);
        } else {
            reply.data(names);
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        if mask.contains(AccessFlags::W_OK) {
            reply.error(Errno::EROFS)
        } else {
            reply.ok()
        }
    }

    // ---- every change is refused: the mount is read-only --------------------------------

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _data: &[u8],
        _write_flags: fuser::WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: fuser::ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: fuser::ReplyCreate,
    ) {
        reply.error(Errno::EROFS);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }
}

/// Builders of placeholder statuses (the negative entry, "." in listings).
trait Placeholder {
    fn default_file(path: &str) -> FileInfo;
    fn default_dir(path: &str) -> FileInfo;
}

impl Placeholder for FileInfo {
    fn default_file(path: &str) -> FileInfo {
        FileInfo {
            path: path.to_string(),
            is_dir: false,
            len: 0,
            mtime_ms: 0,
            etag: None,
            version: None,
        }
    }

    fn default_dir(path: &str) -> FileInfo {
        FileInfo {
            is_dir: true,
            ..Self::default_file(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_come_and_go_with_lookups() {
        let mut t = Inodes::new();
        let a = t.lookup("/a");
        assert_eq!(t.lookup("/a"), a);
        assert_ne!(t.lookup("/b"), a);
        t.forget(a, 1);
        assert_eq!(t.path(a).as_deref(), Some("/a"));
        t.forget(a, 1);
        assert_eq!(t.path(a), None);
        assert!(!t.by_path.contains_key("/a"));
        // The root is never forgotten.
        t.forget(INodeNo::ROOT.0, 100);
        assert_eq!(t.path(INodeNo::ROOT.0).as_deref(), Some("/"));
        // A path looked up again gets a fresh inode.
        assert_ne!(t.lookup("/a"), a);
    }

    #[test]
    fn child_paths() {
        assert_eq!(child_path("/", OsStr::new("x")).unwrap(), "/x");
        assert_eq!(child_path("/a", OsStr::new("x")).unwrap(), "/a/x");
        assert_eq!(child_path("/a", OsStr::new("x/y")), Err(Errno::EINVAL));
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(
            child_path("/a", OsStr::from_bytes(b"\xff")),
            Err(Errno::ENOENT)
        );
    }

    #[test]
    fn errors_map_to_errno() {
        assert_eq!(errno(ErrorKind::NotFound), Errno::ENOENT);
        assert_eq!(errno(ErrorKind::PermissionDenied), Errno::EACCES);
        assert_eq!(errno(ErrorKind::ReadOnly), Errno::EROFS);
        assert_eq!(errno(ErrorKind::TimedOut), Errno::EIO);
        assert_eq!(errno(ErrorKind::Other), Errno::EIO);
        assert_eq!(errno(ErrorKind::Corrupt), Errno::EIO);
        assert_eq!(errno(ErrorKind::IsADirectory), Errno::EISDIR);
    }
}

//! `ShoalFs`: the FUSE operations over a `Namespace`. Inode numbers are handed out per path as
//! the kernel looks paths up and taken back when it forgets them; every answer comes from the
//! namespace (its metadata cache, its page cache). Read-only: every write gets `EROFS`.
//!
//! Warm reads cost the daemon as little as the kernel allows. Opens are zero-message where the
//! kernel supports it (`open` answers `ENOSYS` once; the kernel then opens files itself, keeps
//! their pages between opens and sends neither `flush` nor `release`), so a file in the kernel's
//! page cache is read with no round trip at all. The kernel drops a file's pages when the
//! attributes it is told change (`FUSE_AUTO_INVAL_DATA`: size or mtime), so every version a file
//! is told with has its own mtime (`mtime_of`), and reads of an inode serve the version the kernel
//! was last told: what it caches and what the daemon serves change together.

use std::collections::{HashMap, VecDeque};
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
/// Readers kept for the files read most recently (each keeps the core's read-ahead state of
/// its file across the kernel's read requests).
const READERS: usize = 4096;

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
    /// The file's status as the kernel was last told it (in an entry or attributes): the
    /// version whose bytes its page cache holds and reads of this inode serve. `None` for
    /// directories and until a status is known.
    told: Option<Arc<Told>>,
}

/// One version of a file as told to the kernel.
struct Told {
    info: FileInfo,
    version: String,
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
                told: None,
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
                told: None,
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

    /// Records the status the kernel is being told for `ino`. Returns whether it names another
    /// version than the one told before (a first status counts as the same).
    fn tell(&mut self, ino: u64, info: &FileInfo) -> bool {
        let Some(node) = self.by_ino.get_mut(&ino) else {
            return false;
        };
        if info.is_dir {
            node.told = None;
            return false;
        }
        let version = version_of(info);
        let changed = match &node.told {
            Some(t) if t.version == version => return false,
            Some(_) => true,
            None => false,
        };
        node.told = Some(Arc::new(Told {
            info: info.clone(),
            version,
        }));
        changed
    }

    /// The path of `ino` and the version the kernel was last told for it.
    fn told(&self, ino: u64) -> Option<(String, Option<Arc<Told>>)> {
        self.by_ino
            .get(&ino)
            .map(|n| (n.path.clone(), n.told.clone()))
    }
}

/// Open readers by inode, for the `READERS` files that were read most recently; the oldest
/// goes first. Inode numbers are never reused, so an entry of a forgotten inode is only a
/// wasted slot until it is pushed out.
struct Readers {
    by_ino: HashMap<u64, (Arc<Told>, Arc<FileReader>)>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl Readers {
    fn new(capacity: usize) -> Self {
        Readers {
            by_ino: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The reader of `ino` for the version `told`, when there is one.
    fn get(&self, ino: u64, told: &Told) -> Option<Arc<FileReader>> {
        match self.by_ino.get(&ino) {
            Some((t, r)) if t.version == told.version => Some(r.clone()),
            _ => None,
        }
    }

    fn insert(&mut self, ino: u64, told: Arc<Told>, reader: Arc<FileReader>) {
        if self.by_ino.insert(ino, (told, reader)).is_some() {
            return;
        }
        self.order.push_back(ino);
        while self.by_ino.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.by_ino.remove(&old);
                }
                None => break,
            }
        }
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
    readers: Mutex<Readers>,
    /// Whether the kernel opens files without asking (`FUSE_NO_OPEN_SUPPORT`).
    no_open: bool,
    /// Requests the kernel sent: `open`s of files and `read`s (in the stats as `fuse_opens`,
    /// `fuse_reads`), which show what the kernel's caches spared the daemon.
    opens: AtomicU64,
    reads: AtomicU64,
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

/// The modification time the kernel is told: the store's, to the millisecond, with the
/// sub-millisecond nanoseconds taken from a digest of the ETag and version. Two versions of a
/// file with the same length written within one second (S3 dates have whole seconds) then still
/// differ in mtime, which is what makes the kernel drop the old version's pages.
fn mtime_of(info: &FileInfo, otherwise: SystemTime) -> SystemTime {
    if info.mtime_ms <= 0 {
        return otherwise;
    }
    let base = UNIX_EPOCH + Duration::from_millis(info.mtime_ms as u64);
    if info.etag.is_none() && info.version.is_none() {
        return base;
    }
    // FNV-1a: stable across processes and releases, unlike the standard library's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [&info.etag, &info.version] {
        for b in part.as_deref().unwrap_or("").bytes().chain([0]) {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    base + Duration::from_nanos(h % 1_000_000)
}

impl ShoalFs {
    pub fn new(ns: Arc<Namespace>, settings: FsSettings) -> Self {
        ShoalFs {
            ns,
            settings,
            inodes: Mutex::new(Inodes::new()),
            readers: Mutex::new(Readers::new(READERS)),
            no_open: false,
            opens: AtomicU64::new(0),
            reads: AtomicU64::new(0),
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
        let mtime = mtime_of(info, self.started);
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

    /// This mount's counters as a JSON object: the value of `user.shoal.stats` on the root. The
    /// core's counters, then the kernel's `open` and `read` requests.
    pub fn stats_json(&self) -> String {
        let fuse = [
            ("fuse_opens", self.opens.load(Ordering::Relaxed)),
            ("fuse_reads", self.reads.load(Ordering::Relaxed)),
        ];
        let fields: Vec<String> = shoal_core::stats::COUNTER_NAMES
            .iter()
            .copied()
            .zip(self.ns.stats())
            .chain(fuse)
            .map(|(n, v)| format!("\"{n}\": {v}"))
            .collect();
        format!("{{{}}}", fields.join(", "))
    }

    fn handle(&self) -> u64 {
        self.next_handle.fetch_add(1, Ordering::Relaxed)
    }

    fn readers(&self) -> std::sync::MutexGuard<'_, Readers> {
        self.readers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The reader of `ino` for the version the kernel was last told.
    fn reader(&self, ino: INodeNo) -> Result<Arc<FileReader>, Errno> {
        let (path, told) = self
            .inodes()
            .told(ino.0)
            .ok_or(Errno::from_i32(libc::ESTALE))?;
        let told = match told {
            Some(t) => t,
            // Not told yet (the kernel read before any status): the status now.
            None => {
                let info = self.ns.status(&path).map_err(|e| fail("read", &e))?;
                let mut inodes = self.inodes();
                inodes.tell(ino.0, &info);
                match inodes.told(ino.0) {
                    Some((_, Some(t))) => t,
                    _ => return Err(Errno::EISDIR),
                }
            }
        };
        if let Some(r) = self.readers().get(ino.0, &told) {
            return Ok(r);
        }
        let reader = Arc::new(
            self.ns
                .open(&path, Some(told.info.clone()))
                .map_err(|e| fail("read", &e))?,
        );
        self.readers().insert(ino.0, told, reader.clone());
        Ok(reader)
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

/// The value of `result`, or, for an error, the handler answers `reply` with it (an errno) and
/// returns: `?` for the replies of a FUSE handler.
macro_rules! or_reply {
    ($reply:ident, $result:expr) => {
        match $result {
            Ok(v) => v,
            Err(e) => return $reply.error(e),
        }
    };
}

/// An entry of a directory stream: "." and "..", then the listing's, by name.
enum DirEntry<'a> {
    Dot,
    DotDot,
    Child(&'a str, &'a FileInfo),
}

/// Hands `add` the entries of `dir` from `offset` on, each with its offset (entry `i` is
/// followed by `i + 1`, the offset the kernel asks for next), until `add` says the reply is
/// full or the entries end.
fn each_entry(dir: &DirHandle, offset: u64, mut add: impl FnMut(u64, DirEntry<'_>) -> bool) {
    let mut i = offset;
    loop {
        let entry = match i {
            0 => DirEntry::Dot,
            1 => DirEntry::DotDot,
            _ => match dir.entries.get((i - 2) as usize) {
                Some((name, info)) => DirEntry::Child(name, info),
                None => break,
            },
        };
        if add(i, entry) {
            break;
        }
        i += 1;
    }
}

/// Implements each listed `Filesystem` method as a refusal: the mount is read-only, so every
/// change answers EROFS. A method is given as `fn name(arguments) -> ReplyType;`, its
/// arguments without `&self` and the reply.
macro_rules! refuse_as_read_only {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $reply:ty;)*) => {
        $(
            fn $name(&self, $($arg: $ty,)* reply: $reply) {
                reply.error(Errno::EROFS);
            }
        )*
    };
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
        // Zero-message opens: `open` answers ENOSYS once and the kernel opens by itself from
        // then on (see the module's comment).
        self.no_open = config
            .capabilities()
            .contains(InitFlags::FUSE_NO_OPEN_SUPPORT);
        let _ = config.set_max_background(64);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let path = or_reply!(reply, self.path(parent).and_then(|p| child_path(&p, name)));
        match self.ns.status(&path) {
            Ok(info) => {
                let ttl = self.ttl(&path);
                let ino = {
                    let mut inodes = self.inodes();
                    let ino = inodes.lookup(&path);
                    inodes.tell(ino, &info);
                    ino
                };
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
        let path = or_reply!(reply, self.path(ino));
        match self.ns.status(&path) {
            Ok(info) => {
                self.inodes().tell(ino.0, &info);
                reply.attr(&self.ttl(&path), &self.attr(ino.0, &info))
            }
            Err(e) => reply.error(fail("getattr", &e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.opens.fetch_add(1, Ordering::Relaxed);
        if flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0 {
            return reply.error(Errno::EROFS);
        }
        if self.no_open {
            // The kernel opens every file by itself from now on, keeping pages between opens;
            // the mount is read-only, so the kernel refuses writable opens before asking.
            return reply.error(Errno::ENOSYS);
        }
        // A kernel that asks at every open: the status now decides whether its cached pages
        // are still the file's.
        let path = or_reply!(reply, self.path(ino));
        let info = or_reply!(reply, self.ns.status(&path).map_err(|e| fail("open", &e)));
        if info.is_dir {
            return reply.error(Errno::EISDIR);
        }
        let changed = self.inodes().tell(ino.0, &info);
        let flags = if changed {
            FopenFlags::FOPEN_NOFLUSH
        } else {
            FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_NOFLUSH
        };
        // Reads find their reader by inode, so no handle is needed.
        reply.opened(FileHandle(0), flags);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let reader = or_reply!(reply, self.reader(ino));
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
        // Nothing is ever written, so nothing to flush: ENOSYS makes the kernel stop asking.
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // Only asked of kernels without zero-message opens; an open holds nothing.
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let path = or_reply!(reply, self.path(ino));
        let listing = or_reply!(reply, self.ns.list(&path).map_err(|e| fail("opendir", &e)));
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
        let dir = or_reply!(reply, self.dir(fh));
        each_entry(&dir, offset, |i, entry| match entry {
            DirEntry::Dot => reply.add(ino, 1, FileType::Directory, "."),
            DirEntry::DotDot => reply.add(INodeNo::ROOT, 2, FileType::Directory, ".."),
            DirEntry::Child(name, info) => {
                let child = child_path(&dir.path, OsStr::new(name)).unwrap_or_default();
                // The inode a later lookup will give, when the kernel knows it already.
                let known = self.inodes().by_path.get(&child).copied();
                let ino = known.unwrap_or(u64::MAX - i);
                reply.add(INodeNo(ino), i + 1, kind_of(info), name)
            }
        });
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
        let dir = or_reply!(reply, self.dir(fh));
        let ttl = self.ttl(&dir.path);
        let dot = FileInfo::default_dir(&dir.path);
        each_entry(&dir, offset, |i, entry| match entry {
            DirEntry::Dot => reply.add(ino, 1, ".", &ttl, &self.attr(ino.0, &dot), Generation(0)),
            DirEntry::DotDot => reply.add(
                INodeNo::ROOT,
                2,
                "..",
                &ttl,
                &self.attr(INodeNo::ROOT.0, &dot),
                Generation(0),
            ),
            DirEntry::Child(name, info) => {
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
                } else {
                    inodes.tell(child_ino, info);
                }
                full
            }
        });
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

    refuse_as_read_only! {
        fn setattr(
            _req: &Request, _ino: INodeNo, _mode: Option<u32>, _uid: Option<u32>, _gid: Option<u32>,
            _size: Option<u64>, _atime: Option<fuser::TimeOrNow>, _mtime: Option<fuser::TimeOrNow>,
            _ctime: Option<SystemTime>, _fh: Option<FileHandle>, _crtime: Option<SystemTime>,
            _chgtime: Option<SystemTime>, _bkuptime: Option<SystemTime>,
            _flags: Option<fuser::BsdFileFlags>
        ) -> ReplyAttr;
        fn mknod(
            _req: &Request, _parent: INodeNo, _name: &OsStr, _mode: u32, _umask: u32, _rdev: u32
        ) -> ReplyEntry;
        fn mkdir(
            _req: &Request, _parent: INodeNo, _name: &OsStr, _mode: u32, _umask: u32
        ) -> ReplyEntry;
        fn unlink(_req: &Request, _parent: INodeNo, _name: &OsStr) -> ReplyEmpty;
        fn rmdir(_req: &Request, _parent: INodeNo, _name: &OsStr) -> ReplyEmpty;
        fn symlink(
            _req: &Request, _parent: INodeNo, _link_name: &OsStr, _target: &std::path::Path
        ) -> ReplyEntry;
        fn rename(
            _req: &Request, _parent: INodeNo, _name: &OsStr, _newparent: INodeNo, _newname: &OsStr,
            _flags: fuser::RenameFlags
        ) -> ReplyEmpty;
        fn link(_req: &Request, _ino: INodeNo, _newparent: INodeNo, _newname: &OsStr) -> ReplyEntry;
        fn write(
            _req: &Request, _ino: INodeNo, _fh: FileHandle, _offset: u64, _data: &[u8],
            _write_flags: fuser::WriteFlags, _flags: OpenFlags,
            _lock_owner: Option<fuser::LockOwner>
        ) -> fuser::ReplyWrite;
        fn create(
            _req: &Request, _parent: INodeNo, _name: &OsStr, _mode: u32, _umask: u32, _flags: i32
        ) -> fuser::ReplyCreate;
        fn setxattr(
            _req: &Request, _ino: INodeNo, _name: &OsStr, _value: &[u8], _flags: i32,
            _position: u32
        ) -> ReplyEmpty;
        fn removexattr(_req: &Request, _ino: INodeNo, _name: &OsStr) -> ReplyEmpty;
        fn fallocate(
            _req: &Request, _ino: INodeNo, _fh: FileHandle, _offset: u64, _length: u64, _mode: i32
        ) -> ReplyEmpty;
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

    fn file(len: u64, mtime_ms: i64, etag: &str) -> FileInfo {
        FileInfo {
            path: "/m/f".into(),
            is_dir: false,
            len,
            mtime_ms,
            etag: Some(etag.into()),
            version: None,
        }
    }

    #[test]
    fn inodes_remember_the_version_told() {
        let mut t = Inodes::new();
        let a = t.lookup("/m/f");
        // A first status is no change; the same one again neither; another version is.
        assert!(!t.tell(a, &file(3, 1000, "\"x\"")));
        assert!(!t.tell(a, &file(3, 1000, "\"x\"")));
        let told = t.told(a).unwrap().1.unwrap();
        assert!(t.tell(a, &file(3, 1000, "\"y\"")));
        let now = t.told(a).unwrap().1.unwrap();
        assert_ne!(told.version, now.version);
        assert_eq!(now.info.etag.as_deref(), Some("\"y\""));
        // Directories have no version; unknown inodes are left alone.
        let d = t.lookup("/m");
        assert!(!t.tell(d, &FileInfo::default_dir("/m")));
        assert!(t.told(d).unwrap().1.is_none());
        assert!(!t.tell(9999, &file(1, 1, "z")));
    }

    #[test]
    fn each_version_has_its_own_mtime() {
        let started = UNIX_EPOCH + Duration::from_secs(7);
        let a = mtime_of(&file(3, 1_700_000_000_000, "\"a\""), started);
        let b = mtime_of(&file(3, 1_700_000_000_000, "\"b\""), started);
        // Same second, same length, another ETag: another mtime, in the same millisecond.
        assert_ne!(a, b);
        let ms = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        for t in [a, b] {
            let off = t.duration_since(ms).unwrap();
            assert!(off < Duration::from_millis(1), "{off:?}");
        }
        // Stable: the same version always gets the same mtime.
        assert_eq!(a, mtime_of(&file(3, 1_700_000_000_000, "\"a\""), started));
        // No ETag or version: the store's time; none at all: the mount's start.
        let mut plain = file(3, 1_700_000_000_000, "");
        plain.etag = None;
        assert_eq!(mtime_of(&plain, started), ms);
        assert_eq!(mtime_of(&file(3, 0, "\"a\""), started), started);
    }

    #[test]
    fn readers_keep_the_most_recent_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"abc").unwrap();
        let conf = shoal_core::Config::from_pairs([
            ("shoal.mount.m.path", "/m".to_string()),
            (
                "shoal.mount.m.uri",
                format!("file://{}", dir.path().display()),
            ),
            ("shoal.cache.enabled", "false".to_string()),
        ]);
        let ns = Namespace::new(&conf).unwrap();
        let info = ns.status("/m/f").unwrap();
        let told = |etag: &str| {
            let mut i = info.clone();
            i.etag = Some(etag.into());
            Arc::new(Told {
                version: version_of(&i),
                info: i,
            })
        };
        let reader = || Arc::new(ns.open("/m/f", Some(info.clone())).unwrap());
        let mut r = Readers::new(2);
        let (v1, v2) = (told("1"), told("2"));
        r.insert(1, v1.clone(), reader());
        assert!(r.get(1, &v1).is_some());
        // Another version of the same inode is another reader.
        assert!(r.get(1, &v2).is_none());
        r.insert(1, v2.clone(), reader());
        assert!(r.get(1, &v2).is_some() && r.get(1, &v1).is_none());
        r.insert(2, v1.clone(), reader());
        r.insert(3, v1.clone(), reader());
        // The oldest went first.
        assert!(r.get(1, &v2).is_none());
        assert!(r.get(2, &v1).is_some() && r.get(3, &v1).is_some());
        assert_eq!((r.by_ino.len(), r.order.len()), (2, 2));
        let mut buf = [0u8; 8];
        assert_eq!(r.get(3, &v1).unwrap().read_at(0, &mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
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

//! shoal-fuse: the whole Shoal namespace as a local directory tree, for readers that only know
//! files (PyTorch and TensorFlow data loaders, `find`, `cat`). It is a thin front end: paths,
//! attributes and bytes come from shoal-core's `Namespace`, through the same metadata cache and
//! node cache directories the Spark executors use.
//!
//! `mount` checks the mount point, optionally becomes a daemon, mounts, and serves until the
//! file system is unmounted: by SIGINT, SIGTERM or SIGHUP (a lazy unmount: the mount point is
//! free at once, files already open are served until they are closed), or by
//! `fusermount3 -u` / `umount`.

mod fs;
mod mountpoint;

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shoal_core::metadata::MetadataSettings;
use shoal_core::{Config, Error, ErrorKind, Namespace, Result};

pub use fs::{errno, FsSettings, ShoalFs};
pub use mountpoint::check_mount_point;

/// How to mount.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Threads serving kernel requests.
    pub threads: usize,
    /// Let other users read the mount (FUSE `allow_other`; for non-root users it needs
    /// `user_allow_other` in /etc/fuse.conf).
    pub allow_other: bool,
    /// Let root read the mount besides the mounting user.
    pub allow_root: bool,
    /// Detach and run in the background; `mount` returns once the mount is ready.
    pub daemon: bool,
    /// Where the log goes; standard error when absent (syslog for a daemon).
    pub log_file: Option<PathBuf>,
    /// `-v` count: 1 information, 2 debugging, 3 everything; 0 leaves it to `RUST_LOG` (or
    /// `SHOAL_LOG`), else warnings plus the mount's own information.
    pub verbose: u8,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            threads: 16,
            allow_other: false,
            allow_root: false,
            daemon: false,
            log_file: None,
            verbose: 0,
        }
    }
}

fn other(message: String) -> Error {
    Error::new(ErrorKind::Other, message)
}

/// The most threads serving the kernel. Each holds a request buffer of FUSE's largest write
/// (16 MiB) and a `/dev/fuse` descriptor; far more than the kernel's queue keeps busy. A huge
/// value used to abort the process on the buffers' allocation and leave a dead mount behind.
pub const MAX_THREADS: usize = 256;

/// Mounts the namespace of `config` at `mountpoint` and serves it until it is unmounted.
/// With `daemon`, the calling process returns `Ok` once the mount is ready (it is the parent
/// of the serving process); the error of a mount that failed comes back to it.
pub fn mount(config: &Config, mountpoint: &Path, options: &MountOptions) -> Result<()> {
    let mountpoint = check_mount_point(mountpoint)?;
    // Settings are read before any thread exists, so a daemon can still fork.
    let metadata = MetadataSettings::from_config(config)?;
    if !(1..=MAX_THREADS).contains(&options.threads) {
        return Err(Error::invalid(format!(
            "--threads {} is out of range: from 1 to {MAX_THREADS}",
            options.threads
        )));
    }
    let ready = if options.daemon {
        match daemonize()? {
            Daemon::Parent(status) => return status,
            Daemon::Child(pipe) => Some(pipe),
        }
    } else {
        None
    };
    let result = serve(config, &mountpoint, options, &metadata, ready);
    if let Err(e) = &result {
        tracing::error!(target: "shoal::fuse", "{e}");
    }
    result
}

/// Where a daemon's parent hears how the mount went.
struct ReadyPipe(std::fs::File);

impl ReadyPipe {
    fn report(mut self, outcome: &Result<()>) {
        let line = match outcome {
            Ok(()) => "ok\n".to_string(),
            Err(e) => format!("{}\t{}\n", e.kind().code(), e.message().replace('\n', " ")),
        };
        let _ = self.0.write_all(line.as_bytes());
    }
}

enum Daemon {
    Parent(Result<()>),
    Child(ReadyPipe),
}

/// Forks; the parent waits for the child to report the mount and returns its outcome, the
/// child leaves the terminal's session and gets /dev/null for its standard streams.
fn daemonize() -> Result<Daemon> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::from(std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created and are owned here alone.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: no other thread exists yet (mount forks before the namespace starts its
    // runtime), so the child is a complete copy of this process.
    match unsafe { libc::fork() } {
        -1 => Err(Error::from(std::io::Error::last_os_error())),
        0 => {
            drop(read_end);
            // SAFETY: plain system calls on this process.
            unsafe {
                libc::setsid();
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 {
                    libc::dup2(null, 0);
                    libc::dup2(null, 1);
                    libc::dup2(null, 2);
                    if null > 2 {
                        libc::close(null);
                    }
                }
            }
            Ok(Daemon::Child(ReadyPipe(std::fs::File::from(write_end))))
        }
        child => {
            drop(write_end);
            let mut text = String::new();
            let _ = std::fs::File::from(read_end).read_to_string(&mut text);
            let line = text.lines().next().unwrap_or("");
            Ok(Daemon::Parent(if line == "ok" {
                // (not `eprintln!`: a closed stderr must not fail a mount that is ready)
                let _ = writeln!(
                    std::io::stderr(),
                    "shoal: mounted; serving in process {child}"
                );
                Ok(())
            } else if let Some((_, message)) = line.split_once('\t') {
                Err(other(message.to_string()))
            } else {
                Err(other(format!(
                    "the mount process {child} exited before the mount was ready"
                )))
            }))
        }
    }
}

/// Blocks the termination signals in this thread and every thread it starts later; the
/// signal thread takes them with `sigwait`.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local set; pthread_sigmask on the calling thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Detaches the mount lazily: the mount point is free at once; open files keep working until
/// they are closed, and the session ends when the last one is.
pub fn unmount_lazily(mountpoint: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(mountpoint.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("the mount point contains a NUL byte"))?;
    // SAFETY: c is a valid NUL-terminated path.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EPERM) {
        return Err(other(format!("unmount {}: {err}", mountpoint.display())));
    }
    // Not root: the setuid helper unmounts what this user mounted.
    for helper in ["fusermount3", "fusermount"] {
        match std::process::Command::new(helper)
            .args(["-u", "-z"])
            .arg(mountpoint)
            .status()
        {
            Ok(s) if s.success() => return Ok(()),
            Ok(s) => {
                return Err(other(format!(
                    "{helper} -u -z {} failed ({s})",
                    mountpoint.display()
                )))
            }
            Err(_) => continue,
        }
    }
    Err(other(format!(
        "cannot unmount {}: not root and no fusermount3 found",
        mountpoint.display()
    )))
}

fn serve(
    config: &Config,
    mountpoint: &Path,
    options: &MountOptions,
    metadata: &MetadataSettings,
    ready: Option<ReadyPipe>,
) -> Result<()> {
    init_logging(options, ready.is_some());
    let signals = block_signals();
    let outcome = (|| {
        let ns = Arc::new(Namespace::new(config)?);
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let settings = FsSettings {
            ttl: metadata.ttl,
            negative_ttl: metadata.negative_ttl,
            uid,
            gid,
        };
        let fs = ShoalFs::new(ns, settings);
        let mut fuse_config = fuser::Config::default();
        fuse_config.mount_options = vec![
            fuser::MountOption::FSName("shoal".into()),
            fuser::MountOption::Subtype("shoal".into()),
            fuser::MountOption::RO,
            fuser::MountOption::NoDev,
            fuser::MountOption::NoSuid,
            fuser::MountOption::DefaultPermissions,
        ];
        fuse_config.acl = if options.allow_other {
            fuser::SessionACL::All
        } else if options.allow_root {
            fuser::SessionACL::RootAndOwner
        } else {
            fuser::SessionACL::Owner
        };
        fuse_config.n_threads = Some(options.threads);
        fuse_config.clone_fd = true;
        fuser::Session::new(fs, mountpoint, &fuse_config)
            .map_err(|e| other(format!("cannot mount at {}: {e}", mountpoint.display())))
    })();
    let session = match outcome {
        Ok(s) => s,
        Err(e) => {
            if let Some(pipe) = ready {
                pipe.report(&Err(e.clone()));
            }
            return Err(e);
        }
    };
    tracing::info!(
        target: "shoal::fuse",
        "mounted the Shoal namespace at {} ({} threads); unmount with Ctrl-C, SIGTERM or \
         `fusermount3 -u {}`",
        mountpoint.display(),
        options.threads,
        mountpoint.display()
    );
    if let Some(pipe) = ready {
        pipe.report(&Ok(()));
    }
    let target = mountpoint.to_path_buf();
    std::thread::Builder::new()
        .name("shoal-signals".into())
        .spawn(move || wait_for_signals(signals, &target))
        .map_err(|e| other(format!("cannot start the signal thread: {e}")))?;
    let result = session.run().map_err(|e| {
        other(format!(
            "the FUSE session at {} failed: {e}",
            mountpoint.display()
        ))
    });
    tracing::info!(target: "shoal::fuse", "unmounted {}", mountpoint.display());
    result
}

/// The first signal detaches the mount; a second one ends the process at once (readers of
/// files still open then get ENOTCONN).
fn wait_for_signals(set: libc::sigset_t, mountpoint: &Path) {
    let mut seen = 0;
    loop {
        let mut sig = 0;
        // SAFETY: set holds blocked signals; sig receives the one taken.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            continue;
        }
        seen += 1;
        if seen > 1 {
            tracing::warn!(target: "shoal::fuse", "signal {sig} again: exiting now");
            std::process::exit(1);
        }
        tracing::info!(
            target: "shoal::fuse",
            "signal {sig}: unmounting {} (files still open are served until closed; \
             signal again to exit at once)",
            mountpoint.display()
        );
        if let Err(e) = unmount_lazily(mountpoint) {
            tracing::error!(target: "shoal::fuse", "{e}");
        }
        // The session may already be gone (unmounted from outside).
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn init_logging(options: &MountOptions, daemon: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = match options.verbose {
        0 => EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_from_env("SHOAL_LOG"))
            .unwrap_or_else(|_| EnvFilter::new("warn,shoal=info,shoal_core=info,fuser=error")),
        1 => EnvFilter::new("info"),
        2 => EnvFilter::new("debug"),
        _ => EnvFilter::new("trace"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(options.verbose >= 2);
    // A second subscriber (a test calling `mount` twice) keeps the first one.
    let _ = match &options.log_file {
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(file) => builder
                .with_ansi(false)
                .with_writer(Mutex::new(Scrubbed(file)))
                .try_init(),
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "shoal: cannot open log file {}: {e}",
                    path.display()
                );
                builder
                    .with_writer(|| Scrubbed(std::io::stderr()))
                    .try_init()
            }
        },
        None if daemon => builder
            .with_ansi(false)
            .without_time()
            .with_writer(|| Scrubbed(Syslog))
            .try_init(),
        None => builder
            .with_writer(|| Scrubbed(std::io::stderr()))
            .try_init(),
    };
}

/// A log destination that masks every secret of the configured mounts in what it is given
/// (the HTTP client's debug events name hosts with their user info).
struct Scrubbed<W>(W);

impl<W: Write> Write for Scrubbed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = shoal_core::store::redact::scrub_log(&String::from_utf8_lossy(buf));
        self.0.write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Log lines to syslog (a daemon has no terminal).
struct Syslog;

impl Write for Syslog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Ok(c) = std::ffi::CString::new(line) {
                // SAFETY: constant format string and a valid C string argument.
                unsafe {
                    libc::openlog(c"shoal-mount".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON);
                    libc::syslog(libc::LOG_NOTICE, c"%s".as_ptr(), c.as_ptr());
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

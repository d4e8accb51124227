//! `shoal`: the operator's view of one node. It reads the same `shoal.*` configuration a Spark
//! job uses (from Hadoop XML or properties files, or `-D` flags) and works on this node's
//! cache directories.
//!
//! Exit status: 0 success, 1 an operation failed (message on stderr), 2 bad usage,
//! 3 `cache verify` found corrupt pages, 130 `load` interrupted, 141 the reader of standard
//! output went away (`shoal cat f | head`; nothing printed, as a command ended by SIGPIPE).
//!
//! The core's warnings (an unknown configuration key, a full cache directory) go to stderr;
//! `-v` adds information, `-vv` debugging, `-vvv` everything; `RUST_LOG` (e.g.
//! `RUST_LOG=shoal_core=debug`) chooses instead when `-v` is not given.

mod conf;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::{Parser, Subcommand};
use shoal_core::stats::COUNTER_NAMES;
use shoal_core::{Cancel, Config, Error, FileInfo, Namespace, Result};

#[derive(Parser)]
#[command(
    name = "shoal",
    version,
    about = "Inspect and manage Shoal mounts and the node cache"
)]
struct Cli {
    /// Configuration file: Hadoop XML (core-site.xml style) or properties; repeatable, later
    /// files win. Without one, the files in $SHOAL_CONF (colon-separated) are read.
    #[arg(long = "conf", global = true, value_name = "FILE")]
    conf: Vec<PathBuf>,
    /// A configuration key, e.g. -D shoal.cache.dirs=/mnt/nvme/shoal:200g; wins over files.
    #[arg(short = 'D', global = true, value_name = "KEY=VALUE", value_parser = conf::parse_define)]
    define: Vec<(String, String)>,
    /// More messages on stderr: -v information, -vv debugging, -vvv everything (otherwise
    /// warnings and errors, or what RUST_LOG says).
    #[arg(short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the mounts: name, Shoal path, store, flags.
    Mounts,
    /// List a directory (or show a file), printed as the store pages its listing.
    Ls {
        /// Recurse into subdirectories.
        #[arg(short = 'R')]
        recursive: bool,
        path: String,
    },
    /// Show a path's status and how much of it this node has cached.
    Stat { path: String },
    /// Write a file's bytes (or a range of them) to standard output.
    Cat {
        /// Start this many bytes into the file (a size: 4096, 64k); past the end, nothing is
        /// written.
        #[arg(long, value_name = "BYTES", default_value = "0", allow_hyphen_values = true,
              value_parser = parse_bytes)]
        offset: u64,
        /// Write at most this many bytes (a size); all the rest when not given.
        #[arg(long, value_name = "BYTES", allow_hyphen_values = true, value_parser = parse_bytes)]
        length: Option<u64>,
        path: String,
    },
    /// Bring every file under a path into this node's cache (only what is missing).
    Load {
        path: String,
        /// Only the Parquet footers: each file's footer pages, parsed and kept, so that
        /// planning a query on this node reads no footer from the store.
        #[arg(long)]
        footers: bool,
    },
    /// Drop a path's pages from this node's cache; the store is not touched.
    Free { path: String },
    /// Mount the whole namespace as a read-only local directory tree (FUSE) and serve it
    /// until it is unmounted (Ctrl-C, SIGTERM, `fusermount3 -u MOUNTPOINT`).
    Mount {
        /// An empty directory.
        mountpoint: PathBuf,
        /// Run in the background; return once the mount is ready.
        #[arg(long)]
        daemon: bool,
        /// Threads serving kernel requests (1 to 256).
        #[arg(long, default_value_t = 16, value_name = "N")]
        threads: usize,
        /// Let every user read the mount (FUSE allow_other).
        #[arg(long)]
        allow_other: bool,
        /// Let root read the mount too (FUSE allow_root).
        #[arg(long, conflicts_with = "allow_other")]
        allow_root: bool,
        /// Append the log to this file (default: standard error; syslog with --daemon).
        #[arg(long, value_name = "FILE")]
        log_file: Option<PathBuf>,
    },
    /// The node cache itself.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Capacity, use and counters of each cache directory.
    Stats,
    /// Checksum every page; with --remove, delete the corrupt ones.
    Verify {
        #[arg(long)]
        remove: bool,
    },
}

/// A byte count in the size grammar of the configuration.
fn parse_bytes(text: &str) -> std::result::Result<u64, String> {
    shoal_core::config::parse_size(text)
}

/// Sends the core's `tracing` events to stderr: warnings and errors unless `-v` or `RUST_LOG`
/// asks for more.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        1 => EnvFilter::new("info"),
        2 => EnvFilter::new("debug"),
        _ => EnvFilter::new("trace"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| ScrubbedStderr)
        .with_ansi(false)
        .without_time()
        .with_target(verbose >= 2)
        .try_init();
}

/// Stderr for log events, each with every secret of the configured mounts masked (the HTTP
/// client's own debug events name hosts with their user info).
struct ScrubbedStderr;

impl Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = shoal_core::store::redact::scrub_log(&String::from_utf8_lossy(buf));
        std::io::stderr().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `shoal mount` logs where its options say (a file, syslog for a daemon, stderr): it
    // installs its own subscriber, which one installed here would shut out.
    if !matches!(cli.command, Command::Mount { .. }) {
        init_logging(cli.verbose);
    }
    match run(cli) {
        Ok(code) => code,
        // Its reader went away (`| head`): end quietly with the status a shell reports for a
        // command that SIGPIPE ended (128 + 13), as `cat` would. SIGPIPE itself stays ignored
        // (Rust's default), so that a closed socket or log pipe never ends the process.
        Err(_) if OUTPUT_CLOSED.load(Ordering::Relaxed) => ExitCode::from(141),
        Err(e) => {
            say(format_args!("shoal: {e}"));
            ExitCode::from(1)
        }
    }
}

/// Set when a write to standard output failed because its reader went away.
static OUTPUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// A line on stderr, or nothing where stderr is gone too (`2>&1 | head`): `eprintln!` would
/// panic there.
fn say(line: std::fmt::Arguments) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// For `shoal load`: SIGINT (Ctrl-C) or SIGTERM cancels the batch (no new fetch starts, the
/// fetches in flight end, each file not done is reported cancelled) and a second one ends the
/// process at once. The signals are blocked here, before any other thread exists, so that
/// every thread started later inherits the mask and one thread takes them with `sigwait`.
fn cancel_on_signals() -> Cancel {
    let cancel = Cancel::new();
    // SAFETY: the set is initialised by sigemptyset before use; pthread_sigmask only reads it.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let c = cancel.clone();
    let started = std::thread::Builder::new()
        .name("shoal-signals".into())
        .spawn(move || loop {
            let mut sig = 0;
            // SAFETY: set holds blocked signals; sig receives the one taken.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                return;
            }
            if c.is_cancelled() {
                say(format_args!("shoal: signal {sig} again: exiting now"));
                std::process::exit(128 + sig);
            }
            say(format_args!(
                "shoal: interrupted: no new fetch starts; waiting for those in flight \
                 (signal again to exit now)"
            ));
            c.cancel();
        });
    if started.is_err() {
        // No thread to take them: let the signals end the process as before.
        // SAFETY: as above.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
    cancel
}

fn load_config(cli: &Cli) -> Result<Config> {
    shoal_core::conf_file::load(&cli.conf, cli.define.iter().cloned())
}

/// Accepts `/a/b`, `shoal:///a/b`, `shoal://host:port/a/b` and `alluxio://host:port/a/b`.
fn shoal_path(arg: &str) -> Result<String> {
    if arg.starts_with('/') {
        return Ok(arg.to_string());
    }
    for scheme in ["shoal://", "alluxio://"] {
        if let Some(rest) = arg.strip_prefix(scheme) {
            return Ok(match rest.find('/') {
                Some(i) => rest[i..].to_string(),
                None => "/".to_string(),
            });
        }
    }
    Err(Error::invalid(format!(
        "'{arg}' is not a Shoal path (use /path, shoal:///path or alluxio://host:port/path)"
    )))
}

fn run(cli: Cli) -> Result<ExitCode> {
    let config = load_config(&cli)?;
    if let Command::Mount {
        mountpoint,
        daemon,
        threads,
        allow_other,
        allow_root,
        log_file,
    } = &cli.command
    {
        // Before the namespace exists: a daemon forks while the process has one thread.
        let options = shoal_fuse::MountOptions {
            threads: *threads,
            allow_other: *allow_other,
            allow_root: *allow_root,
            daemon: *daemon,
            log_file: log_file.clone(),
            verbose: cli.verbose,
        };
        shoal_fuse::mount(&config, mountpoint, &options)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Before the namespace starts its threads (see `cancel_on_signals`).
    let cancel = match cli.command {
        Command::Load { .. } => cancel_on_signals(),
        _ => Cancel::new(),
    };
    let ns = Namespace::new(&config)?;
    let mut out = std::io::stdout().lock();
    let w = output_error;
    match cli.command {
        Command::Mounts => {
            let mut mounts: Vec<_> = ns.mount_table().mounts().collect();
            mounts.sort_by(|a, b| a.path.cmp(&b.path));
            if mounts.is_empty() {
                return Err(Error::config(
                    "no mounts are configured (set shoal.mount.<name>.path and .uri)",
                ));
            }
            writeln!(out, "{:<16} {:<32} {:<48} FLAGS", "NAME", "PATH", "STORE").map_err(w)?;
            for m in mounts {
                let mut flags = Vec::new();
                if m.readonly {
                    flags.push("readonly");
                }
                if m.immutable {
                    flags.push("immutable");
                }
                flags.push(if m.cached { "cached" } else { "uncached" });
                writeln!(
                    out,
                    "{:<16} {:<32} {:<48} {}",
                    m.name,
                    m.path,
                    m.store.describe(),
                    flags.join(",")
                )
                .map_err(w)?;
            }
        }
        Command::Ls { recursive, path } => {
            // Printed as the store's listing pages, never held whole: a directory at a time
            // with -R (its entries, then each subdirectory's, depth first).
            let mut dirs = vec![shoal_path(&path)?];
            while let Some(p) = dirs.pop() {
                let mut below = Vec::new();
                for batch in ns.list_stream(&p)? {
                    for e in batch? {
                        writeln!(
                            out,
                            "{} {:>12} {} {}",
                            if e.is_dir { 'd' } else { '-' },
                            e.len,
                            time(e.mtime_ms),
                            e.path
                        )
                        .map_err(w)?;
                        if recursive && e.is_dir && e.path != p {
                            below.push(e.path);
                        }
                    }
                }
                below.sort();
                dirs.extend(below.into_iter().rev());
            }
        }
        Command::Stat { path } => {
            let path = shoal_path(&path)?;
            let info = ns.status(&path)?;
            writeln!(out, "path:      {}", info.path).map_err(w)?;
            writeln!(
                out,
                "type:      {}",
                if info.is_dir { "directory" } else { "file" }
            )
            .map_err(w)?;
            let files = ns.walk_files(&path)?;
            let total: u64 = files.iter().map(|f| f.len).sum();
            let cached = std::sync::atomic::AtomicU64::new(0);
            let failed = std::sync::Mutex::new(None);
            ns.cached_files(&files, &Cancel::new(), |_, r| match r {
                Ok(n) => {
                    cached.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => {
                    failed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                }
            });
            if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
                return Err(e);
            }
            let cached = cached.into_inner();
            if info.is_dir {
                writeln!(out, "files:     {}", files.len()).map_err(w)?;
            } else {
                writeln!(out, "modified:  {}", time(info.mtime_ms)).map_err(w)?;
                writeln!(out, "etag:      {}", info.etag.as_deref().unwrap_or("-")).map_err(w)?;
                writeln!(out, "version:   {}", info.version.as_deref().unwrap_or("-"))
                    .map_err(w)?;
            }
            writeln!(out, "length:    {} ({})", total, human(total)).map_err(w)?;
            writeln!(
                out,
                "cached:    {} ({}, {:.1}% on this node)",
                cached,
                human(cached),
                percent(cached, total)
            )
            .map_err(w)?;
        }
        Command::Cat {
            offset,
            length,
            path,
        } => {
            let path = shoal_path(&path)?;
            let r = ns.open(&path, None)?;
            let end = offset
                .saturating_add(length.unwrap_or(u64::MAX))
                .min(r.len());
            let mut buf = vec![0u8; 1 << 20];
            let mut pos = offset;
            while pos < end {
                let want = (end - pos).min(buf.len() as u64) as usize;
                let n = r.read_at(pos, &mut buf[..want])?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).map_err(w)?;
                pos += n as u64;
            }
            out.flush().map_err(w)?;
        }
        Command::Mount { .. } => unreachable!("handled above"),
        Command::Load { path, footers } => {
            let path = shoal_path(&path)?;
            return if footers {
                load_footers(&ns, &path, &cancel, &mut out)
            } else {
                load(&ns, &path, &cancel, &mut out)
            };
        }
        Command::Free { path } => {
            let files = ns.walk_files(&shoal_path(&path)?)?;
            let mut freed = 0;
            for f in &files {
                freed += ns.free(&f.path, Some(f.clone()))?;
            }
            writeln!(out, "freed {} files, {} on disk", files.len(), human(freed)).map_err(w)?;
        }
        Command::Cache { command } => {
            let Some(cache) = ns.page_cache() else {
                return Err(Error::config(
                    "the cache is off (shoal.cache.enabled=false)",
                ));
            };
            match command {
                CacheCommand::Stats => {
                    let s = &cache.settings;
                    writeln!(out, "page size:   {}", human(s.page_size)).map_err(w)?;
                    writeln!(
                        out,
                        "memory tier: {} (this process only)",
                        human(s.memory_size)
                    )
                    .map_err(w)?;
                    writeln!(
                        out,
                        "{:<40} {:>10} {:>10} {:>10} {:>8} {:>6} STATE",
                        "DIRECTORY", "CAPACITY", "COUNTED", "SCANNED", "FILES", "USE%"
                    )
                    .map_err(w)?;
                    for d in cache.dirs() {
                        // Corrects the shared counter (and removes what dead writers left).
                        d.run_janitor(false)?;
                        let counted = d.usage().unwrap_or(0);
                        let (pages, bytes) = d.scan_usage()?;
                        let state = match d.refused() {
                            Some(why) => format!("not used: {why}"),
                            None if d.writable() => "ok".to_string(),
                            None => "read-only (writes failed)".to_string(),
                        };
                        writeln!(
                            out,
                            "{:<40} {:>10} {:>10} {:>10} {:>8} {:>5.1}% {}",
                            d.root().display(),
                            human(d.capacity()),
                            human(counted),
                            human(bytes),
                            pages,
                            percent(bytes, d.capacity()),
                            state
                        )
                        .map_err(w)?;
                    }
                }
                CacheCommand::Verify { remove } => {
                    let mut checked = 0;
                    let mut bad = Vec::new();
                    for d in cache.dirs() {
                        if let Some(why) = d.refused() {
                            writeln!(out, "not used: {}: {why}", d.root().display()).map_err(w)?;
                            continue;
                        }
                        let (n, b) = d.verify(remove)?;
                        checked += n;
                        bad.extend(b);
                    }
                    for b in &bad {
                        writeln!(
                            out,
                            "corrupt: {}{}",
                            b.display(),
                            if remove { " (removed)" } else { "" }
                        )
                        .map_err(w)?;
                    }
                    writeln!(out, "checked {checked} pages, {} corrupt", bad.len()).map_err(w)?;
                    if !bad.is_empty() {
                        return Ok(ExitCode::from(3));
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `load --footers`: every file's Parquet footer, `shoal.load.parallel` files at a time (one or
/// two small GETs each: latency, not bandwidth, is what they cost).
fn load_footers(
    ns: &Namespace,
    path: &str,
    cancel: &Cancel,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let w = output_error;
    let started = Instant::now();
    let files: Vec<FileInfo> = ns.walk_files(path)?;
    let results = std::sync::Mutex::new(Vec::with_capacity(files.len()));
    ns.load_footers(&files, cancel, |i, r| {
        results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((i, r.map(|l| l.fetched)))
    });
    let results: Vec<(usize, Result<u64>)> =
        results.into_inner().unwrap_or_else(|p| p.into_inner());
    let before = ns.stats();
    let fetched: u64 = results.iter().filter_map(|(_, r)| r.as_ref().ok()).sum();
    let (failures, cancelled) = split_cancelled(
        results
            .iter()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (files[*i].path.as_str(), e))),
        cancel,
    );
    let get = |n: &str| before[COUNTER_NAMES.iter().position(|c| *c == n).expect("counter")];
    writeln!(
        out,
        "read the footers of {} files in {:.1}s: {} Parquet footers parsed, {} fetched, {} failed",
        files.len(),
        started.elapsed().as_secs_f64(),
        get("parquet_footers"),
        human(fetched),
        failures.len()
    )
    .map_err(w)?;
    end_of_load(out, &failures, cancelled)
}

fn load(ns: &Namespace, path: &str, cancel: &Cancel, out: &mut impl Write) -> Result<ExitCode> {
    let w = output_error;
    let started = Instant::now();
    let files: Vec<FileInfo> = ns.walk_files(path)?;
    let total: u64 = files.iter().map(|f| f.len).sum();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    // Files are fetched in parallel (`shoal.load.parallel` page fetches at once); the bar
    // moves as each file is done.
    let tally = std::sync::Mutex::new((0u64, 0u64, 0usize, Vec::new()));
    bar.set_message(format!("0/{} files", files.len()));
    ns.load_files(&files, cancel, |i, r| {
        let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
        match r {
            Ok(l) => {
                t.0 += l.fetched;
                t.1 += l.cached_before;
            }
            Err(e) => t.3.push((files[i].path.clone(), e)),
        }
        t.2 += 1;
        bar.set_message(format!("{}/{} files", t.2, files.len()));
        bar.inc(files[i].len);
    });
    let (fetched, already, _, all_failures) = tally.into_inner().unwrap_or_else(|p| p.into_inner());
    let (mut failures, cancelled) =
        split_cancelled(all_failures.iter().map(|(p, e)| (p.as_str(), e)), cancel);
    failures.sort_by(|a, b| a.0.cmp(b.0));
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "loaded {} files, {} in {:.1}s ({}/s): {} fetched, {} already cached, {} failed",
        files.len(),
        human(total),
        secs,
        human((fetched as f64 / secs.max(1e-9)) as u64),
        human(fetched),
        human(already),
        failures.len()
    )
    .map_err(w)?;
    let code = end_of_load(out, &failures, cancelled)?;
    let stats = ns.stats();
    let get = |n: &str| stats[COUNTER_NAMES.iter().position(|c| *c == n).expect("counter")];
    writeln!(out, "store requests: {}", get("store_get_requests")).map_err(w)?;
    Ok(code)
}

/// The files that failed, and how many were left undone because `cancel` was cancelled (an
/// interrupted `shoal load`).
fn split_cancelled<'a>(
    failures: impl Iterator<Item = (&'a str, &'a Error)>,
    cancel: &Cancel,
) -> (Vec<(&'a str, &'a Error)>, usize) {
    let mut failed = Vec::new();
    let mut cancelled = 0;
    for (p, e) in failures {
        if cancel.is_cancelled()
            && e.kind() == shoal_core::ErrorKind::Other
            && e.message().ends_with(shoal_core::cancel::CANCELLED)
        {
            cancelled += 1;
        } else {
            failed.push((p, e));
        }
    }
    (failed, cancelled)
}

/// Prints the failures and the files an interrupt left undone; the exit code: 130 when
/// interrupted (as a shell reports SIGINT), 1 when a file failed, else 0.
fn end_of_load(
    out: &mut impl Write,
    failures: &[(&str, &Error)],
    cancelled: usize,
) -> Result<ExitCode> {
    let w = output_error;
    for (p, e) in failures {
        writeln!(out, "failed: {p}: {e}").map_err(w)?;
    }
    if cancelled > 0 {
        writeln!(
            out,
            "cancelled: {cancelled} files not loaded (interrupted; load again to fetch them)"
        )
        .map_err(w)?;
    }
    Ok(if cancelled > 0 {
        ExitCode::from(130)
    } else if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The error of a failed write to the command's output (a closed pipe, a full disk).
fn output_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        OUTPUT_CLOSED.store(true, Ordering::Relaxed);
    }
    Error::new(
        shoal_core::ErrorKind::Other,
        format!("cannot write output: {e}"),
    )
}

fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        100.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM` (UTC); `-` when unknown.
fn time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms).filter(|_| ms > 0) {
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None => "-               ".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_formats() {
        assert_eq!(shoal_path("/a/b").unwrap(), "/a/b");
        assert_eq!(shoal_path("shoal:///a/b").unwrap(), "/a/b");
        assert_eq!(shoal_path("alluxio://m:19998/a").unwrap(), "/a");
        assert_eq!(shoal_path("shoal://h").unwrap(), "/");
        assert!(shoal_path("s3://b/k").is_err());
        assert!(shoal_path("rel/a").is_err());
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert_eq!(time(0).trim(), "-");
        assert_eq!(time(1_700_000_000_000), "2023-11-14 22:13");
    }
}

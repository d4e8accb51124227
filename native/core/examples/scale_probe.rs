//! The measuring side of `benchmarks/scale`: one process, one measurement, one JSON line on
//! stdout. The driver (`benchmarks/scale/scale.py`) starts a new process per measurement so
//! that "a new process" and "resident memory" mean what they say.
//!
//! ```text
//! scale_probe MODE DATA_DIR CACHE_DIR CAPACITY [PATH_FILE]
//! ```
//!
//! DATA_DIR is mounted at `/d` as a cached `file://` mount (so it is also the local-directory
//! peer); CACHE_DIR:CAPACITY is the cache directory. Modes:
//! - `list`: a flat listing of `/d` through Shoal, then the same walk of DATA_DIR (read_dir +
//!   stat each file), both timed; writes the Shoal paths to PATH_FILE when given.
//! - `load`: reads every file once through Shoal (fills the cache).
//! - `warm`: lists, then opens and reads every file through Shoal (all cached), then the same
//!   opens and reads of DATA_DIR; files/s of each and the peak resident memory.
//! - `first`: the time from nothing to the first byte of one cached file in this new process
//!   (namespace created, file opened and read), and the cache directory's work counters.
//! - `evict`: one eviction pass over the cache directory (CAPACITY below what it holds).
//! - `meta`: resident memory before and after caching every file's status (the listing), per
//!   status.
//! - `whole` / `stream`: the flat listing of `/d` held whole (`walk_files`, as every listing
//!   was before listings streamed) or streamed batch by batch and dropped (`walk_stream`, as
//!   Hadoop's `listFiles` iterator now gets it); its time and the process's resident memory
//!   before and at its peak. PATH_FILE is then the metadata cache's size (default `1g`).
//! - `list-s3`: DATA_DIR is then an S3 endpoint (`http://127.0.0.1:PORT`) holding bucket
//!   `bench` (`benchmarks/scale/listserver.py`), mounted at `/d` over `s3://bench/d`; the
//!   listing of `/d` streamed as in `stream`, timed, with the resident memory before and at
//!   its peak (`benchmarks/scale/s3a_listing.py` compares it with S3A's `listFiles`).
//!   PATH_FILE is the metadata cache's size, as in `stream`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use shoal_core::{Config, FileInfo, Namespace};

fn namespace(data: &Path, cache: &Path, capacity: &str) -> Namespace {
    namespace_with(data, cache, capacity, "1g")
}

fn namespace_with(data: &Path, cache: &Path, capacity: &str, metadata: &str) -> Namespace {
    let conf = Config::from_pairs([
        ("shoal.mount.d.path", "/d".to_string()),
        ("shoal.mount.d.uri", format!("file://{}", data.display())),
        ("shoal.mount.d.cache", "true".to_string()),
        ("shoal.mount.d.immutable", "true".to_string()),
        (
            "shoal.cache.dirs",
            format!("{}:{capacity}", cache.display()),
        ),
        ("shoal.cache.page.size", "1m".to_string()),
        ("shoal.metadata.max.size", metadata.to_string()),
    ]);
    Namespace::new(&conf).expect("namespace")
}

/// A cached mount at `/d` over `s3://bench/d` at the S3 `endpoint` (plain HTTP, path-style,
/// any credentials).
fn namespace_s3(endpoint: &str, cache: &Path, capacity: &str, metadata: &str) -> Namespace {
    let opt = |k: &str| format!("shoal.mount.d.option.{k}");
    let conf = Config::from_pairs([
        ("shoal.mount.d.path".to_string(), "/d".to_string()),
        ("shoal.mount.d.uri".to_string(), "s3://bench/d".to_string()),
        ("shoal.mount.d.cache".to_string(), "true".to_string()),
        ("shoal.mount.d.immutable".to_string(), "true".to_string()),
        (opt("aws_endpoint"), endpoint.to_string()),
        (opt("aws_access_key_id"), "bench".to_string()),
        (opt("aws_secret_access_key"), "bench".to_string()),
        (opt("aws_region"), "us-east-1".to_string()),
        (opt("aws_allow_http"), "true".to_string()),
        (
            "shoal.cache.dirs".to_string(),
            format!("{}:{capacity}", cache.display()),
        ),
        ("shoal.cache.page.size".to_string(), "1m".to_string()),
        ("shoal.metadata.max.size".to_string(), metadata.to_string()),
    ]);
    Namespace::new(&conf).expect("namespace")
}

fn counter(stats: &[u64], name: &str) -> u64 {
    stats[shoal_core::stats::COUNTER_NAMES
        .iter()
        .position(|n| *n == name)
        .expect("a counter of that name")]
}

/// (current, peak) resident memory of this process in bytes.
fn rss() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn local_walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let m = std::fs::metadata(e.path()).expect("stat");
        if m.is_dir() {
            local_walk(&e.path(), out);
        } else {
            out.push((e.path(), m.len()));
        }
    }
}

fn read_shoal(ns: &Namespace, files: &[FileInfo], buf: &mut [u8]) -> u64 {
    let mut bytes = 0;
    for f in files {
        let r = ns.open(&f.path, Some(f.clone())).expect("open");
        let mut pos = 0;
        loop {
            let n = r.read_at(pos, buf).expect("read");
            if n == 0 {
                break;
            }
            pos += n as u64;
        }
        bytes += pos;
    }
    bytes
}

/// Lists `/d` and reads every file through Shoal: (namespace, files, bytes, seconds reading).
fn list_and_read(
    data: &Path,
    cache: &Path,
    capacity: &str,
    buf: &mut [u8],
) -> (Namespace, Vec<FileInfo>, u64, f64) {
    let ns = namespace(data, cache, capacity);
    let files = ns.walk_files("/d").expect("list");
    let t = Instant::now();
    let bytes = read_shoal(&ns, &files, buf);
    (ns, files, bytes, t.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: scale_probe MODE DATA_DIR CACHE_DIR CAPACITY [PATH_FILE]");
        std::process::exit(2);
    }
    let (mode, data, cache, capacity) = (
        args[1].as_str(),
        Path::new(&args[2]),
        Path::new(&args[3]),
        args[4].as_str(),
    );
    let start = Instant::now();
    let mut buf = vec![0u8; 256 << 10];
    let line = match mode {
        "list" => {
            let ns = namespace(data, cache, capacity);
            let t = Instant::now();
            let files = ns.walk_files("/d").expect("list");
            let shoal_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let again = ns.walk_files("/d").expect("list").len();
            let shoal_again_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut local = Vec::new();
            local_walk(data, &mut local);
            let local_s = t.elapsed().as_secs_f64();
            if let Some(p) = args.get(5) {
                let text: String = files.iter().map(|f| format!("{}\n", f.path)).collect();
                std::fs::write(p, text).expect("path file");
            }
            format!(
                "{{\"files\":{},\"again\":{again},\"shoal_list_s\":{shoal_s:.4},\
                 \"shoal_list_again_s\":{shoal_again_s:.4},\"local_walk_s\":{local_s:.4},\
                 \"local_files\":{}}}",
                files.len(),
                local.len()
            )
        }
        "load" => {
            let (_ns, files, bytes, s) = list_and_read(data, cache, capacity, &mut buf);
            format!(
                "{{\"files\":{},\"bytes\":{bytes},\"load_s\":{s:.3},\"files_per_s\":{:.0}}}",
                files.len(),
                files.len() as f64 / s
            )
        }
        "warm" => {
            let (ns, files, bytes, shoal_s) = list_and_read(data, cache, capacity, &mut buf);
            let stats = ns.stats();
            let from_store = counter(&stats, "bytes_from_store");
            let (_, peak) = rss();
            let mut local = Vec::new();
            local_walk(data, &mut local);
            let t = Instant::now();
            let mut local_bytes = 0u64;
            for (p, _) in &local {
                let mut f = std::fs::File::open(p).expect("open");
                loop {
                    let n = f.read(&mut buf).expect("read");
                    if n == 0 {
                        break;
                    }
                    local_bytes += n as u64;
                }
            }
            let local_s = t.elapsed().as_secs_f64();
            format!(
                "{{\"files\":{},\"bytes\":{bytes},\"bytes_from_store\":{from_store},\
                 \"shoal_files_per_s\":{:.0},\"local_files_per_s\":{:.0},\"local_bytes\":{local_bytes},\
                 \"peak_rss\":{peak}}}",
                files.len(),
                files.len() as f64 / shoal_s,
                local.len() as f64 / local_s
            )
        }
        "first" => {
            let path = args.get(5).expect("first needs the path of a cached file");
            let ns = namespace(data, cache, capacity);
            let r = ns.open(path, None).expect("open");
            let n = r.read_at(0, &mut buf).expect("read");
            let ms = start.elapsed().as_secs_f64() * 1e3;
            let hits = counter(&r.stats(), "bytes_from_store");
            let work = ns.page_cache().unwrap().dirs()[0].entries_examined();
            format!(
                "{{\"first_hit_ms\":{ms:.2},\"bytes\":{n},\"bytes_from_store\":{hits},\
                 \"dir_entries_examined\":{work}}}"
            )
        }
        "evict" => {
            let ns = namespace(data, cache, capacity);
            let dir = ns.page_cache().unwrap().dirs()[0].clone();
            let before = dir.usage().unwrap_or(0);
            let t = Instant::now();
            dir.run_janitor(true).expect("janitor");
            let s = t.elapsed().as_secs_f64();
            let (_, peak) = rss();
            format!(
                "{{\"evict_s\":{s:.3},\"usage_before\":{before},\"usage_after\":{},\
                 \"evictions\":{},\"dir_entries_examined\":{},\"peak_rss\":{peak}}}",
                dir.usage().unwrap_or(0),
                counter(&ns.page_cache().unwrap().stats.snapshot(), "evictions"),
                dir.entries_examined()
            )
        }
        "meta" => {
            let ns = namespace(data, cache, capacity);
            // Freed memory handed back first, so that what stays is what the cache holds.
            // Safety: malloc_trim only releases free heap memory.
            unsafe { libc::malloc_trim(0) };
            let (before, _) = rss();
            let files = ns.walk_files("/d").expect("list");
            let n = files.len();
            drop(files);
            unsafe { libc::malloc_trim(0) };
            let (after, _) = rss();
            format!(
                "{{\"files\":{n},\"rss_before\":{before},\"rss_after\":{after},\
                 \"bytes_per_status\":{:.0}}}",
                (after as f64 - before as f64) / n as f64
            )
        }
        "whole" | "stream" => {
            let metadata = args.get(5).map_or("1g", |s| s.as_str());
            let ns = namespace_with(data, cache, capacity, metadata);
            unsafe { libc::malloc_trim(0) };
            let (before, _) = rss();
            let t = Instant::now();
            let (n, batches) = if mode == "whole" {
                (ns.walk_files("/d").expect("list").len(), 1)
            } else {
                let mut n = 0;
                let mut batches = 0;
                for b in ns.walk_stream("/d").expect("list") {
                    n += b.expect("list").len();
                    batches += 1;
                }
                (n, batches)
            };
            let s = t.elapsed().as_secs_f64();
            let (_, peak) = rss();
            format!(
                "{{\"files\":{n},\"batches\":{batches},\"list_s\":{s:.4},\
                 \"rss_before\":{before},\"rss_peak\":{peak},\"metadata\":\"{metadata}\"}}"
            )
        }
        "list-s3" => {
            let metadata = args.get(5).map_or("1g", |s| s.as_str());
            let ns = namespace_s3(&args[2], cache, capacity, metadata);
            unsafe { libc::malloc_trim(0) };
            let (before, _) = rss();
            let t = Instant::now();
            let mut n = 0;
            for b in ns.walk_stream("/d").expect("list") {
                n += b.expect("list").len();
            }
            let s = t.elapsed().as_secs_f64();
            let (_, peak) = rss();
            format!(
                "{{\"files\":{n},\"list_s\":{s:.4},\"rss_before\":{before},\
                 \"rss_peak\":{peak},\"metadata\":\"{metadata}\"}}"
            )
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    };
    println!("{line}");
}

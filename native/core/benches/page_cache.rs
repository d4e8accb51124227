//! Warm reads through the node cache against the physical limit: the same bytes read with
//! `std::fs` positioned reads of local files (which the OS page cache holds, as it holds
//! Shoal's disk pages).
//!
//! A local directory is mounted with `shoal.mount.<n>.cache=true` and a cache directory in a
//! temporary directory; every page is read once before measuring. Two tiers are measured:
//! `memory` (the default in-process memory tier holds the pages) and `disk`
//! (`shoal.cache.memory.size=0`, every hit is a positioned read of a page file the process keeps
//! open, each chunk checksummed the first time it is read through that file).
//!
//! ```text
//! cargo bench -p shoal-core --bench page_cache                 # all of it (about 2 minutes)
//! cargo bench -p shoal-core --bench page_cache -- seq_1m       # one group
//! SHOAL_BENCH_PAGE_SIZE=4m cargo bench -p shoal-core --bench page_cache
//! ```
//!
//! `par_pread_4k` reads the same random 4 KiB pieces from `PAR_THREADS` threads at once through
//! one open stream (a Spark task's `readFully(position, ...)` calls from several threads, a
//! FUSE mount's parallel reads): hits on each tier, and `miss` (every page freed before each
//! pass, so each pass fetches its pages from the store, a `file://` directory here).
//!
//! After criterion's own report, a table gives each case's mean time for Shoal and for
//! `std::fs`, and the ratio of their throughputs (Shoal / std; 1.0 is the physical limit).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use shoal_core::{Config, FileReader, Namespace};
use shoal_testkit::noise;

const BIG_LEN: usize = 64 << 20;
const SMALL_LEN: usize = 100_000;
const SMALL_FILES: usize = 64;
const RANDOM_READS: usize = 1024;
const TIERS: [&str; 2] = ["memory", "disk"];
const PAR_THREADS: usize = 4;

/// The data set, the namespaces over it (one per tier), and the random offsets.
struct Fixture {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    namespaces: Vec<(&'static str, Namespace)>,
    offsets: Vec<u64>,
}

fn fixture(page_size: &str) -> Fixture {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("small")).unwrap();
    std::fs::write(data.join("big.bin"), noise(BIG_LEN, 1)).unwrap();
    for i in 0..SMALL_FILES {
        std::fs::write(
            data.join(format!("small/{i:04}.bin")),
            noise(SMALL_LEN, i as u64 + 2),
        )
        .unwrap();
    }
    let namespaces = TIERS
        .iter()
        .map(|tier| {
            let cache = tmp.path().join(format!("cache-{tier}"));
            let mut pairs = vec![
                ("shoal.mount.bench.path", "/bench".to_string()),
                (
                    "shoal.mount.bench.uri",
                    format!("file://{}", data.display()),
                ),
                ("shoal.mount.bench.cache", "true".into()),
                ("shoal.cache.dirs", format!("{}:2g", cache.display())),
                ("shoal.cache.page.size", page_size.into()),
                ("shoal.metadata.ttl", "1h".into()),
            ];
            if *tier == "disk" {
                pairs.push(("shoal.cache.memory.size", "0".into()));
            } else {
                pairs.push(("shoal.cache.memory.size", "512m".into()));
            }
            let ns = Namespace::new(&Config::from_pairs(pairs)).expect("namespace");
            warm(&ns);
            (*tier, ns)
        })
        .collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let offsets = (0..RANDOM_READS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % (BIG_LEN as u64 - 4096)) & !4095
        })
        .collect();
    Fixture {
        _tmp: tmp,
        data,
        namespaces,
        offsets,
    }
}

/// Reads every byte once, so every page is cached, and checks the cache served them.
fn warm(ns: &Namespace) {
    let mut buf = vec![0u8; 1 << 20];
    let mut files = vec!["/bench/big.bin".to_string()];
    files.extend((0..SMALL_FILES).map(|i| format!("/bench/small/{i:04}.bin")));
    for f in &files {
        let r = ns.open(f, None).expect("open");
        let mut pos = 0;
        while pos < r.len() {
            pos += r.read_at(pos, &mut buf).expect("read") as u64;
        }
    }
    // A second pass must be all hits.
    let before = ns.stats();
    for f in &files {
        let r = ns.open(f, None).expect("open");
        r.read_at(0, &mut buf).expect("read");
    }
    let after = ns.stats();
    let misses = shoal_core::stats::COUNTER_NAMES
        .iter()
        .position(|n| *n == "cache_misses")
        .unwrap();
    assert_eq!(after[misses], before[misses], "the cache is not warm");
}

fn read_all_shoal(r: &FileReader, buf: &mut [u8]) -> u64 {
    let mut pos = 0;
    while pos < r.len() {
        pos += r.read_at(pos, buf).expect("read") as u64;
    }
    pos
}

fn read_all_std(f: &File, len: u64, buf: &mut [u8]) -> u64 {
    let mut pos = 0;
    while pos < len {
        let n = f.read_at(buf, pos).expect("read");
        assert!(n > 0);
        pos += n as u64;
    }
    pos
}

fn bench_sequential(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("seq_1m");
    g.throughput(Throughput::Bytes(BIG_LEN as u64));
    let mut buf = vec![0u8; 1 << 20];
    let file = File::open(fx.data.join("big.bin")).unwrap();
    g.bench_function("std", |b| {
        b.iter(|| read_all_std(&file, BIG_LEN as u64, &mut buf))
    });
    for (tier, ns) in &fx.namespaces {
        let r = ns.open("/bench/big.bin", None).unwrap();
        g.bench_function(BenchmarkId::new("shoal", tier), |b| {
            b.iter(|| read_all_shoal(&r, &mut buf))
        });
    }
    g.finish();
}

fn bench_random(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("rand_4k");
    g.throughput(Throughput::Bytes((RANDOM_READS * 4096) as u64));
    let mut buf = vec![0u8; 4096];
    let file = File::open(fx.data.join("big.bin")).unwrap();
    g.bench_function("std", |b| {
        b.iter(|| {
            for &o in &fx.offsets {
                file.read_exact_at(&mut buf, o).unwrap();
            }
        })
    });
    for (tier, ns) in &fx.namespaces {
        let r = ns.open("/bench/big.bin", None).unwrap();
        g.bench_function(BenchmarkId::new("shoal", tier), |b| {
            b.iter(|| {
                for &o in &fx.offsets {
                    r.read_at(o, &mut buf).unwrap();
                }
            })
        });
    }
    g.finish();
}

fn bench_small_files(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("open_read_100k");
    g.throughput(Throughput::Elements(SMALL_FILES as u64));
    let mut buf = vec![0u8; SMALL_LEN];
    let names: Vec<String> = (0..SMALL_FILES).map(|i| format!("{i:04}.bin")).collect();
    let dir = fx.data.join("small");
    g.bench_function("std", |b| {
        b.iter(|| {
            for n in &names {
                let f = File::open(dir.join(n)).unwrap();
                let len = f.metadata().unwrap().len();
                read_all_std(&f, len, &mut buf);
            }
        })
    });
    for (tier, ns) in &fx.namespaces {
        g.bench_function(BenchmarkId::new("shoal", tier), |b| {
            b.iter(|| {
                for n in &names {
                    let r = ns.open(&format!("/bench/small/{n}"), None).unwrap();
                    read_all_shoal(&r, &mut buf);
                }
            })
        });
    }
    g.finish();
}

/// `PAR_THREADS` threads, each reading its share of the random offsets, through one stream.
fn par_reads(r: &FileReader, offsets: &[u64]) {
    std::thread::scope(|s| {
        for part in offsets.chunks(offsets.len().div_ceil(PAR_THREADS)) {
            s.spawn(move || {
                let mut buf = vec![0u8; 4096];
                for &o in part {
                    r.read_at(o, &mut buf).unwrap();
                }
            });
        }
    });
}

fn bench_parallel(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("par_pread_4k");
    g.throughput(Throughput::Bytes((RANDOM_READS * 4096) as u64));
    let file = File::open(fx.data.join("big.bin")).unwrap();
    g.bench_function("std", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for part in fx.offsets.chunks(RANDOM_READS.div_ceil(PAR_THREADS)) {
                    let file = &file;
                    s.spawn(move || {
                        let mut buf = vec![0u8; 4096];
                        for &o in part {
                            file.read_exact_at(&mut buf, o).unwrap();
                        }
                    });
                }
            })
        })
    });
    for (tier, ns) in &fx.namespaces {
        let r = ns.open("/bench/big.bin", None).unwrap();
        g.bench_function(BenchmarkId::new("shoal", tier), |b| {
            b.iter(|| par_reads(&r, &fx.offsets))
        });
    }
    // Last: it empties the disk tier's cache of the big file before every pass.
    let (_, ns) = &fx.namespaces[1];
    let r = ns.open("/bench/big.bin", None).unwrap();
    g.bench_function(BenchmarkId::new("shoal", "miss"), |b| {
        b.iter_batched(
            || free_big(ns),
            |()| par_reads(&r, &fx.offsets),
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn free_big(ns: &Namespace) {
    ns.free("/bench/big.bin", None).expect("free");
}

/// Criterion's mean estimate of one benchmark, in nanoseconds.
fn mean_ns(out: &Path, group: &str, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(out.join(group).join(id).join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn print_ratios(out: &Path, page_size: &str) {
    println!();
    println!("page size {page_size}: Shoal warm reads / std::fs (throughput ratio; 1.00 = the physical limit)");
    println!(
        "{:<16} {:<8} {:>14} {:>14} {:>8}",
        "case", "tier", "std (mean)", "shoal (mean)", "ratio"
    );
    for (group, unit) in [
        ("seq_1m", "64 MiB in 1 MiB reads"),
        ("rand_4k", "1024 random 4 KiB reads"),
        ("open_read_100k", "64 files of 100 KB"),
        (
            "par_pread_4k",
            "1024 random 4 KiB reads, 4 threads, one stream",
        ),
    ] {
        let Some(std_ns) = mean_ns(out, group, "std") else {
            continue;
        };
        for tier in TIERS.iter().chain(&["miss"]) {
            let Some(shoal_ns) = mean_ns(out, group, &format!("shoal/{tier}")) else {
                continue;
            };
            println!(
                "{:<16} {:<8} {:>11.3} ms {:>11.3} ms {:>8.2}   ({unit})",
                group,
                tier,
                std_ns / 1e6,
                shoal_ns / 1e6,
                std_ns / shoal_ns
            );
        }
    }
}

fn main() {
    let page_size = std::env::var("SHOAL_BENCH_PAGE_SIZE").unwrap_or_else(|_| "1m".into());
    let out = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("shoal-bench-criterion"))
        .join(format!("page-{page_size}"));
    let fx = fixture(&page_size);
    let mut c = Criterion::default()
        .output_directory(&out)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_sequential(&mut c, &fx);
    bench_random(&mut c, &fx);
    bench_small_files(&mut c, &fx);
    bench_parallel(&mut c, &fx);
    c.final_summary();
    print_ratios(&out, &page_size);
}

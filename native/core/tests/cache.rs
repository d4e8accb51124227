//! The node cache, proven against a real S3 server: pages shared by processes, versions,
//! corruption, crashes, single flight, capacity, and read-only directories.
//!
//! Tests that need a second process run this same test binary again with `SHOAL_CHILD` set, to
//! run one of the `child_*` functions; those are ignored as tests of their own (and fail when
//! run without their parent).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use shoal_core::stats::COUNTER_NAMES;
use shoal_core::{Config, Namespace};
use shoal_testkit::{set_mtime, S3Server};

fn counter(stats: &[u64], name: &str) -> u64 {
    stats[COUNTER_NAMES.iter().position(|n| *n == name).unwrap()]
}

fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

/// Configuration: an S3 mount at /s3 over `bucket`, caching into `cache_dir`.
fn conf(server: &S3Server, cache_dir: &Path, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    server.cache_test_conf(cache_dir, extra)
}

/// An S3 server holding `pattern(n, seed)` at `key` in `bucket`, an empty cache directory, and
/// the data.
fn server_with(key: &str, n: usize, seed: u64) -> (S3Server, tempfile::TempDir, Vec<u8>) {
    let server = S3Server::start();
    let data = pattern(n, seed);
    put(&server, key, &data);
    (server, tempfile::tempdir().unwrap(), data)
}

/// An S3 server with an empty `bucket`, and an empty cache directory.
fn empty_bucket() -> (S3Server, tempfile::TempDir) {
    let server = S3Server::start();
    std::fs::create_dir(server.root().join("bucket")).unwrap();
    (server, tempfile::tempdir().unwrap())
}

/// No memory tier: every hit is read from a page file.
const DISK_ONLY: (&str, &str) = ("shoal.cache.memory.size", "0");

/// Writes through the node cache (`shoal.mount.s3.write`).
const CACHE_THROUGH: (&str, &str) = ("shoal.mount.s3.write", "cache-through");

/// A namespace over `conf(server, cache_dir, extra)`.
fn namespace(server: &S3Server, cache_dir: &Path, extra: &[(&str, &str)]) -> Namespace {
    Namespace::new(&Config::from_pairs(conf(server, cache_dir, extra))).unwrap()
}

fn put(server: &S3Server, key: &str, data: &[u8]) {
    server.put("bucket", key, data);
}

fn read_all(ns: &Namespace, path: &str) -> Vec<u8> {
    let r = ns.open(path, None).unwrap();
    let mut out = vec![0u8; r.len() as usize];
    // Read in uneven pieces, so pages are crossed mid-way.
    let mut pos = 0;
    for step in [1000usize, 70_000, 3, 150_000].iter().cycle() {
        if pos >= out.len() {
            break;
        }
        let end = (pos + step).min(out.len());
        assert_eq!(
            r.read_at(pos as u64, &mut out[pos..end]).unwrap(),
            end - pos
        );
        pos = end;
    }
    out
}

/// Every file under `dir` whose name passes `keep`.
fn files_under(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if keep(&p.file_name().unwrap().to_string_lossy()) {
                out.push(p);
            }
        }
    }
    out
}

fn page_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir, |name| name.contains('_'))
}

/// Runs `child_test` of this binary in a new process with `conf` and `args`, returning its
/// counters (printed as one `STATS` line).
fn run_child(child_test: &str, conf: &[(String, String)], args: &str) -> Vec<u64> {
    let out = shoal_testkit::child_command(child_test, args, conf)
        .arg("--test-threads=1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("STATS ").map(|(_, v)| v))
        .unwrap_or_else(|| panic!("child printed no STATS: {stdout}"));
    line.split(',').map(|v| v.parse().unwrap()).collect()
}

/// The child's namespace and arguments, from its parent's environment.
fn child_namespace() -> (Namespace, String) {
    let (args, pairs) = shoal_testkit::child_args();
    (Namespace::new(&Config::from_pairs(pairs)).unwrap(), args)
}

/// Child: reads every path named in SHOAL_CHILD (`path:sha` pairs split by spaces) and checks
/// the bytes against the expected digest.
#[test]
#[ignore = "a child process of other tests (run_child)"]
fn child_read() {
    let (ns, args) = child_namespace();
    for item in args.split_whitespace() {
        let (path, expect) = item.split_once(':').unwrap();
        let data = read_all(&ns, path);
        assert_eq!(digest(&data), expect, "wrong bytes for {path}");
    }
    let s = ns.stats();
    println!(
        "STATS {}",
        s.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
}

/// Child: reads a file slowly forever (the parent kills it mid-fetch).
#[test]
#[ignore = "a child process of a crash test"]
fn child_read_until_killed() {
    let (ns, path) = child_namespace();
    loop {
        let r = ns.open(&path, None).unwrap();
        let mut buf = vec![0u8; 64 << 10];
        let mut pos = 0;
        while r.read_at(pos, &mut buf).unwrap() > 0 {
            pos += buf.len() as u64;
        }
    }
}

fn digest(data: &[u8]) -> String {
    format!("{:016x}{:08x}", xxhash(data), data.len())
}

fn xxhash(data: &[u8]) -> u64 {
    // A small FNV-1a is enough to compare contents in tests.
    data.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

#[test]
fn a_second_process_reads_everything_from_the_node_cache() {
    let server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let mut args = Vec::new();
    for (i, size) in [10usize, 65_536, 200_000, 1_000_000].iter().enumerate() {
        let data = pattern(*size, i as u64);
        put(&server, &format!("train/{i}.bin"), &data);
        args.push(format!("/s3/train/{i}.bin:{}", digest(&data)));
    }
    let c = conf(&server, cache.path(), &[]);
    let first = run_child("child_read", &c, &args.join(" "));
    assert!(counter(&first, "store_get_requests") >= 4);
    assert_eq!(counter(&first, "bytes_from_store"), 1_265_546);
    let second = run_child("child_read", &c, &args.join(" "));
    assert_eq!(counter(&second, "store_get_requests"), 0, "{second:?}");
    assert_eq!(counter(&second, "bytes_from_store"), 0);
    assert_eq!(counter(&second, "bytes_from_disk"), 1_265_546);
    // Pages, packs and directories are private to the user.
    use std::os::unix::fs::PermissionsExt;
    let packed = files_under(cache.path(), |n| n.starts_with("pack-") || n == "packs.idx");
    assert!(!packed.is_empty());
    for p in page_files(cache.path()).into_iter().chain(packed) {
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let dir = p.parent().unwrap();
        assert_eq!(
            std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}

#[test]
fn processes_packing_small_objects_at_once_share_every_one_of_them() {
    let server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let mut args = Vec::new();
    let mut total = 0;
    for i in 0..600u64 {
        let data = pattern(100 + (i as usize * 7919) % 20_000, i);
        total += data.len() as u64;
        put(&server, &format!("small/{i:03}.bin"), &data);
        args.push(format!("/s3/small/{i:03}.bin:{}", digest(&data)));
    }
    let c = conf(&server, cache.path(), &[DISK_ONLY]);
    // Three processes read them all at once, each in another order, each checking every byte.
    let children: Vec<_> = (0..3)
        .map(|k| {
            let mut order = args.clone();
            order.rotate_left(k * 200);
            shoal_testkit::child_command("child_read", &order.join(" "), &c)
                .arg("--test-threads=1")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // A fourth finds every one of them in the packs the three wrote.
    let last = run_child("child_read", &c, &args.join(" "));
    assert_eq!(counter(&last, "store_get_requests"), 0, "{last:?}");
    assert_eq!(counter(&last, "bytes_from_disk"), total);
    assert!(page_files(cache.path()).is_empty());
    let packs = files_under(cache.path(), |n| n.starts_with("pack-")).len();
    assert!(packs > 0 && packs <= 3 * 256, "{packs}");
}

#[test]
fn an_overwritten_object_is_read_anew() {
    let server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    put(&server, "f.bin", &pattern(100_000, 1));
    let ns = namespace(&server, cache.path(), &[("shoal.metadata.ttl", "0")]);
    assert_eq!(read_all(&ns, "/s3/f.bin"), pattern(100_000, 1));
    // Same length, new bytes: the version differs, so cached pages are not used. s3s-fs lists
    // without ETags, so Shoal keys its pages by length + mtime in whole seconds (README, "Pages
    // keyed by version"): the overwrite must land in a later second to be a new version.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    put(&server, "f.bin", &pattern(100_000, 2));
    assert_eq!(read_all(&ns, "/s3/f.bin"), pattern(100_000, 2));
    put(&server, "f.bin", &pattern(5, 3));
    assert_eq!(read_all(&ns, "/s3/f.bin"), pattern(5, 3));

    // An immutable mount keeps its metadata, and so its version, on purpose.
    let ns = namespace(
        &server,
        cache.path(),
        &[
            ("shoal.mount.s3.immutable", "true"),
            ("shoal.metadata.negative.ttl", "0"),
        ],
    );
    assert_eq!(ns.status("/s3/f.bin").unwrap().len, 5);
    put(&server, "f.bin", &pattern(7, 4));
    assert_eq!(ns.status("/s3/f.bin").unwrap().len, 5);
}

#[test]
fn corrupt_truncated_and_foreign_pages_are_replaced() {
    let (server, cache, data) = server_with("f.bin", 300_000, 5);
    let c = conf(&server, cache.path(), &[DISK_ONLY]);
    {
        let ns = Namespace::new(&Config::from_pairs(c.clone())).unwrap();
        assert_eq!(read_all(&ns, "/s3/f.bin"), data);
    }
    let mut pages = page_files(cache.path());
    pages.sort();
    assert_eq!(pages.len(), 5, "{pages:?}");
    // Flip a data byte, truncate one, replace one with another page's file, garble one.
    let mut bytes = std::fs::read(&pages[0]).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0xff;
    std::fs::write(&pages[0], &bytes).unwrap();
    let b1 = std::fs::read(&pages[1]).unwrap();
    std::fs::write(&pages[1], &b1[..b1.len() / 2]).unwrap();
    std::fs::copy(&pages[3], &pages[2]).unwrap();
    std::fs::write(&pages[4], b"not a page").unwrap();

    let ns = Namespace::new(&Config::from_pairs(c)).unwrap();
    assert_eq!(read_all(&ns, "/s3/f.bin"), data);
    let s = ns.stats();
    assert_eq!(counter(&s, "corrupt_pages"), 4, "{s:?}");
    assert_eq!(counter(&s, "store_get_requests"), 4);
    // The replacements are good: a third reader needs no store.
    let ns = namespace(&server, cache.path(), &[DISK_ONLY]);
    assert_eq!(read_all(&ns, "/s3/f.bin"), data);
    assert_eq!(counter(&ns.stats(), "store_get_requests"), 0);
}

#[test]
fn kept_page_files_serve_new_streams_and_go_with_their_pages() {
    let (server, cache, data) = server_with("k.bin", 300_000, 11);
    let ns = namespace(&server, cache.path(), &[DISK_ONLY]);
    let gets = |ns: &Namespace| counter(&ns.stats(), "store_get_requests");
    assert_eq!(read_all(&ns, "/s3/k.bin"), data);
    assert_eq!(gets(&ns), 5);
    // Hits open the page files once, for every later stream of the process.
    assert_eq!(read_all(&ns, "/s3/k.bin"), data);
    let dir = ns.page_cache().unwrap().dirs()[0].clone();
    assert_eq!(dir.open_pages().len(), 5);
    assert_eq!(read_all(&ns, "/s3/k.bin"), data);
    assert_eq!(dir.open_pages().len(), 5);
    assert_eq!(gets(&ns), 5);
    // Freed: the kept files are closed with the pages, and the next read fetches anew.
    assert!(ns.free("/s3/k.bin", None).unwrap() > 0);
    assert!(dir.open_pages().is_empty());
    assert_eq!(read_all(&ns, "/s3/k.bin"), data);
    assert_eq!(gets(&ns), 10);
}

#[test]
fn a_process_killed_mid_fetch_leaves_nothing_wrong() {
    let (server, cache, data) = server_with("big.bin", 8 << 20, 6);
    let c = conf(&server, cache.path(), &[]);
    for delay_ms in [30u64, 120, 400] {
        let mut child = shoal_testkit::child_command("child_read_until_killed", "/s3/big.bin", &c)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let ns = Namespace::new(&Config::from_pairs(c)).unwrap();
    assert_eq!(read_all(&ns, "/s3/big.bin"), data);
    assert_eq!(counter(&ns.stats(), "corrupt_pages"), 0);
}

#[test]
fn concurrent_readers_of_a_cold_file_cause_one_get_per_page() {
    let server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let data = Arc::new(pattern(1 << 20, 7));
    put(&server, "cold.bin", &data);
    let ns = Arc::new(namespace(&server, cache.path(), &[]));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let ns = ns.clone();
            let data = data.clone();
            std::thread::spawn(move || assert_eq!(read_all(&ns, "/s3/cold.bin"), *data))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = ns.stats();
    assert_eq!(
        counter(&s, "store_get_requests"),
        16,
        "1 MiB in 64 KiB pages: {s:?}"
    );
    assert_eq!(counter(&s, "bytes_from_store"), 1 << 20);
}

#[test]
fn capacity_holds_when_two_processes_fill_the_cache() {
    let server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let mut a = Vec::new();
    let mut b = Vec::new();
    for i in 0..6 {
        let data = pattern(1 << 20, 100 + i);
        put(&server, &format!("f{i}.bin"), &data);
        let arg = format!("/s3/f{i}.bin:{}", digest(&data));
        if i % 2 == 0 {
            a.push(arg)
        } else {
            b.push(arg)
        }
    }
    let capacity = 3u64 << 20;
    let c = conf(
        &server,
        cache.path(),
        &[(
            "shoal.cache.dirs",
            &format!("{}:3m", cache.path().display()),
        )],
    );
    let (ca, cb) = (c.clone(), c.clone());
    let (a, b) = (a.join(" "), b.join(" "));
    let ta = std::thread::spawn(move || run_child("child_read", &ca, &a));
    let tb = std::thread::spawn(move || run_child("child_read", &cb, &b));
    ta.join().unwrap();
    tb.join().unwrap();
    let held: u64 = page_files(cache.path())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        held <= capacity,
        "{held} bytes held in a {capacity}-byte cache"
    );
    assert!(held > 0);
}

#[test]
fn a_read_only_cache_directory_still_serves_reads() {
    let server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let warm = pattern(200_000, 8);
    let cold = pattern(100_000, 9);
    put(&server, "warm.bin", &warm);
    put(&server, "cold.bin", &cold);
    let c = conf(&server, cache.path(), &[DISK_ONLY]);
    {
        let ns = Namespace::new(&Config::from_pairs(c.clone())).unwrap();
        assert_eq!(read_all(&ns, "/s3/warm.bin"), warm);
    }
    let frozen = ReadOnlyTree::new(cache.path());
    let ns = Namespace::new(&Config::from_pairs(c)).unwrap();
    assert_eq!(read_all(&ns, "/s3/warm.bin"), warm);
    assert_eq!(read_all(&ns, "/s3/cold.bin"), cold);
    let s = ns.stats();
    assert_eq!(counter(&s, "bytes_from_disk"), 200_000, "{s:?}");
    assert_eq!(counter(&s, "bytes_from_store"), 100_000);
    drop(frozen);
}

/// Makes every directory and file under a path unwritable: `chattr +i` as root (whom
/// permission bits do not stop), permission bits otherwise. Undone on drop.
struct ReadOnlyTree {
    paths: Vec<PathBuf>,
    root_user: bool,
}

impl ReadOnlyTree {
    fn new(top: &Path) -> Self {
        use std::os::unix::fs::MetadataExt;
        let root_user = std::fs::metadata("/proc/self").unwrap().uid() == 0;
        let mut paths = vec![top.to_path_buf()];
        let mut i = 0;
        while i < paths.len() {
            if paths[i].is_dir() {
                for e in std::fs::read_dir(&paths[i]).unwrap() {
                    paths.push(e.unwrap().path());
                }
            }
            i += 1;
        }
        for p in &paths {
            if root_user {
                let ok = Command::new("chattr")
                    .arg("+i")
                    .arg(p)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "chattr +i {} failed", p.display());
            } else {
                use std::os::unix::fs::PermissionsExt;
                let mode = if p.is_dir() { 0o500 } else { 0o400 };
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
        ReadOnlyTree { paths, root_user }
    }
}

impl Drop for ReadOnlyTree {
    fn drop(&mut self) {
        for p in &self.paths {
            if self.root_user {
                let _ = Command::new("chattr").arg("-i").arg(p).status();
            } else {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700));
            }
        }
    }
}

/// Writes `data` to `path` in uneven pieces, so pages are completed mid-write.
fn write_file(ns: &Namespace, path: &str, data: &[u8]) {
    let mut w = ns.create(path, true).unwrap();
    for piece in data.chunks(9_999) {
        w.write(piece).unwrap();
    }
    w.close().unwrap();
}

/// Every file under `dir` whose name starts with `.tmp-`: staged or half-written pages.
fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir, |name| name.starts_with(".tmp-"))
}

#[test]
fn cache_through_writes_are_read_back_without_the_store() {
    let (server, cache) = empty_bucket();
    let c = conf(&server, cache.path(), &[CACHE_THROUGH]);
    let ns = Namespace::new(&Config::from_pairs(c.clone())).unwrap();
    let mut args = Vec::new();
    let mut total = 0;
    // Empty, smaller than a page, exactly a page, several pages and a partial one.
    for (i, size) in [0usize, 10, 65_536, 200_000].iter().enumerate() {
        let data = pattern(*size, 10 + i as u64);
        write_file(&ns, &format!("/s3/out/{i}.bin"), &data);
        assert_eq!(
            std::fs::read(server.root().join(format!("bucket/out/{i}.bin"))).unwrap(),
            data,
            "the store holds what was written"
        );
        args.push(format!("/s3/out/{i}.bin:{}", digest(&data)));
        total += size;
    }
    assert_eq!(page_files(cache.path()).len(), 1 + 1 + 4);
    assert!(temporary_files(cache.path()).is_empty());
    // Another process on the node reads every byte from the cache.
    let child = run_child("child_read", &c, &args.join(" "));
    assert_eq!(counter(&child, "store_get_requests"), 0, "{child:?}");
    assert_eq!(counter(&child, "bytes_from_disk"), total as u64);

    // Replaced by other bytes: the new version is what is cached and read.
    let new = pattern(150_000, 99);
    write_file(&ns, "/s3/out/3.bin", &new);
    let child = run_child("child_read", &c, &format!("/s3/out/3.bin:{}", digest(&new)));
    assert_eq!(counter(&child, "store_get_requests"), 0, "{child:?}");
    assert_eq!(counter(&child, "bytes_from_disk"), 150_000);
}

#[test]
fn through_writes_leave_the_node_cache_alone() {
    let (server, cache) = empty_bucket();
    for write in [None, Some("through"), Some("THROUGH")] {
        let mut extra = vec![];
        if let Some(w) = write {
            extra.push(("shoal.mount.s3.write", w));
        }
        let c = conf(&server, cache.path(), &extra);
        let ns = Namespace::new(&Config::from_pairs(c.clone())).unwrap();
        let data = pattern(100_000, 5);
        write_file(&ns, "/s3/t.bin", &data);
        assert!(page_files(cache.path()).is_empty(), "{write:?}");
        assert!(temporary_files(cache.path()).is_empty());
        assert_eq!(read_all(&ns, "/s3/t.bin"), data);
        std::fs::remove_dir_all(cache.path()).unwrap();
    }
    let c = conf(&server, cache.path(), &[("shoal.mount.s3.write", "cache")]);
    let e = Namespace::new(&Config::from_pairs(c)).unwrap_err();
    assert!(e.message().contains("shoal.mount.s3.write=cache"), "{e}");
    assert!(e.message().contains("cache-through"), "{e}");
}

#[test]
fn aborted_and_refused_cache_through_writes_cache_nothing_wrong() {
    let (server, cache) = empty_bucket();
    let ns = namespace(&server, cache.path(), &[CACHE_THROUGH]);
    // A writer dropped before close: nothing in the store, nothing staged left.
    let mut w = ns.create("/s3/gone.bin", true).unwrap();
    w.write(&pattern(200_000, 1)).unwrap();
    assert!(
        !temporary_files(cache.path()).is_empty(),
        "pages are staged"
    );
    drop(w);
    assert!(temporary_files(cache.path()).is_empty());
    assert!(page_files(cache.path()).is_empty());
    assert!(!server.root().join("bucket/gone.bin").exists());

    // A directory with room for two pages (and the blocks of its layout directories and
    // control files, which count towards capacity): the file is written whole, its first pages
    // cached, and it reads back right, the rest from the store.
    let small = tempfile::tempdir().unwrap();
    let ns = namespace(
        &server,
        small.path(),
        &[
            CACHE_THROUGH,
            (
                "shoal.cache.dirs",
                &format!("{}:180k", small.path().display()),
            ),
            DISK_ONLY,
        ],
    );
    let data = pattern(400_000, 2);
    write_file(&ns, "/s3/big.bin", &data);
    assert_eq!(
        std::fs::read(server.root().join("bucket/big.bin")).unwrap(),
        data
    );
    assert_eq!(page_files(small.path()).len(), 2);
    assert!(temporary_files(small.path()).is_empty());
    assert_eq!(read_all(&ns, "/s3/big.bin"), data);
}

#[test]
fn a_reader_never_mixes_two_contents_of_one_version() {
    // s3s-fs lists no ETags, so pages are keyed by length + mtime in seconds: an overwrite of
    // the same length in the same second is the same version. Every page carries the ETag it
    // was read with, and a reader serves only pages of its own.
    let server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let (old, new) = (pattern(256 << 10, 21), pattern(256 << 10, 22));
    put(&server, "m.bin", &old);
    let path = server.root().join("bucket/m.bin");
    let t = std::fs::metadata(&path).unwrap().modified().unwrap();
    let c = conf(
        &server,
        cache.path(),
        &[DISK_ONLY, ("shoal.metadata.ttl", "0")],
    );
    let ns = Namespace::new(&Config::from_pairs(c.clone())).unwrap();
    assert_eq!(read_all(&ns, "/s3/m.bin"), old);
    let version = ns.status("/s3/m.bin").unwrap().version;
    drop(ns);
    // Two of the four pages evicted, then the object overwritten within the same second.
    let mut pages = page_files(cache.path());
    pages.sort();
    assert_eq!(pages.len(), 4);
    for p in &pages[..2] {
        std::fs::remove_file(p).unwrap();
    }
    put(&server, "m.bin", &new);
    set_mtime(&path, t);
    let ns = Namespace::new(&Config::from_pairs(c.clone())).unwrap();
    assert_eq!(
        ns.status("/s3/m.bin").unwrap().version,
        version,
        "the same version"
    );
    assert_eq!(read_all(&ns, "/s3/m.bin"), new);

    // Changed under an open reader: the pages it has not read yet come under another ETag, and
    // the read fails saying so instead of mixing.
    let r = ns.open("/s3/m.bin", None).unwrap();
    let mut buf = vec![0u8; 64 << 10];
    r.read_at(0, &mut buf).unwrap();
    assert!(buf == new[..64 << 10]);
    assert!(ns.free("/s3/m.bin", None).unwrap() > 0);
    let newer = pattern(256 << 10, 23);
    put(&server, "m.bin", &newer);
    set_mtime(&path, t);
    let mut rest = vec![0u8; 192 << 10];
    let e = r.read_at(64 << 10, &mut rest).unwrap_err();
    assert!(e.message().contains("changed"), "{e}");
    // Opened again, it reads the new content whole.
    assert!(read_all(&ns, "/s3/m.bin") == newer);
}

#[test]
fn load_keeps_a_bounded_number_of_pages_in_flight() {
    let (server, cache, data) = server_with("big.bin", 4 << 20, 31);
    // 64 KiB pages, 256 KiB of read-ahead: at most 4 pages in flight for the 64 of the file.
    let ns = namespace(
        &server,
        cache.path(),
        &[DISK_ONLY, ("shoal.cache.readahead.max", "256k")],
    );
    let fetched = ns.load("/s3/big.bin", None).unwrap();
    assert_eq!(fetched, 4 << 20);
    let peak = ns.page_cache().unwrap().fetching_peak();
    assert!(
        peak > 0 && peak <= 256 << 10,
        "{peak} bytes in flight at once"
    );
    assert_eq!(read_all(&ns, "/s3/big.bin"), data);
    assert_eq!(counter(&ns.stats(), "store_get_requests"), 64);
}

#[test]
fn page_files_opened_on_every_hit_when_none_are_kept() {
    let (server, cache, data) = server_with("o.bin", 300_000, 41);
    let ns = namespace(
        &server,
        cache.path(),
        &[DISK_ONLY, ("shoal.cache.open.pages", "0")],
    );
    assert_eq!(read_all(&ns, "/s3/o.bin"), data);
    let first = ns.stats();
    assert_eq!(counter(&first, "store_get_requests"), 5);
    assert_eq!(read_all(&ns, "/s3/o.bin"), data);
    let dir = ns.page_cache().unwrap().dirs()[0].clone();
    assert!(dir.open_pages().is_empty());
    let s = ns.stats();
    assert_eq!(counter(&s, "store_get_requests"), 5);
    let disk = counter(&s, "bytes_from_disk") - counter(&first, "bytes_from_disk");
    assert_eq!(disk, 300_000);
}

#[test]
fn cache_settings_that_would_cache_nothing_are_errors() {
    let server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let d = cache.path().display().to_string();
    for (dirs, says) in [
        (format!("{d}:0"), "not even one page"),
        (format!("{d}:32k"), "not even one page"),
        (format!("{d}\0x:1g"), "control character"),
    ] {
        let c = conf(&server, cache.path(), &[("shoal.cache.dirs", &dirs)]);
        let e = Namespace::new(&Config::from_pairs(c)).unwrap_err();
        assert!(
            e.message().contains("shoal.cache.dirs") && e.message().contains(says),
            "{dirs:?}: {e}"
        );
    }
    // Exactly one page is enough.
    let c = conf(
        &server,
        cache.path(),
        &[("shoal.cache.dirs", &format!("{d}:64k"))],
    );
    Namespace::new(&Config::from_pairs(c)).unwrap();
    let c = conf(&server, cache.path(), &[("shoal.cache.open.pages", "-1")]);
    let e = Namespace::new(&Config::from_pairs(c)).unwrap_err();
    assert!(e.message().contains("shoal.cache.open.pages"), "{e}");
}

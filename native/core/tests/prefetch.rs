//! Prefetch across files, against a real S3 server (s3s-fs) behind a proxy that counts what
//! reaches it: readers that overtake the prefetch or jump, objects replaced or removed under
//! it, a process killed mid-prefetch, the bound on bytes in flight, a warm cache, and the
//! counters of bytes fetched ahead and read.
//!
//! The crash test runs this binary again with `SHOAL_CHILD` set (`child_prefetch_until_killed`,
//! ignored as a test of its own).

use std::path::Path;
use std::time::Duration;

use shoal_core::stats::COUNTER_NAMES;
use shoal_core::{Config, Namespace};
use shoal_testkit::{set_mtime, CountingProxy, S3Server};

fn counter(ns: &Namespace, name: &str) -> u64 {
    ns.stats()[COUNTER_NAMES.iter().position(|n| *n == name).unwrap()]
}

fn pattern(n: usize, seed: u64) -> Vec<u8> {
    shoal_testkit::noise(n, seed.wrapping_mul(0x9e3779b97f4a7c15))
}

fn put(server: &S3Server, key: &str, data: &[u8]) {
    server.put("bucket", key, data);
}

/// An S3 mount at /s3 over `bucket`, reached through `proxy`, caching into `cache` in 64 KiB
/// pages.
fn conf(
    server: &S3Server,
    proxy: &CountingProxy,
    cache: &Path,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let endpoint = proxy.endpoint();
    let through_proxy = [("shoal.mount.s3.option.aws_endpoint", endpoint.as_str())];
    let extra: Vec<_> = through_proxy.iter().chain(extra).copied().collect();
    server.cache_test_conf(cache, &extra)
}

/// An S3 server, the proxy that counts what reaches it, and a cache directory.
struct Rig {
    server: S3Server,
    proxy: CountingProxy,
    cache: tempfile::TempDir,
}

impl Rig {
    fn start() -> Rig {
        let server = S3Server::start();
        let proxy = CountingProxy::start(&server.endpoint());
        let cache = tempfile::tempdir().unwrap();
        Rig {
            server,
            proxy,
            cache,
        }
    }

    /// A rig whose server holds [`dataset`]`(n)`, and the dataset's contents.
    fn with_dataset(n: usize) -> (Rig, Vec<Vec<u8>>) {
        let rig = Rig::start();
        let files = dataset(&rig.server, n);
        (rig, files)
    }

    /// [`conf`] over this rig's proxy and cache.
    fn conf(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        conf(&self.server, &self.proxy, self.cache.path(), extra)
    }

    /// A new process: a namespace with a cache directory of its own (returned, to be dropped
    /// after it), and the proxy's counts reset.
    fn new_process(&self) -> (tempfile::TempDir, Namespace) {
        let cache = tempfile::tempdir().unwrap();
        self.proxy.reset();
        let ns = namespace(&conf(&self.server, &self.proxy, cache.path(), &[]));
        (cache, ns)
    }

    /// Asserts `ns`'s count of metadata requests, showing what the server was asked.
    fn assert_metadata_requests(&self, ns: &Namespace, n: u64) {
        let seen = self.proxy.seen();
        assert_eq!(counter(ns, "store_metadata_requests"), n, "{seen:?}");
    }

    /// [`Rig::conf`], and a namespace on it.
    fn namespace(&self, extra: &[(&str, &str)]) -> (Vec<(String, String)>, Namespace) {
        let c = self.conf(extra);
        let ns = namespace(&c);
        (c, ns)
    }
}

fn namespace(c: &[(String, String)]) -> Namespace {
    Namespace::new(&Config::from_pairs(c.to_vec())).unwrap()
}

fn read_all(ns: &Namespace, path: &str) -> shoal_core::Result<Vec<u8>> {
    let r = ns.open(path, None)?;
    let mut out = vec![0u8; r.len() as usize];
    let mut pos = 0;
    while pos < out.len() {
        let end = (pos + 50_000).min(out.len());
        let n = r.read_at(pos as u64, &mut out[pos..end])?;
        assert!(n > 0);
        pos += n;
    }
    Ok(out)
}

fn idle(ns: &Namespace) {
    assert!(
        ns.prefetcher().unwrap().wait_idle(Duration::from_secs(30)),
        "the prefetch did not finish"
    );
}

/// `n` files `d/f<i>.bin` of varied sizes (20 KB to about 300 KB); returns their contents.
fn dataset(server: &S3Server, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let data = pattern(20_000 + (i * 7_919) % 280_000, i as u64);
            put(server, &format!("d/f{i:02}.bin"), &data);
            data
        })
        .collect()
}

/// Reads the files `d/f<i>.bin` of [`dataset`] named, in turn, with no listing at hand: the
/// second open in the directory starts a listing of it in the background, the third (once the
/// listing arrived; nothing was fetched ahead before) the prefetch, which is waited for.
fn read_three_to_start_the_prefetch(ns: &Namespace, files: &[Vec<u8>], which: [usize; 3]) {
    for (n, i) in which.into_iter().enumerate() {
        assert!(
            read_all(ns, &format!("/s3/d/f{i:02}.bin")).unwrap() == files[i],
            "f{i:02}"
        );
        if n == 1 {
            idle(ns);
            assert_eq!(counter(ns, "prefetch_bytes"), 0);
        }
    }
    idle(ns);
}

fn pages(files: &[Vec<u8>]) -> usize {
    files.iter().map(|f| f.len().div_ceil(64 << 10)).sum()
}

#[test]
fn readers_that_overtake_or_jump_get_every_byte_once_and_a_warm_cache_costs_nothing() {
    let (rig, files) = Rig::with_dataset(30);
    let total: u64 = files.iter().map(|f| f.len() as u64).sum();
    // Three files ahead at most, so that the reader catches up with the prefetch.
    let (c, ns) = rig.namespace(&[("shoal.prefetch.files", "3")]);
    assert_eq!(ns.list("/s3/d").unwrap().len(), 30);
    // The prefetch goes largest first; the reader jumps between both ends of the names
    // (f00, f29, f01, f28, ...): it overtakes the prefetch on the small files.
    let order: Vec<usize> = (0..30)
        .map(|i| if i % 2 == 0 { i / 2 } else { 29 - i / 2 })
        .collect();
    for &i in &order {
        assert!(
            read_all(&ns, &format!("/s3/d/f{i:02}.bin")).unwrap() == files[i],
            "f{i:02}"
        );
    }
    idle(&ns);
    // Each page crossed the link once, whoever fetched it.
    assert_eq!(rig.proxy.count("GET", "/bucket/d/f"), pages(&files));
    assert_eq!(counter(&ns, "bytes_from_store"), total);
    let ahead = counter(&ns, "prefetch_bytes");
    assert!(ahead > 0, "nothing was fetched ahead");
    assert!(
        total - ahead > files[0].len() as u64,
        "the reader overtook nothing"
    );
    // Every file was opened, in the version fetched: all of it was read.
    assert_eq!(counter(&ns, "prefetch_read_bytes"), ahead);
    assert_eq!(counter(&ns, "prefetch_unread_bytes"), 0);
    eprintln!(
        "fetched ahead {ahead} of {total} bytes ({:.0}%), all of it read",
        100.0 * ahead as f64 / total as f64
    );
    drop(ns);

    // A new process on the same cache: no data request at all, prefetch or reader.
    rig.proxy.reset();
    let ns = namespace(&c);
    ns.list("/s3/d").unwrap();
    for (i, f) in files.iter().enumerate() {
        assert!(read_all(&ns, &format!("/s3/d/f{i:02}.bin")).unwrap() == *f);
    }
    idle(&ns);
    assert_eq!(
        rig.proxy.count("GET", "/bucket/d/f"),
        0,
        "{:?}",
        rig.proxy.seen()
    );
    assert_eq!(counter(&ns, "prefetch_bytes"), 0);
    assert_eq!(counter(&ns, "store_get_requests"), 0);
}

#[test]
fn files_never_opened_are_counted_unread_and_bounded_by_files_ahead() {
    let (rig, files) = Rig::with_dataset(20);
    let (_, ns) = rig.namespace(&[("shoal.prefetch.files", "4")]);
    // The reader reads three files and stops.
    read_three_to_start_the_prefetch(&ns, &files, [3, 11, 7]);
    let ahead = counter(&ns, "prefetch_bytes");
    let read = counter(&ns, "prefetch_read_bytes");
    let unread = counter(&ns, "prefetch_unread_bytes");
    assert_eq!(read + unread, ahead);
    // At most 4 files ahead and not opened: the 4 largest others at most.
    let mut sizes: Vec<u64> = files
        .iter()
        .enumerate()
        .filter(|(i, _)| ![3, 7, 11].contains(i))
        .map(|(_, f)| f.len() as u64)
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    assert!(unread > 0 && unread <= sizes[..4].iter().sum(), "{unread}");
    let fetched_files = rig
        .proxy
        .seen()
        .iter()
        .filter(|r| r.method == "GET" && r.target.starts_with("/bucket/d/f"))
        .map(|r| r.target.clone())
        .collect::<std::collections::HashSet<_>>()
        .len();
    // The three read and four ahead.
    assert!(fetched_files <= 3 + 4, "{fetched_files} files fetched");
    // Reading one of them moves its bytes from unread to read.
    let opened_before = counter(&ns, "prefetch_read_bytes");
    let largest = (0..20)
        .filter(|i| ![3, 7, 11].contains(i))
        .max_by_key(|&i| files[i].len())
        .unwrap();
    assert!(read_all(&ns, &format!("/s3/d/f{largest:02}.bin")).unwrap() == files[largest]);
    assert_eq!(
        counter(&ns, "prefetch_read_bytes") - opened_before,
        files[largest].len() as u64
    );
}

#[test]
fn a_replaced_object_is_read_in_its_new_version() {
    let (rig, files) = Rig::with_dataset(10);
    // No metadata cache: every open asks the store, as after the TTL.
    let (c, ns) = rig.namespace(&[("shoal.metadata.ttl", "0")]);
    read_three_to_start_the_prefetch(&ns, &files, [0, 8, 3]);
    assert!(counter(&ns, "prefetch_bytes") > 0);
    // f05 is replaced after it was fetched ahead, with another length and a later mtime.
    let newer = pattern(123_457, 99);
    put(&rig.server, "d/f05.bin", &newer);
    set_mtime(
        &rig.server.root().join("bucket/d/f05.bin"),
        std::time::SystemTime::now() + Duration::from_secs(5),
    );
    assert!(read_all(&ns, "/s3/d/f05.bin").unwrap() == newer);
    // The old version's prefetch stays unread; the others are read as they were.
    for i in [1, 2, 9] {
        assert!(read_all(&ns, &format!("/s3/d/f{i:02}.bin")).unwrap() == files[i]);
    }
    idle(&ns);
    assert!(counter(&ns, "prefetch_unread_bytes") >= files[5].len() as u64);
    // A new process reads the new version too.
    let ns = namespace(&c);
    assert!(read_all(&ns, "/s3/d/f05.bin").unwrap() == newer);
}

#[test]
fn store_errors_during_a_prefetch_cache_nothing_and_readers_get_a_clear_error() {
    let (rig, files) = Rig::with_dataset(8);
    let (_, ns) = rig.namespace(&[]);
    ns.list("/s3/d").unwrap();
    // After the listing: f02 disappears, f06 is cut short while keeping its mtime (the
    // listing's version): the store answers 404, and fewer bytes than the version has.
    std::fs::remove_file(rig.server.root().join("bucket/d/f02.bin")).unwrap();
    let f06 = rig.server.root().join("bucket/d/f06.bin");
    let mtime = std::fs::metadata(&f06).unwrap().modified().unwrap();
    std::fs::write(&f06, &files[6][..files[6].len() / 3]).unwrap();
    set_mtime(&f06, mtime);
    assert!(read_all(&ns, "/s3/d/f00.bin").unwrap() == files[0]);
    idle(&ns);
    // Nothing of either is cached, and their readers get errors that say what happened.
    let listed = |n: &str| ns.status(n).unwrap();
    let st6 = listed("/s3/d/f06.bin");
    assert_eq!(ns.cached_bytes("/s3/d/f06.bin", Some(st6)).unwrap(), 0);
    let e = read_all(&ns, "/s3/d/f02.bin").unwrap_err();
    assert_eq!(e.kind(), shoal_core::ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("/s3/d/f02.bin"), "{e}");
    let e = read_all(&ns, "/s3/d/f06.bin").unwrap_err();
    assert!(e.to_string().contains("/s3/d/f06.bin"), "{e}");
    assert!(e.to_string().contains("bytes"), "{e}");
    // The other files are whole.
    for i in [1, 3, 4, 5, 7] {
        assert!(read_all(&ns, &format!("/s3/d/f{i:02}.bin")).unwrap() == files[i]);
    }
    assert_eq!(counter(&ns, "corrupt_pages"), 0);
}

#[test]
fn the_bytes_in_flight_stay_within_their_bound_at_the_server() {
    let rig = Rig::start();
    // 40 files of 48 KiB, one page each; 150 KiB in flight is 3 of them at once.
    for i in 0..40 {
        put(
            &rig.server,
            &format!("d/f{i:02}.bin"),
            &pattern(48 << 10, i),
        );
    }
    let (_, ns) = rig.namespace(&[
        ("shoal.prefetch.max.bytes", "150k"),
        ("shoal.prefetch.files", "100"),
    ]);
    ns.list("/s3/d").unwrap();
    assert_eq!(
        read_all(&ns, "/s3/d/f00.bin").unwrap(),
        pattern(48 << 10, 0)
    );
    idle(&ns);
    assert_eq!(counter(&ns, "prefetch_bytes"), 39 * (48 << 10));
    // Three prefetches at once, and the reader's own GET of f00 beside them.
    let peak = rig.proxy.peak_gets_in_flight();
    assert!((1..=4).contains(&peak), "{peak} GETs in flight at once");
    assert!(ns.page_cache().unwrap().fetching_peak() <= (150 << 10) + (48 << 10));

    // With a wide bound the same prefetch runs more at once (the bound is what held it).
    let cache = tempfile::tempdir().unwrap();
    let proxy = CountingProxy::start(&rig.server.endpoint());
    let ns = namespace(&conf(&rig.server, &proxy, cache.path(), &[]));
    ns.list("/s3/d").unwrap();
    assert_eq!(
        read_all(&ns, "/s3/d/f00.bin").unwrap(),
        pattern(48 << 10, 0)
    );
    idle(&ns);
    assert!(
        proxy.peak_gets_in_flight() > 4,
        "{}",
        proxy.peak_gets_in_flight()
    );
}

#[test]
fn one_file_read_alone_or_prefetch_off_fetches_only_what_is_read() {
    let (rig, files) = Rig::with_dataset(6);
    let (_, ns) = rig.namespace(&[("shoal.prefetch.enabled", "false")]);
    assert!(ns.prefetcher().is_none());
    assert!(read_all(&ns, "/s3/d/f01.bin").unwrap() == files[1]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        rig.proxy.count("GET", "/bucket/d/f"),
        files[1].len().div_ceil(64 << 10)
    );

    // On, but one file of a directory that was not listed, read twice: nothing else is
    // fetched, and nothing is listed.
    let (_cache, ns) = rig.new_process();
    assert!(read_all(&ns, "/s3/d/f01.bin").unwrap() == files[1]);
    assert!(read_all(&ns, "/s3/d/f01.bin").unwrap() == files[1]);
    idle(&ns);
    rig.assert_metadata_requests(&ns, 1);
    assert_eq!(
        rig.proxy.count("GET", "/bucket/d/f"),
        files[1].len().div_ceil(64 << 10)
    );
    assert_eq!(counter(&ns, "prefetch_bytes"), 0);

    // The directory's status asked first (as a FUSE lookup does): its probe keeps the
    // directory's listing, which is not a listing the process made, so the one file read
    // still fetches nothing else.
    let (_cache, ns) = rig.new_process();
    assert!(ns.status("/s3/d").unwrap().is_dir);
    assert!(read_all(&ns, "/s3/d/f01.bin").unwrap() == files[1]);
    idle(&ns);
    rig.assert_metadata_requests(&ns, 2);
    assert_eq!(counter(&ns, "prefetch_bytes"), 0);
    // Listed by the process, it is read as a listing: the next open fetches ahead.
    assert_eq!(ns.list("/s3/d").unwrap().len(), files.len());
    assert!(read_all(&ns, "/s3/d/f02.bin").unwrap() == files[2]);
    idle(&ns);
    assert!(counter(&ns, "prefetch_bytes") > 0);
    rig.assert_metadata_requests(&ns, 2);
}

/// Child: lists the directory named in SHOAL_CHILD, opens its first file and waits to be
/// killed while the others are fetched ahead.
#[test]
#[ignore = "a child process of a crash test"]
fn child_prefetch_until_killed() {
    let (dir, pairs) = shoal_testkit::child_args();
    let ns = Namespace::new(&Config::from_pairs(pairs)).unwrap();
    let first = ns.list(&dir).unwrap()[0].path.clone();
    let r = ns.open(&first, None).unwrap();
    let mut buf = vec![0u8; 4096];
    r.read_at(0, &mut buf).unwrap();
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_process_killed_mid_prefetch_leaves_no_half_pages() {
    let rig = Rig::start();
    let files: Vec<Vec<u8>> = (0..12)
        .map(|i| {
            let d = pattern(1 << 20, 50 + i);
            put(&rig.server, &format!("big/b{i:02}.bin"), &d);
            d
        })
        .collect();
    let c = rig.conf(&[]);
    // Killed as soon as its prefetch reached the store, then a little later in another run.
    for (gets, delay_ms) in [(1usize, 0u64), (20, 30)] {
        rig.proxy.reset();
        let mut child = shoal_testkit::child_command("child_prefetch_until_killed", "/s3/big", &c)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while rig.proxy.count("GET", "/bucket/big/") < gets && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(
        rig.proxy.count("GET", "/bucket/big/") >= 20,
        "the child fetched too little"
    );
    let ns = namespace(&rig.conf(&[("shoal.prefetch.enabled", "false")]));
    for (i, f) in files.iter().enumerate() {
        assert!(read_all(&ns, &format!("/s3/big/b{i:02}.bin")).unwrap() == *f);
    }
    assert_eq!(counter(&ns, "corrupt_pages"), 0);
}

#[test]
fn a_node_prefetches_the_files_it_owns_on_the_placement_ring() {
    let server = S3Server::start();
    let proxy = CountingProxy::start(&server.endpoint());
    let files = dataset(&server, 24);
    let run = |me: &str| {
        let cache = tempfile::tempdir().unwrap();
        proxy.reset();
        let c = conf(
            &server,
            &proxy,
            cache.path(),
            &[
                ("shoal.cluster.hosts", "node-a,node-b,node-c"),
                ("shoal.prefetch.host", me),
            ],
        );
        let ns = namespace(&c);
        ns.list("/s3/d").unwrap();
        assert!(read_all(&ns, "/s3/d/f00.bin").unwrap() == files[0]);
        idle(&ns);
        let fetched: std::collections::BTreeSet<String> = proxy
            .seen()
            .iter()
            .filter(|r| r.method == "GET" && r.target.starts_with("/bucket/d/f"))
            .map(|r| r.target.trim_start_matches("/bucket").to_string())
            .filter(|t| t != "/d/f00.bin")
            .collect();
        let owned: std::collections::BTreeSet<String> = (1..24)
            .map(|i| format!("/d/f{i:02}.bin"))
            .filter(|p| ns.block_owners(&format!("/s3{p}"), 1, 1)[0] == me)
            .collect();
        (fetched, owned)
    };
    let (fetched, owned) = run("node-b");
    assert!(!owned.is_empty() && owned.len() < 23, "{owned:?}");
    assert_eq!(fetched, owned);
    // A node that is not on the ring prefetches nothing.
    let (fetched, owned) = run("node-z");
    assert!(owned.is_empty() && fetched.is_empty(), "{fetched:?}");
}

#[test]
fn a_listed_tree_is_fetched_largest_first_across_its_directories() {
    let rig = Rig::start();
    // Three class directories of 8 files, sizes interleaved across them (one page each).
    let mut sizes = std::collections::BTreeMap::new();
    for (d, class) in ["a", "b", "c"].iter().enumerate() {
        for i in 0..8 {
            let len = 10_000 + ((i * 3 + d) * 1_500);
            let path = format!("t/{class}/f{i}.bin");
            put(&rig.server, &path, &pattern(len, (d * 8 + i) as u64));
            sizes.insert(format!("/{path}"), len);
        }
    }
    let (_, ns) = rig.namespace(&[("shoal.prefetch.files", "5")]);
    // The listing Spark's recursive file lookup makes: the top, then each directory.
    for d in ["/s3/t", "/s3/t/a", "/s3/t/b", "/s3/t/c"] {
        ns.list(d).unwrap();
    }
    let by_size = |skip: &[&str]| -> Vec<String> {
        let mut v: Vec<(&String, &usize)> = sizes
            .iter()
            .filter(|(p, _)| !skip.contains(&p.as_str()))
            .collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        v.into_iter().map(|(p, _)| p.clone()).collect()
    };
    let fetched = || -> std::collections::BTreeSet<String> {
        rig.proxy
            .seen()
            .iter()
            .filter(|r| r.method == "GET" && r.target.starts_with("/bucket/t/"))
            .map(|r| r.target.trim_start_matches("/bucket").to_string())
            .collect()
    };
    // The reader opens the smallest file of a: the five largest of the whole tree are fetched
    // ahead (of a alone, they would be a's five largest).
    let first = by_size(&[]).pop().unwrap();
    assert!(first.starts_with("/t/a/"), "{first}");
    assert_eq!(
        read_all(&ns, &format!("/s3{first}")).unwrap().len(),
        sizes[&first]
    );
    idle(&ns);
    let mut want: std::collections::BTreeSet<String> =
        by_size(&[&first]).into_iter().take(5).collect();
    want.insert(first.clone());
    assert_eq!(fetched(), want);
    assert!(
        want.iter().any(|p| p.starts_with("/t/b/")) && want.iter().any(|p| p.starts_with("/t/c/"))
    );
    // Opening the largest takes it off the five ahead: the sixth largest is next.
    let largest = by_size(&[]).remove(0);
    assert!(read_all(&ns, &format!("/s3{largest}")).unwrap().len() == sizes[&largest]);
    idle(&ns);
    want.insert(by_size(&[&first])[5].clone());
    assert_eq!(fetched(), want);
    // Every file crossed the link once, and no directory was listed again: the first
    // listing's flat listing of the tree answered all four.
    assert_eq!(rig.proxy.count("GET", "/bucket/t/"), want.len());
    assert_eq!(counter(&ns, "store_metadata_requests"), 1);
}

#[test]
fn a_file_opened_before_its_prefetch_is_fetched_whole_and_each_page_once() {
    let rig = Rig::start();
    // Files of 24 pages (Parquet files, say: their readers read the footer first; big1 the
    // larger, so the first fetched ahead) and three small ones.
    let bigs: Vec<Vec<u8>> = (0..2)
        .map(|i| {
            let d = pattern(24 * (64 << 10) - 1_000 + 500 * i, 7 + i as u64);
            put(&rig.server, &format!("p/big{i}.bin"), &d);
            d
        })
        .collect();
    let small: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let d = pattern(30_000, 20 + i);
            put(&rig.server, &format!("p/s{i}.bin"), &d);
            d
        })
        .collect();
    // Few bytes in flight, so that most pages wait for their turn while a reader reads.
    let (_, ns) = rig.namespace(&[("shoal.prefetch.max.bytes", "128k")]);
    let listed = ns.list("/s3/p").unwrap();
    let tail = |r: &shoal_core::FileReader, data: &[u8]| {
        let mut t = [0u8; 8];
        assert_eq!(r.read_at(data.len() as u64 - 8, &mut t).unwrap(), 8);
        assert_eq!(t[..], data[data.len() - 8..]);
    };
    // The reader of big0 reads its footer only: the rest of it is fetched ahead all the same.
    let r0 = ns.open("/s3/p/big0.bin", None).unwrap();
    tail(&r0, &bigs[0]);
    idle(&ns);
    let st = ns.status("/s3/p/big0.bin").unwrap();
    assert_eq!(
        ns.cached_bytes("/s3/p/big0.bin", Some(st)).unwrap(),
        bigs[0].len() as u64
    );
    assert_eq!(rig.proxy.count("GET", "/bucket/p/big0.bin"), 24);
    // big1 was fetched ahead too; the small files as well.
    assert_eq!(rig.proxy.count("GET", "/bucket/p/big1.bin"), 24);
    // The same with its reader reading all of it at once after its footer: the footer binds
    // the reader to the object's ETag, and a prefetch that began before (bound to none while
    // the listing carries none) is joined page by page, never fetched again beside it.
    let cache = tempfile::tempdir().unwrap();
    rig.proxy.reset();
    let ns = namespace(&conf(
        &rig.server,
        &rig.proxy,
        cache.path(),
        &[("shoal.prefetch.max.bytes", "128k")],
    ));
    ns.list("/s3/p").unwrap();
    let r1 = ns.open("/s3/p/big1.bin", None).unwrap();
    tail(&r1, &bigs[1]);
    let mut out = vec![0u8; bigs[1].len()];
    let mut pos = 0;
    while pos < out.len() {
        let end = (pos + 100_000).min(out.len());
        pos += r1.read_at(pos as u64, &mut out[pos..end]).unwrap();
    }
    assert!(out == bigs[1]);
    idle(&ns);
    assert_eq!(rig.proxy.count("GET", "/bucket/p/big1.bin"), 24);
    for (i, d) in small.iter().enumerate() {
        assert!(read_all(&ns, &format!("/s3/p/s{i}.bin")).unwrap() == *d);
    }
    assert!(read_all(&ns, "/s3/p/big0.bin").unwrap() == bigs[0]);
    // Each page of every file crossed the link once; what was fetched ahead was read.
    assert_eq!(rig.proxy.count("GET", "/bucket/p/"), 24 + 24 + 3);
    assert!(counter(&ns, "prefetch_bytes") >= 3 * 30_000);
    assert_eq!(counter(&ns, "prefetch_unread_bytes"), 0);
    eprintln!(
        "listed with ETags: {:?}",
        listed.iter().map(|f| f.etag.is_some()).collect::<Vec<_>>()
    );
}

#[test]
fn files_take_the_bytes_in_flight_in_turn_largest_first() {
    let rig = Rig::start();
    put(&rig.server, "q/big1.bin", &pattern(10 * (64 << 10), 1));
    put(&rig.server, "q/big2.bin", &pattern(8 * (64 << 10), 2));
    put(&rig.server, "q/small.bin", &pattern(1_000, 3));
    // One page in flight at a time.
    let (_, ns) = rig.namespace(&[("shoal.prefetch.max.bytes", "64k")]);
    ns.list("/s3/q").unwrap();
    assert_eq!(read_all(&ns, "/s3/q/small.bin").unwrap(), pattern(1_000, 3));
    idle(&ns);
    let order: Vec<String> = rig
        .proxy
        .seen()
        .iter()
        .filter(|r| r.method == "GET" && r.target.starts_with("/bucket/q/big"))
        .map(|r| r.target.clone())
        .collect();
    // Every page of the larger file went before any of the other's, not in turns between them.
    let want: Vec<String> = std::iter::repeat_n("/bucket/q/big1.bin".to_string(), 10)
        .chain(std::iter::repeat_n("/bucket/q/big2.bin".to_string(), 8))
        .collect();
    assert_eq!(order, want);
    assert_eq!(counter(&ns, "prefetch_bytes"), 18 * (64 << 10));
}

/// An S3 endpoint on 127.0.0.1 that lists `files` (key and size) for any listing and never
/// answers a GET of an object: a store that hangs rather than fails. It counts those GETs.
struct HungStore {
    port: u16,
    gets: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HungStore {
    fn start(files: &[(&str, usize)]) -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let contents: String = files
            .iter()
            .map(|(k, n)| {
                format!(
                    "<Contents><Key>{k}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>\
                     <ETag>&quot;e-{k}&quot;</ETag><Size>{n}</Size></Contents>"
                )
            })
            .collect();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bucket</Name>\
             <KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>\
             {contents}</ListBucketResult>",
            files.len()
        );
        let gets = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (g, s) = (gets.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let (body, gets) = (body.clone(), g.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    loop {
                        let mut head = Vec::new();
                        loop {
                            let mut line = String::new();
                            match reader.read_line(&mut line) {
                                Ok(0) | Err(_) => return,
                                Ok(_) if line == "\r\n" => break,
                                Ok(_) => head.push(line),
                            }
                        }
                        if head.first().is_some_and(|l| l.contains("list-type=2")) {
                            let _ = write!(
                                conn,
                                "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\
                                 Content-Length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            continue;
                        }
                        // Any other request: read and drop what comes, never answer.
                        gets.fetch_add(1, Ordering::Relaxed);
                        let mut sink = [0u8; 4096];
                        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
                        return;
                    }
                });
            }
        });
        HungStore { port, gets, stop }
    }

    fn gets(&self) -> usize {
        self.gets.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for HungStore {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

#[test]
fn a_hung_store_holds_only_its_share_of_the_prefetch_and_other_readers_go_on() {
    let (rig, files) = Rig::with_dataset(8);
    let hung = HungStore::start(&[
        ("h/f0.bin", 60_000),
        ("h/f1.bin", 60_000),
        ("h/f2.bin", 60_000),
        ("h/f3.bin", 60_000),
    ]);
    let mut c = rig.conf(&[
        // Three pages of 64 KiB in flight; a call the store does not answer fails after 2 s.
        ("shoal.prefetch.max.bytes", "192k"),
        ("shoal.store.timeout", "2s"),
        ("shoal.store.max.retries", "0"),
    ]);
    c.extend(
        rig.server
            .mount_conf("hung", "/hung", "bucket")
            .into_iter()
            .filter(|(k, _)| k.starts_with("shoal.mount."))
            .map(|(k, v)| match k.ends_with("option.aws_endpoint") {
                true => (k, format!("http://127.0.0.1:{}", hung.port)),
                false => (k, v),
            }),
    );
    let ns = namespace(&c);
    // The hung store lists; opening one of its files starts the prefetch of the other three,
    // whose GETs take the whole byte bound and hang.
    assert_eq!(ns.list("/hung/h").unwrap().len(), 4);
    let stuck = ns.open("/hung/h/f0.bin", None).unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while hung.gets() < 3 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(hung.gets(), 3);
    // Meanwhile a reader of the other store reads every file, whole, from the store itself.
    ns.list("/s3/d").unwrap();
    for (i, f) in files.iter().enumerate() {
        assert!(read_all(&ns, &format!("/s3/d/f{i:02}.bin")).unwrap() == *f);
    }
    // ... while the hung GETs were still held (no more than the bound allows), none answered.
    assert_eq!(hung.gets(), 3);
    assert_eq!(
        counter(&ns, "bytes_from_store"),
        files.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    // After shoal.store.timeout the hung prefetches fail, cache nothing, and free the bound;
    // a reader of a hung file gets an error naming it.
    idle(&ns);
    assert_eq!(counter(&ns, "prefetch_bytes"), 0);
    let st = ns.status("/hung/h/f1.bin").unwrap();
    assert_eq!(ns.cached_bytes("/hung/h/f1.bin", Some(st)).unwrap(), 0);
    let mut buf = [0u8; 16];
    let e = stuck.read_at(0, &mut buf).unwrap_err();
    assert!(e.to_string().contains("/hung/h/f0.bin"), "{e}");
    assert!(e.to_string().contains("timed out"), "{e}");
}

#[test]
fn a_node_prefetches_the_blocks_of_a_large_file_it_owns() {
    let server = S3Server::start();
    let proxy = CountingProxy::start(&server.endpoint());
    // Blocks of 128 KiB (two pages); a file of eight blocks, and a small one to open.
    let big = pattern(8 * (128 << 10), 5);
    put(&server, "b/big.bin", &big);
    put(&server, "b/small.bin", &pattern(1_000, 6));
    let hosts = ["node-a", "node-b", "node-c"];
    let conf_for = |cache: &Path, me: &str| {
        conf(
            &server,
            &proxy,
            cache,
            &[
                ("shoal.cluster.hosts", "node-a,node-b,node-c"),
                ("shoal.prefetch.host", me),
                ("shoal.block.size", "128k"),
            ],
        )
    };
    let cache = tempfile::tempdir().unwrap();
    let owners = namespace(&conf_for(cache.path(), "node-a")).block_owners(
        "/s3/b/big.bin",
        big.len() as u64,
        128 << 10,
    );
    assert_eq!(owners.len(), 8);
    let mut fetched_blocks = 0;
    for me in hosts {
        let cache = tempfile::tempdir().unwrap();
        proxy.reset();
        let ns = namespace(&conf_for(cache.path(), me));
        ns.list("/s3/b").unwrap();
        assert_eq!(read_all(&ns, "/s3/b/small.bin").unwrap().len(), 1_000);
        idle(&ns);
        // Two pages of each block this node owns, and nothing of the others' blocks.
        let mine = owners.iter().filter(|o| *o == me).count();
        assert_eq!(
            proxy.count("GET", "/bucket/b/big.bin"),
            2 * mine,
            "{me}: {owners:?}"
        );
        let st = ns.status("/s3/b/big.bin").unwrap();
        assert_eq!(
            ns.cached_bytes("/s3/b/big.bin", Some(st)).unwrap(),
            mine as u64 * (128 << 10)
        );
        fetched_blocks += mine;
    }
    // Between them the nodes fetched every block once.
    assert_eq!(fetched_blocks, 8);
}

/// The cluster's `load`, then `read`: executors that listed the tree in a `stat` job, loaded
/// their files from the driver's listing, then read them (and a second executor process
/// that did the same listing) find every page in the node cache: no GET, no prefetch, the
/// shared usage figure unchanged.
#[test]
fn a_loaded_tree_read_by_executors_that_listed_it_costs_no_request() {
    let rig = Rig::start();
    let mut files = Vec::new();
    for d in ["a", "b"] {
        for i in 0..6 {
            let data = pattern(30_000 + i * 70_000, i as u64 + d.len() as u64 * 100);
            put(&rig.server, &format!("t/{d}/f{i}.bin"), &data);
            files.push((format!("/s3/t/{d}/f{i}.bin"), data));
        }
    }
    let c = rig.conf(&[("shoal.cache.memory.size", "0")]);
    let walk = |ns: &Namespace| -> Vec<shoal_core::FileInfo> {
        ns.walk_stream("/s3/t")
            .unwrap()
            .flat_map(|b| b.unwrap())
            .filter(|f| !f.is_dir)
            .collect()
    };
    // The driver lists and plans; a task loads the files (path, length, ETag and version).
    let driver = namespace(&c);
    let planned: Vec<_> = walk(&driver)
        .into_iter()
        .map(|f| shoal_core::FileInfo { mtime_ms: 0, ..f })
        .collect();
    assert_eq!(planned.len(), files.len());
    let exec1 = namespace(&c);
    let _ = walk(&exec1); // a `stat` job's task on this executor
    exec1.load_files(&planned, &shoal_core::Cancel::new(), |i, r| {
        r.unwrap_or_else(|e| panic!("{}: {e}", planned[i].path));
    });
    let gets = rig.proxy.count("GET", "/bucket/t/");
    let used = exec1.page_cache().unwrap().usage().0;
    assert!(used > 0);
    let exec2 = namespace(&c);
    let _ = walk(&exec2);
    for (n, ns) in [&exec1, &exec2].into_iter().enumerate() {
        for (path, data) in &files {
            assert!(read_all(ns, path).unwrap() == *data, "{path}");
        }
        idle(ns);
        assert_eq!(
            rig.proxy.count("GET", "/bucket/t/"),
            gets,
            "executor {}: GETs after load",
            n + 1
        );
        assert_eq!(counter(ns, "prefetch_bytes"), 0, "executor {}", n + 1);
        assert_eq!(
            ns.page_cache().unwrap().usage().0,
            used,
            "executor {}",
            n + 1
        );
    }
}

//! `Namespace::load_files`: many files fetched at once, at most `shoal.load.parallel` page
//! fetches in flight whatever the files' sizes, counted at a real HTTP server on 127.0.0.1
//! that holds every GET until that many are in flight (so overlap is proven by a count).

use std::sync::Mutex;
use std::time::Duration;

use shoal_core::{Cancel, Config, ErrorKind, FileInfo, Loaded, Namespace, Result};
use shoal_testkit::{CountingProxy, HttpServer, S3Server};

fn load(ns: &Namespace, files: &[FileInfo]) -> Vec<Result<Loaded>> {
    load_until(ns, files, &Cancel::new(), |_| {})
}

/// `load_files` with `cancel`; `seen(i)` runs as file `i` is reported.
fn load_until(
    ns: &Namespace,
    files: &[FileInfo],
    cancel: &Cancel,
    seen: impl Fn(usize) + Sync,
) -> Vec<Result<Loaded>> {
    let out = Mutex::new((0..files.len()).map(|_| None).collect::<Vec<_>>());
    ns.load_files(files, cancel, |i, r| {
        let mut o = out.lock().unwrap();
        assert!(o[i].is_none(), "file {i} reported twice");
        o[i] = Some(r);
        drop(o);
        seen(i);
    });
    out.into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every file is reported"))
        .collect()
}

#[test]
fn load_fetches_files_in_parallel_within_its_bound() {
    let server = HttpServer::start();
    let dir = server.root().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let mut names = Vec::new();
    for i in 0..12 {
        std::fs::write(dir.join(format!("s{i:02}")), vec![i as u8; 10_000]).unwrap();
        names.push(format!("s{i:02}"));
    }
    // Eight pages of 64 KiB.
    std::fs::write(dir.join("big"), vec![7u8; 512 << 10]).unwrap();
    names.push("big".into());
    std::fs::write(dir.join("gone"), b"soon deleted").unwrap();
    names.push("gone".into());
    std::fs::write(dir.join("empty"), b"").unwrap();
    names.push("empty".into());
    let mut conf = server.mount_conf("h", "/h", "data");
    conf.push(("shoal.cache.page.size".into(), "64k".into()));
    conf.push(("shoal.load.parallel".into(), "4".into()));
    conf.push(("shoal.store.max.retries".into(), "0".into()));
    let ns = Namespace::new(&Config::from_pairs(conf)).unwrap();
    let files: Vec<FileInfo> = names
        .iter()
        .map(|n| ns.status(&format!("/h/{n}")).unwrap())
        .collect();
    std::fs::remove_file(dir.join("gone")).unwrap();

    // Every GET waits until 4 are in flight (at most 5 s).
    server.gate_gets(4, Duration::from_secs(5));
    let first = load(&ns, &files);
    assert_eq!(server.peak_gets_in_flight(), 4, "GETs in flight at most");
    let total: u64 = files.iter().map(|f| f.len).sum();
    let mut fetched = 0;
    for (f, r) in files.iter().zip(&first) {
        if f.path.ends_with("/gone") {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
            assert!(e.to_string().contains("/h/gone"), "{e}");
        } else {
            let l = r.as_ref().unwrap();
            assert_eq!(l.fetched + l.cached_before, f.len, "{}", f.path);
            fetched += l.fetched;
        }
    }
    assert_eq!(fetched, total - 12);

    // Again: everything is cached, nothing is fetched.
    let gets = server.requests("GET");
    let ok: Vec<FileInfo> = files
        .into_iter()
        .filter(|f| !f.path.ends_with("/gone"))
        .collect();
    for r in load(&ns, &ok) {
        assert_eq!(r.unwrap().fetched, 0);
    }
    assert_eq!(server.requests("GET"), gets);
    let r = ns.open("/h/big", None).unwrap();
    let mut out = vec![0u8; 512 << 10];
    r.read_at(0, &mut out).unwrap();
    assert!(out.iter().all(|b| *b == 7));
}

/// What a batch reports of one file: its index and two counts.
type Done<'a> = dyn Fn(usize, Result<(u64, u64)>) + Sync + 'a;

/// `cached_files`, `free_files` and `load_footers` over many files, each reported once, and
/// `load_files` with a file that names no version (loaded in the store's current one).
#[test]
fn batches_of_files_are_counted_freed_and_reported_each_once() {
    let server = HttpServer::start();
    let dir = server.root().join("many");
    std::fs::create_dir_all(&dir).unwrap();
    let n = 40;
    for i in 0..n {
        std::fs::write(dir.join(format!("f{i:02}")), vec![i as u8; 100 + i]).unwrap();
    }
    let conf = server.mount_conf("m", "/m", "many");
    let ns = Namespace::new(&Config::from_pairs(conf)).unwrap();
    let mut files: Vec<FileInfo> = (0..n)
        .map(|i| ns.status(&format!("/m/f{i:02}")).unwrap())
        .collect();
    let total: u64 = files.iter().map(|f| f.len).sum();
    // No version: the store is asked for it.
    files[3].version = None;
    files[3].etag = None;

    let each = |f: &dyn Fn(&Done<'_>)| {
        let out = Mutex::new(vec![None; n]);
        f(&|i, r| {
            let mut o = out.lock().unwrap();
            assert!(o[i].is_none(), "file {i} reported twice");
            o[i] = Some(r.unwrap());
        });
        out.into_inner()
            .unwrap()
            .into_iter()
            .map(|r| r.expect("every file is reported"))
            .collect::<Vec<_>>()
    };
    let cached = |ns: &Namespace| {
        each(&|done| ns.cached_files(&files, &Cancel::new(), |i, r| done(i, r.map(|c| (c, 0)))))
            .iter()
            .map(|r| r.0)
            .sum::<u64>()
    };
    assert_eq!(cached(&ns), 0);
    let loaded = load(&ns, &files);
    assert_eq!(
        loaded
            .iter()
            .map(|r| r.as_ref().unwrap().fetched)
            .sum::<u64>(),
        total
    );
    assert_eq!(cached(&ns), total);
    // Footers: none of these is Parquet; each costs its (one) page, which is cached already.
    let footers = each(&|done| {
        ns.load_footers(&files, &Cancel::new(), |i, r| {
            done(i, r.map(|l| (l.cached_before, l.fetched)))
        })
    });
    assert_eq!(footers.iter().map(|r| r.0).sum::<u64>(), total);
    assert_eq!(footers.iter().map(|r| r.1).sum::<u64>(), 0);
    let freed = each(&|done| ns.free_files(&files, &Cancel::new(), done));
    assert_eq!(freed.iter().map(|r| r.0).sum::<u64>(), total);
    // Small files are packed: a pack's bytes go back with its last file, so the sum covers
    // them, not each file.
    assert!(freed.iter().map(|r| r.1).sum::<u64>() >= total, "{freed:?}");
    assert_eq!(cached(&ns), 0);
}

fn is_cancelled(r: &Result<impl std::fmt::Debug>) -> bool {
    matches!(r, Err(e) if e.kind() == ErrorKind::Other && e.to_string().ends_with(": cancelled"))
}

/// Object GETs (no listing) that reached the store through `proxy`.
fn object_gets(proxy: &CountingProxy) -> usize {
    proxy.count("GET", "/bucket/")
}

/// Cancelling a load in the middle of a batch, over a real S3 server (s3s-fs) behind a proxy
/// that counts the GETs: no GET starts after the cancel but the few in flight then (at most
/// `shoal.load.parallel`), the file being fetched keeps only whole pages and no temporary file,
/// every file is reported once (the unfinished ones as cancelled), and a later load fetches
/// exactly the pages still missing. A batch cancelled before it starts fetches nothing, and
/// `free_files` and `cached_files` stop the same way.
#[test]
fn a_cancelled_load_stops_fetching_keeps_whole_pages_and_a_later_load_completes_it() {
    let server = S3Server::start();
    let proxy = CountingProxy::start(&server.endpoint());
    let cache = tempfile::tempdir().unwrap();
    let page = 64usize << 10;
    // s0, then "big" (40 pages), then 20 small files: the cancel comes as s0 is reported,
    // while big's pages are being fetched.
    let big = shoal_testkit::noise(40 * page - 100, 3);
    server.put("bucket", "c/s00", &[1u8; 10_000]);
    server.put("bucket", "c/big", &big);
    for i in 1..=20 {
        server.put("bucket", &format!("c/s{i:02}"), &[i as u8; 10_000]);
    }
    let parallel = 4;
    let endpoint = proxy.endpoint();
    let p = parallel.to_string();
    let c = server.cache_test_conf(
        cache.path(),
        &[
            ("shoal.mount.s3.option.aws_endpoint", endpoint.as_str()),
            ("shoal.load.parallel", p.as_str()),
            ("shoal.cache.memory.size", "0"),
            ("shoal.prefetch.enabled", "false"),
        ],
    );
    let ns = Namespace::new(&Config::from_pairs(c)).unwrap();
    let mut names = vec!["s00".to_string(), "big".into()];
    names.extend((1..=20).map(|i| format!("s{i:02}")));
    let files: Vec<FileInfo> = names
        .iter()
        .map(|n| ns.status(&format!("/s3/c/{n}")).unwrap())
        .collect();
    let pages = 1 + 40 + 20;

    // Cancelled before it starts: nothing is fetched, every file is reported cancelled.
    let before = object_gets(&proxy);
    let stopped = Cancel::new();
    stopped.cancel();
    let r = load_until(&ns, &files, &stopped, |_| {});
    assert!(r.iter().all(is_cancelled), "{r:?}");
    assert_eq!(object_gets(&proxy), before, "no GET after a cancel");
    let counted = Mutex::new(0);
    ns.cached_files(&files, &stopped, |_, r| {
        assert!(is_cancelled(&r), "{r:?}");
        *counted.lock().unwrap() += 1;
    });
    assert_eq!(*counted.lock().unwrap(), files.len());

    // Cancelled as the first file is reported.
    let cancel = Cancel::new();
    let at_cancel = Mutex::new(None);
    let started = std::time::Instant::now();
    let r = load_until(&ns, &files, &cancel, |i| {
        if i == 0 {
            *at_cancel.lock().unwrap() = Some(object_gets(&proxy) - before);
            cancel.cancel();
        }
    });
    let took = started.elapsed();
    let at_cancel = at_cancel.into_inner().unwrap().expect("s00 was reported");
    let gets = object_gets(&proxy) - before;
    assert!(
        gets <= at_cancel + parallel,
        "{gets} GETs, {at_cancel} when cancelled: at most the {parallel} in flight may follow"
    );
    assert!(gets < pages / 2, "{gets} GETs of {pages} pages");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(r[0].as_ref().unwrap().fetched, 10_000);
    assert!(is_cancelled(&r[1]), "{:?}", r[1]);
    assert!(r[1].as_ref().unwrap_err().to_string().contains("/s3/c/big"));
    assert!(r[2..].iter().all(is_cancelled), "{:?}", &r[2..]);

    // Of big, whole pages only, each as the store has it; no temporary file is left.
    let held = Mutex::new(0u64);
    ns.cached_files(&files[1..2], &Cancel::new(), |_, r| {
        *held.lock().unwrap() = r.unwrap()
    });
    let held = held.into_inner().unwrap();
    assert_eq!(held % page as u64, 0, "{held} bytes of big: whole pages");
    assert!(held < big.len() as u64);
    let big_gets = gets - 1;
    assert_eq!(
        held,
        (big_gets * page) as u64,
        "every page fetched is kept whole"
    );
    let mut temporary = Vec::new();
    let mut dirs = vec![cache.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            } else if e.file_name().to_string_lossy().starts_with(".tmp-") {
                temporary.push(e.path());
            }
        }
    }
    assert!(temporary.is_empty(), "{temporary:?}");

    // A later load completes the files, fetching only the pages still missing.
    let before = object_gets(&proxy);
    let r = load(&ns, &files);
    assert!(r.iter().all(|r| r.is_ok()), "{r:?}");
    assert_eq!(r[0].as_ref().unwrap().fetched, 0);
    assert_eq!(r[1].as_ref().unwrap().cached_before, held);
    assert_eq!(object_gets(&proxy) - before, pages - 1 - big_gets);
    let reader = ns.open("/s3/c/big", Some(files[1].clone())).unwrap();
    let mut out = vec![0u8; big.len()];
    reader.read_at(0, &mut out).unwrap();
    assert!(out == big, "big reads back whole");

    // free_files cancelled as its first file is reported frees no more than the files it
    // had started (LOCAL_PARALLEL at most).
    let cancel = Cancel::new();
    let freed = Mutex::new(0);
    ns.free_files(&files, &cancel, |_, r| {
        if r.is_ok() {
            *freed.lock().unwrap() += 1;
        }
        cancel.cancel();
    });
    let freed = freed.into_inner().unwrap();
    assert!((1..=4).contains(&freed), "{freed} files freed");
}

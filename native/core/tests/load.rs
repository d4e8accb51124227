//! `Namespace::load_files`: many files fetched at once, at most `shoal.load.parallel` page
//! fetches in flight whatever the files' sizes, counted at a real HTTP server on 127.0.0.1
//! that holds every GET until that many are in flight (so overlap is proven by a count).

use std::sync::Mutex;
use std::time::Duration;

use shoal_core::{Config, ErrorKind, FileInfo, Loaded, Namespace, Result};
use shoal_testkit::HttpServer;

fn load(ns: &Namespace, files: &[FileInfo]) -> Vec<Result<Loaded>> {
    let out = Mutex::new((0..files.len()).map(|_| None).collect::<Vec<_>>());
    ns.load_files(files, |i, r| {
        let mut o = out.lock().unwrap();
        assert!(o[i].is_none(), "file {i} reported twice");
        o[i] = Some(r);
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
        each(&|done| ns.cached_files(&files, |i, r| done(i, r.map(|c| (c, 0)))))
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
        ns.load_footers(&files, |i, r| {
            done(i, r.map(|l| (l.cached_before, l.fetched)))
        })
    });
    assert_eq!(footers.iter().map(|r| r.0).sum::<u64>(), total);
    assert_eq!(footers.iter().map(|r| r.1).sum::<u64>(), 0);
    let freed = each(&|done| ns.free_files(&files, done));
    assert_eq!(freed.iter().map(|r| r.0).sum::<u64>(), total);
    assert!(freed.iter().all(|r| r.1 >= r.0), "{freed:?}");
    assert_eq!(cached(&ns), 0);
}

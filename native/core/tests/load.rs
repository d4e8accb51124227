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

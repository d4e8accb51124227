//! A directory's first listing is one flat listing of its tree, which also answers the listings
//! of the directories below it (`shoal.metadata.tree.max.entries`): a new process that walks
//! a dataset's class directories, as Spark's driver does, asks the store once instead of once
//! per directory. Checked against an S3 server (s3s-fs) on 127.0.0.1 behind a proxy that
//! counts the requests reaching it, and against the same walk with the tree listing off.

use shoal_core::{Config, FileInfo, Namespace};
use shoal_testkit::{CountingProxy, S3Server};

/// A namespace over `bucket` through `proxy`, with these keys added.
fn namespace(server: &S3Server, proxy: &CountingProxy, extra: &[(&str, &str)]) -> Namespace {
    let mut conf = server.mount_conf("s3", "/s3", "bucket");
    for (k, v) in conf.iter_mut() {
        if k.ends_with("aws_endpoint") {
            *v = proxy.endpoint();
        }
    }
    conf.push(("shoal.store.max.retries".into(), "0".into()));
    for (k, v) in extra {
        conf.push((k.to_string(), v.to_string()));
    }
    Namespace::new(&Config::from_pairs(conf)).unwrap()
}

/// An S3 server holding what `put` puts in `bucket`, and a counting proxy in front of it.
fn serve(put: impl FnOnce(&S3Server)) -> (S3Server, CountingProxy) {
    let server = S3Server::start();
    put(&server);
    let proxy = CountingProxy::start(&server.endpoint());
    (server, proxy)
}

/// `big/c0` to `big/c2`, 600 objects each: 1,800, two of S3's pages.
fn big_tree(server: &S3Server) {
    for c in 0..3 {
        for i in 0..600 {
            server.put("bucket", &format!("big/c{c}/f{i:03}"), &[1u8; 10]);
        }
    }
}

/// Listing requests (`ListObjectsV2`, flat or by directory) and HEADs the server saw.
fn requests(proxy: &CountingProxy) -> (usize, usize) {
    (
        proxy.count_where("GET", "list-type=2"),
        proxy.count_where("HEAD", ""),
    )
}

fn counted(ns: &Namespace) -> u64 {
    shoal_core::stats::counter(&ns.stats(), "store_metadata_requests").unwrap()
}

/// The same walk by a new namespace that lists each directory alone (the tree listing off).
fn walk_alone(server: &S3Server, proxy: &CountingProxy, dir: &str) -> Vec<(String, Vec<FileInfo>)> {
    let alone = namespace(server, proxy, &[("shoal.metadata.tree.max.entries", "0")]);
    walk(&alone, dir)
}

/// Every directory at or below `dir` listed one after the other, parents first, as Spark's
/// driver walks a dataset: (directory, its listing) in the order listed.
fn walk(ns: &Namespace, dir: &str) -> Vec<(String, Vec<FileInfo>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_string()];
    while let Some(d) = todo.pop() {
        let listed = ns.list(&d).unwrap();
        todo.extend(listed.iter().filter(|f| f.is_dir).map(|f| f.path.clone()));
        out.push((d, listed));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn a_first_listing_answers_every_directory_below_it_with_one_request() {
    let (server, proxy) = serve(|server| {
        for split in ["train", "test"] {
            for c in 0..5 {
                for i in 0..8 {
                    let key = format!("ds/{split}/c{c}/img{i}.jpg");
                    server.put("bucket", &key, &[c as u8; 300]);
                }
            }
        }
        server.put("bucket", "ds/labels.txt", b"c0\nc1\n");
        // Names that sort between a directory and its entries (`-` and `.` before `/`).
        server.put("bucket", "ds/train-extra.txt", b"x");
        server.put("bucket", "ds/train.d/one", b"y");
        server.put("bucket", "elsewhere/z", b"z");
    });

    let ns = namespace(&server, &proxy, &[]);
    let with_tree = walk(&ns, "/s3/ds");
    // ds, train, test, 10 class directories and train.d: 14 directories, one request.
    assert_eq!(with_tree.len(), 14);
    assert_eq!(requests(&proxy), (1, 0), "{:?}", proxy.seen());
    assert_eq!(counted(&ns), 1);
    // Every file's status is in the listings: opening one asks nothing more.
    for (_, listed) in &with_tree {
        for f in listed.iter().filter(|f| !f.is_dir) {
            assert_eq!(ns.status(&f.path).unwrap(), *f);
        }
    }
    assert_eq!(requests(&proxy), (1, 0), "{:?}", proxy.seen());

    // The same walk with each directory listed alone gives exactly the same entries.
    proxy.reset();
    assert_eq!(walk_alone(&server, &proxy, "/s3/ds"), with_tree);
    assert_eq!(requests(&proxy), (14, 0), "{:?}", proxy.seen());
}

#[test]
fn a_tree_larger_than_the_bound_lists_its_directory_alone_and_keeps_what_it_passed_whole() {
    // 3 x 600 objects; a bound of 1,000 reads one page of the flat listing: c0 whole, c1 not.
    let (server, proxy) = serve(big_tree);
    let bound = [("shoal.metadata.tree.max.entries", "1000")];
    let ns = namespace(&server, &proxy, &bound);
    let top = ns.list("/s3/big").unwrap();
    assert_eq!(top.len(), 3);
    // One page of the flat listing, then the directory's own listing.
    assert_eq!(requests(&proxy), (2, 0), "{:?}", proxy.seen());
    assert_eq!(ns.list("/s3/big/c0").unwrap().len(), 600);
    assert_eq!(requests(&proxy), (2, 0), "c0 was in the page read whole");
    assert_eq!(ns.list("/s3/big/c1").unwrap().len(), 600);
    assert_eq!(ns.list("/s3/big/c2").unwrap().len(), 600);
    assert_eq!(requests(&proxy), (4, 0), "{:?}", proxy.seen());

    assert_eq!(walk_alone(&server, &proxy, "/s3/big"), walk(&ns, "/s3/big"));
}

#[test]
fn an_empty_object_leaves_its_directory_to_a_listing_of_its_own() {
    let (server, proxy) = serve(|server| {
        server.put("bucket", "d/a/f", b"data");
        // A zero-byte object is a file or a directory marker; a flat listing cannot tell.
        server.put("bucket", "d/b/empty", b"");
        server.put("bucket", "d/b/g", b"data");
    });
    let ns = namespace(&server, &proxy, &[]);
    let tree = walk(&ns, "/s3/d");
    // d and d/a from the flat listing; d/b by its own listing.
    assert_eq!(requests(&proxy), (2, 0), "{:?}", proxy.seen());
    let b = &tree.iter().find(|(d, _)| d == "/s3/d/b").unwrap().1;
    let empty = b.iter().find(|f| f.path == "/s3/d/b/empty").unwrap();
    assert!(!empty.is_dir && empty.len == 0, "{empty:?}");
    assert_eq!(walk_alone(&server, &proxy, "/s3/d"), tree);
}

#[test]
fn a_change_made_through_shoal_or_by_another_writer_after_a_listing_is_not_hidden() {
    let (server, proxy) = serve(|server| server.put("bucket", "w/a/f", b"data"));
    let ns = namespace(&server, &proxy, &[]);
    assert_eq!(ns.list("/s3/w/a").unwrap().len(), 1);
    // A file another writer puts after the listing is found by name at once: a listing held
    // without a name says nothing about it (a manifest or a queue may name it; S3A finds it).
    proxy.reset();
    server.put("bucket", "w/a/other", b"o");
    assert_eq!(ns.status("/s3/w/a/other").unwrap().len, 1);
    assert_eq!(requests(&proxy), (0, 1), "{:?}", proxy.seen());
    // A file written through Shoal drops what was cached: the next listing shows it.
    let mut w = ns.create("/s3/w/a/new", false).unwrap();
    w.write(b"new").unwrap();
    w.close().unwrap();
    let listed = walk(&ns, "/s3/w");
    let a = &listed.iter().find(|(d, _)| d == "/s3/w/a").unwrap().1;
    assert_eq!(a.len(), 3, "{a:?}");
}

#[test]
fn a_store_gone_during_a_first_listing_fails_it_naming_the_directory_and_keeps_nothing() {
    let (server, proxy) = serve(|server| server.put("bucket", "g/a/f", b"data"));
    let ns = namespace(&server, &proxy, &[("shoal.store.timeout", "5s")]);
    drop(server);
    let e = ns.list("/s3/g").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("list /s3/g") && msg.contains("s3://bucket"),
        "{msg}"
    );
    // Nothing was kept: the directories below are not answered from the cache either.
    assert!(ns.list("/s3/g/a").is_err());
}

/// What Spark's driver does with an input path: its status (a HEAD, then one page of the flat
/// listing as the directory probe, checked here), then a walk of it.
fn status_then_walk(
    ns: &Namespace,
    proxy: &CountingProxy,
    dir: &str,
) -> Vec<(String, Vec<FileInfo>)> {
    assert!(ns.status(dir).unwrap().is_dir);
    assert_eq!(requests(proxy), (1, 1), "{:?}", proxy.seen());
    walk(ns, dir)
}

#[test]
fn an_input_paths_status_and_its_listing_cost_a_head_and_one_list() {
    // What Spark's driver does with each input path: getFileStatus, then a walk of it.
    let (server, proxy) = serve(|server| {
        for c in 0..4 {
            for i in 0..5 {
                server.put(
                    "bucket",
                    &format!("ds/train/c{c}/img{i}.jpg"),
                    &[c as u8; 100],
                );
            }
        }
        server.put("bucket", "ds/readme.txt", b"hello");
    });
    let ns = namespace(&server, &proxy, &[]);
    let with_tree = status_then_walk(&ns, &proxy, "/s3/ds/train");
    assert_eq!(with_tree.len(), 5);
    assert_eq!(
        requests(&proxy),
        (1, 1),
        "the walk was answered by the probe: {:?}",
        proxy.seen()
    );
    assert_eq!(counted(&ns), 2);

    // A file's status is one HEAD and lists nothing; a missing path's is a HEAD and one page.
    proxy.reset();
    assert!(!ns.status("/s3/ds/readme.txt").unwrap().is_dir);
    assert_eq!(requests(&proxy), (0, 1));
    let missing = ns.status("/s3/ds/nothing").unwrap_err();
    assert_eq!(missing.kind(), shoal_core::ErrorKind::NotFound, "{missing}");
    assert_eq!(requests(&proxy), (1, 2));

    // The same walk with the tree listing off: the same entries, a LIST per directory besides
    // the probe.
    proxy.reset();
    let alone = namespace(&server, &proxy, &[("shoal.metadata.tree.max.entries", "0")]);
    assert!(alone.status("/s3/ds/train").unwrap().is_dir);
    assert_eq!(walk(&alone, "/s3/ds/train"), with_tree);
    assert_eq!(requests(&proxy), (6, 1), "{:?}", proxy.seen());
}

#[test]
fn a_directory_larger_than_one_page_is_probed_with_one_page_and_listed_within_the_bound() {
    let (server, proxy) = serve(big_tree);
    let ns = namespace(&server, &proxy, &[]);
    // The page held no whole listing worth keeping: the first listing reads the tree (1,800
    // objects: two pages) within the bound, as with no status before it.
    let with_tree = status_then_walk(&ns, &proxy, "/s3/big");
    assert_eq!(with_tree.len(), 4);
    assert_eq!(requests(&proxy), (3, 1), "{:?}", proxy.seen());
    assert_eq!(walk_alone(&server, &proxy, "/s3/big"), with_tree);
}

#[test]
fn on_an_immutable_mount_the_probe_answers_spark_s_metadata_check_for_the_negative_ttl() {
    // Spark's driver asks for `<input>/_spark_metadata` right after the input path's status.
    let (server, proxy) = serve(|server| {
        for i in 0..5 {
            server.put("bucket", &format!("ds/train/c0/img{i}.jpg"), &[1u8; 10]);
        }
    });
    let immutable = [("shoal.mount.s3.immutable", "true")];
    let ns = namespace(&server, &proxy, &immutable);
    assert!(ns.status("/s3/ds/train").unwrap().is_dir);
    assert_eq!(requests(&proxy), (1, 1), "{:?}", proxy.seen());
    let e = ns.status("/s3/ds/train/_spark_metadata").unwrap_err();
    assert_eq!(e.kind(), shoal_core::ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string().contains("/s3/ds/train/_spark_metadata"),
        "{e}"
    );
    assert_eq!(requests(&proxy), (1, 1), "answered by the probe's listing");

    // Where the data may change, the name is asked for (a HEAD and a page), so that a file
    // another writer put there since is found.
    proxy.reset();
    let mutable = namespace(&server, &proxy, &[]);
    assert!(mutable.status("/s3/ds/train").unwrap().is_dir);
    assert!(mutable.status("/s3/ds/train/_spark_metadata").is_err());
    assert_eq!(requests(&proxy), (2, 2), "{:?}", proxy.seen());

    // On the immutable mount a name put since is "not found" only until the negative TTL has
    // passed since the listing started.
    let short = namespace(
        &server,
        &proxy,
        &[immutable[0], ("shoal.metadata.negative.ttl", "1s")],
    );
    let listed = std::time::Instant::now();
    assert!(short.status("/s3/ds/train").unwrap().is_dir);
    server.put("bucket", "ds/train/late.txt", b"late");
    if listed.elapsed() < std::time::Duration::from_millis(900) {
        let e = short.status("/s3/ds/train/late.txt").unwrap_err();
        assert_eq!(e.kind(), shoal_core::ErrorKind::NotFound, "{e}");
    }
    std::thread::sleep(std::time::Duration::from_millis(1100).saturating_sub(listed.elapsed()));
    assert_eq!(short.status("/s3/ds/train/late.txt").unwrap().len, 4);
}

//! Revalidating cached metadata costs a listing per directory, not a request per file: an
//! S3 server (s3s-fs) on 127.0.0.1 behind a proxy that counts the requests reaching it, with a
//! short `shoal.metadata.ttl` so that entries expire within the test.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use shoal_core::{Config, ErrorKind, Namespace};
use shoal_testkit::{CountingProxy, S3Server};

const TTL: Duration = Duration::from_secs(3);

/// A server holding `bucket/d/f00.jpg`.. (`n` files of 100 bytes), and a namespace over it
/// through a counting proxy, with the metadata TTL `TTL`.
fn setup(n: usize, extra: &[(&str, &str)]) -> (S3Server, CountingProxy, Namespace) {
    let server = S3Server::start();
    std::fs::create_dir_all(server.root().join("bucket/d")).unwrap();
    for i in 0..n {
        std::fs::write(
            server.root().join(format!("bucket/d/f{i:02}.jpg")),
            [i as u8; 100],
        )
        .unwrap();
    }
    let proxy = CountingProxy::start(&server.endpoint());
    let mut conf = server.mount_conf("s3", "/s3", "bucket");
    for (k, v) in conf.iter_mut() {
        if k.ends_with("aws_endpoint") {
            *v = proxy.endpoint();
        }
    }
    conf.push((
        "shoal.metadata.ttl".into(),
        format!("{}ms", TTL.as_millis()),
    ));
    conf.push(("shoal.store.max.retries".into(), "0".into()));
    for (k, v) in extra {
        conf.push((k.to_string(), v.to_string()));
    }
    let ns = Namespace::new(&Config::from_pairs(conf)).unwrap();
    (server, proxy, ns)
}

/// (directory listings, HEADs) the server saw since the last reset. (The status of a key that
/// is not an object also lists under `key/` to see whether it is a directory: not counted.)
fn metadata_requests(proxy: &CountingProxy) -> (usize, usize) {
    (
        proxy.count_where("GET", "delimiter"),
        proxy.count_where("HEAD", ""),
    )
}

fn sleep_until(t: Instant) {
    if let Some(d) = t.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

/// Lists `/s3/d`; returns when, the time its entries expire from.
fn listed(ns: &Namespace) -> Instant {
    let at = Instant::now();
    ns.list("/s3/d").unwrap();
    at
}

/// Waits until what was listed at `since` has expired, then forgets the requests seen so far.
fn expire(since: Instant, proxy: &CountingProxy) {
    sleep_until(since + TTL + Duration::from_millis(100));
    proxy.reset();
}

fn paths(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/s3/d/f{i:02}.jpg")).collect()
}

#[test]
fn expired_statuses_are_revalidated_by_one_listing_of_their_directory() {
    let n = 20;
    let (_server, proxy, ns) = setup(n, &[]);
    let listed_at = Instant::now();
    assert_eq!(ns.list("/s3/d").unwrap().len(), n);
    expire(listed_at, &proxy);
    for p in paths(n) {
        assert_eq!(ns.status(&p).unwrap().len, 100);
        ns.open(&p, None).unwrap();
    }
    assert_eq!(ns.list("/s3/d").unwrap().len(), n);
    assert_eq!(metadata_requests(&proxy), (1, 0), "{:?}", proxy.seen());
}

#[test]
fn concurrent_expiries_share_one_listing() {
    let n = 16;
    let (_server, proxy, ns) = setup(n, &[]);
    expire(listed(&ns), &proxy);
    let ns = Arc::new(ns);
    let start = Arc::new(Barrier::new(n));
    let threads: Vec<_> = paths(n)
        .into_iter()
        .map(|p| {
            let (ns, start) = (ns.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                ns.status(&p).unwrap().len
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 100);
    }
    assert_eq!(metadata_requests(&proxy), (1, 0), "{:?}", proxy.seen());
}

#[test]
fn entries_due_are_refreshed_in_the_background_while_hits_are_served() {
    let n = 10;
    let (_server, proxy, ns) = setup(n, &[]);
    let listed_at = listed(&ns);
    proxy.reset();
    // In the last quarter of the TTL: served at once, one listing starts in the background.
    sleep_until(listed_at + TTL * 7 / 8);
    for p in paths(n) {
        assert_eq!(ns.status(&p).unwrap().len, 100);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while metadata_requests(&proxy).0 == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Past the first listing's TTL the refreshed entries are fresh: nothing more is asked.
    sleep_until(listed_at + TTL + Duration::from_millis(200));
    for p in paths(n) {
        ns.open(&p, None).unwrap();
    }
    assert_eq!(metadata_requests(&proxy), (1, 0), "{:?}", proxy.seen());
}

#[test]
fn a_changed_object_is_read_anew_and_a_deleted_one_is_gone_once_revalidated() {
    let (server, proxy, ns) = setup(3, &[]);
    let listed_at = listed(&ns);
    let read = |p: &str| {
        let r = ns.open(p, None).unwrap();
        let mut out = vec![0u8; r.len() as usize];
        r.read_at(0, &mut out).unwrap();
        out
    };
    assert_eq!(read("/s3/d/f01.jpg"), vec![1u8; 100]);
    // Changed and deleted behind Shoal's back.
    std::fs::write(server.root().join("bucket/d/f01.jpg"), [9u8; 150]).unwrap();
    std::fs::remove_file(server.root().join("bucket/d/f02.jpg")).unwrap();
    // Within the TTL the cached status (and its pages) are what a reader gets.
    assert_eq!(read("/s3/d/f01.jpg"), vec![1u8; 100]);
    expire(listed_at, &proxy);
    assert_eq!(read("/s3/d/f01.jpg"), vec![9u8; 150]);
    let e = ns.status("/s3/d/f02.jpg").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("/s3/d/f02.jpg"), "{e}");
    // One listing for the directory; the file missing from it is asked for alone.
    assert_eq!(metadata_requests(&proxy), (1, 1), "{:?}", proxy.seen());
    assert_eq!(ns.list("/s3/d").unwrap().len(), 2);
}

#[test]
fn a_failed_background_listing_keeps_hits_until_the_ttl_then_errors() {
    // A longer TTL: stopping the server must fit in its first three quarters on a busy machine.
    let ttl = Duration::from_secs(6);
    let n = 4;
    let (server, _proxy, ns) = setup(
        n,
        &[("shoal.store.timeout", "2s"), ("shoal.metadata.ttl", "6s")],
    );
    let listed_at = listed(&ns);
    // The store goes away; a lookup in the last quarter of the TTL starts a listing that
    // fails, and is served from the cache.
    drop(server);
    assert!(
        Instant::now() < listed_at + ttl * 3 / 4,
        "the server took {:?} to stop",
        listed_at.elapsed()
    );
    sleep_until(listed_at + ttl * 7 / 8);
    assert_eq!(ns.status("/s3/d/f00.jpg").unwrap().len, 100);
    std::thread::sleep(Duration::from_millis(150));
    // Hits go on until the TTL, without a listing per lookup.
    let requests = || shoal_core::stats::counter(&ns.stats(), "store_metadata_requests").unwrap();
    let before = requests();
    for p in paths(n) {
        if Instant::now() + Duration::from_millis(100) < listed_at + ttl {
            assert_eq!(ns.status(&p).unwrap().len, 100);
        }
    }
    assert_eq!(requests(), before);
    // Past the TTL: the lookup lists itself and reports the store's error, naming the path.
    sleep_until(listed_at + ttl + Duration::from_millis(50));
    let e = ns.status("/s3/d/f01.jpg").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("/s3/d"), "{msg}");
    assert_ne!(e.kind(), ErrorKind::NotFound, "{msg}");
}

#[test]
fn large_directories_and_lone_statuses_are_revalidated_one_by_one() {
    // A status asked for alone (no listing) is asked for again alone.
    let (_server, proxy, ns) = setup(3, &[("shoal.metadata.relist.max.entries", "2")]);
    let t = Instant::now();
    ns.status("/s3/d/f00.jpg").unwrap();
    ns.list("/s3/d").unwrap();
    expire(t, &proxy);
    // Three entries: more than relist.max.entries, so one HEAD each.
    for p in paths(3) {
        ns.status(&p).unwrap();
    }
    assert_eq!(metadata_requests(&proxy), (0, 3), "{:?}", proxy.seen());
}

#[test]
fn a_huge_flat_directory_is_revalidated_by_a_paginated_listing_not_heads() {
    // Several pages of S3's 1,000 keys, read one by one (the old default answered
    // directories of over 10,000 entries with a HEAD per file; now no size is too large:
    // the listing streams). 2,500 keeps the test short on s3s-fs, which reads the whole
    // directory for every page.
    let n = 2_500;
    let (_server, proxy, ns) = setup(n, &[]);
    let listed_at = Instant::now();
    proxy.reset();
    assert_eq!(ns.list("/s3/d").unwrap().len(), n);
    // The first listing is one flat listing of the tree (`shoal.metadata.tree.max.entries`).
    let pages = proxy.count_where("GET", "list-type=2");
    let heads = proxy.count_where("HEAD", "");
    assert!(pages >= 3 && heads == 0, "{:?}", proxy.seen());
    expire(listed_at, &proxy);
    for p in paths(n).iter().step_by(25) {
        assert_eq!(ns.status(p).unwrap().len, 100);
    }
    // Expired: revalidated by listing the directory again, page by page; no HEAD.
    assert_eq!(metadata_requests(&proxy), (pages, 0), "{:?}", proxy.seen());
}

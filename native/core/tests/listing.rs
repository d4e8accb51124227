//! Listings stream: a directory or a tree is handed on batch by batch as the store pages, the
//! metadata cache gets a copy only while it fits, and a store failing mid-listing fails the
//! batch that meets it, naming the directory.

use shoal_core::store::{Entry, LIST_PAGE};
use shoal_core::{Config, Namespace};
use shoal_testkit::S3Server;

/// A `file://` mount `/m` over a directory holding `d/f00000.jpg`.. (`n` files of 10 bytes),
/// with a metadata cache of `metadata` bytes.
fn local(n: usize, metadata: &str) -> (tempfile::TempDir, Namespace) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    for i in 0..n {
        std::fs::write(dir.path().join(format!("d/f{i:05}.jpg")), [1u8; 10]).unwrap();
    }
    let ns = Namespace::new(&Config::from_pairs([
        ("shoal.mount.m.path".to_string(), "/m".to_string()),
        (
            "shoal.mount.m.uri".to_string(),
            format!("file://{}", dir.path().display()),
        ),
        ("shoal.metadata.max.size".to_string(), metadata.to_string()),
    ]))
    .unwrap();
    (dir, ns)
}

fn requests(ns: &Namespace) -> u64 {
    shoal_core::stats::counter(&ns.stats(), "store_metadata_requests").unwrap()
}

#[test]
fn a_listing_larger_than_the_metadata_budget_holds_one_page_and_is_not_kept() {
    let n = 20_000;
    let budget: u64 = 1 << 20;
    let (_dir, ns) = local(n, "1m");
    // The most a copy for the cache may hold: a quarter of the budget, each entry weighing
    // at least its `Entry`.
    let copy_max = (budget / 4) as usize / std::mem::size_of::<Entry>();
    let before = requests(&ns);
    let mut listing = ns.list_stream("/m/d").unwrap();
    let (mut seen, mut batches, mut most_held) = (0, 0, 0);
    loop {
        most_held = most_held.max(listing.held());
        let batch = listing.next_batch(LIST_PAGE).unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= LIST_PAGE);
        seen += batch.len();
        batches += 1;
    }
    assert_eq!(seen, n);
    assert!(batches >= n / LIST_PAGE, "{batches} batches");
    assert!(
        most_held <= LIST_PAGE + copy_max,
        "held {most_held} entries at once, more than a page and a quarter of the cache ({})",
        LIST_PAGE + copy_max
    );
    // One read of the store per page; nothing kept: listing again reads the store again.
    let pages = requests(&ns) - before;
    assert_eq!(pages as usize, n / LIST_PAGE);
    assert!(ns.list_stream("/m/d").unwrap().next_batch(1).unwrap().len() == 1);
    assert!(requests(&ns) > before + pages);
    // No status of it was kept either: a file's status is asked for.
    let asked = requests(&ns);
    ns.status("/m/d/f00042.jpg").unwrap();
    assert_eq!(requests(&ns), asked + 1);
}

#[test]
fn a_listing_that_fits_is_kept_and_served_from_the_cache_in_batches() {
    let n = 3_500;
    let (_dir, ns) = local(n, "64m");
    assert_eq!(
        ns.list_stream("/m/d").unwrap().flatten().flatten().count(),
        n
    );
    let before = requests(&ns);
    let batches: Vec<usize> = ns
        .list_stream("/m/d")
        .unwrap()
        .map(|b| b.unwrap().len())
        .collect();
    assert_eq!(batches.iter().sum::<usize>(), n);
    assert!(batches.iter().all(|b| *b <= LIST_PAGE), "{batches:?}");
    assert_eq!(requests(&ns), before, "served from the cache");
    // Opening a listed file asks the store nothing.
    ns.status("/m/d/f00042.jpg").unwrap();
    assert_eq!(requests(&ns), before);
}

#[test]
fn a_recursive_listing_streams_and_keeps_within_half_the_cache() {
    let (dir, ns) = local(2_500, "64m");
    std::fs::create_dir(dir.path().join("d/sub")).unwrap();
    std::fs::write(dir.path().join("d/sub/x"), b"x").unwrap();
    let batches: Vec<usize> = ns
        .walk_stream("/m")
        .unwrap()
        .map(|b| b.unwrap().len())
        .collect();
    assert_eq!(batches.iter().sum::<usize>(), 2_501);
    assert!(batches.len() >= 3, "{batches:?}");
    let before = requests(&ns);
    assert_eq!(ns.status("/m/d/sub/x").unwrap().len, 1);
    assert_eq!(requests(&ns), before, "kept for the cache");
    // A missing path fails when the listing is taken, as Hadoop's listFiles does.
    let e = ns.walk_stream("/m/nothing").unwrap_err();
    assert_eq!(e.kind(), shoal_core::ErrorKind::NotFound, "{e}");
}

/// A namespace over an S3 server holding `bucket/big/f00000`.. (2,500 objects, three pages).
fn s3_big() -> (S3Server, Namespace) {
    let server = S3Server::start();
    std::fs::create_dir_all(server.root().join("bucket/big")).unwrap();
    for i in 0..2_500 {
        std::fs::write(server.root().join(format!("bucket/big/f{i:05}")), b"x").unwrap();
    }
    let mut conf = server.mount_conf("s3", "/s3", "bucket");
    conf.push(("shoal.store.max.retries".into(), "0".into()));
    conf.push(("shoal.store.timeout".into(), "5s".into()));
    // Listed by directory, page by page (a tree of 2,500 would be read whole at once).
    conf.push(("shoal.metadata.tree.max.entries".into(), "0".into()));
    let ns = Namespace::new(&Config::from_pairs(conf)).unwrap();
    (server, ns)
}

#[test]
fn a_store_failing_mid_listing_fails_the_batch_naming_the_directory() {
    for walk in [false, true] {
        let (server, ns) = s3_big();
        let mut listing = if walk {
            ns.walk_stream("/s3/big").unwrap()
        } else {
            ns.list_stream("/s3/big").unwrap()
        };
        // The first page was read; the server goes away before the second.
        assert_eq!(listing.next_batch(LIST_PAGE).unwrap().len(), LIST_PAGE);
        drop(server);
        let e = listing.next_batch(LIST_PAGE).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("list /s3/big") && msg.contains("s3://bucket"),
            "{msg}"
        );
        // The error ends the listing, and nothing of it was kept.
        assert!(listing.next_batch(LIST_PAGE).unwrap().is_empty());
        assert!(ns.status("/s3/big/f00001").is_err());
    }
}

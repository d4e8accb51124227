//! One suite of namespace behaviour, run against every kind of store this machine can start:
//! a local directory, two real S3 servers (s3s-fs, and moto, which keeps directory markers as
//! S3 does), Azure Blob (Azurite) and HDFS (a MiniDFSCluster), on 127.0.0.1. A second suite of
//! reads over data another writer put into the store runs where Shoal cannot write or list
//! everything: a GCS emulator (fake-gcs-server) and a read-only HTTP server.

use shoal_core::{Config, ErrorKind, Namespace};
use shoal_testkit::{
    AzuriteServer, Behaviour, FaultyServer, GcsServer, HttpServer, MotoServer, S3Server,
};

fn write(ns: &Namespace, path: &str, data: &[u8]) {
    let mut w = ns.create(path, true).unwrap();
    // Several writes, so writers see more than one call.
    for chunk in data.chunks(1000) {
        w.write(chunk).unwrap();
    }
    w.close().unwrap();
}

fn read_all(ns: &Namespace, path: &str) -> Vec<u8> {
    let r = ns.open(path, None).unwrap();
    let mut out = vec![0u8; r.len() as usize];
    assert_eq!(r.read_at(0, &mut out).unwrap(), out.len());
    out
}

fn names(ns: &Namespace, path: &str) -> Vec<(String, bool)> {
    ns.list(path)
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.is_dir))
        .collect()
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn counter(ns: &Namespace, name: &str) -> u64 {
    shoal_core::stats::counter(&ns.stats(), name).unwrap()
}

/// The paths of the files at or below `path`, as a recursive listing gives them.
fn walked(ns: &Namespace, path: &str) -> Vec<String> {
    ns.walk_files(path)
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect()
}

/// The path `rel` under `dir` (a mount point, say).
fn at(dir: &str, rel: &str) -> String {
    format!("{dir}/{rel}")
}

/// The listings of the tree both suites start from (`dir/a.bin`, `dir/sub/b.bin`, `top.txt`
/// under `m`): directories from prefixes, files, sorted; and the recursive listing, flat.
fn assert_lists_the_tree(ns: &Namespace, m: &str) {
    assert_eq!(
        names(ns, m),
        vec![(at(m, "dir"), true), (at(m, "top.txt"), false)]
    );
    assert_eq!(
        names(ns, &at(m, "dir")),
        vec![(at(m, "dir/a.bin"), false), (at(m, "dir/sub"), true)]
    );
    assert_eq!(
        walked(ns, m),
        vec![at(m, "dir/a.bin"), at(m, "dir/sub/b.bin"), at(m, "top.txt")]
    );
}

/// Reads of `{m}/dir/a.bin` (`a`, 5000 bytes): whole, ranged, across the end, at and past the end.
fn assert_reads(ns: &Namespace, m: &str, a: &[u8]) {
    assert_eq!(read_all(ns, &at(m, "dir/a.bin")), a);
    let r = ns.open(&at(m, "dir/a.bin"), None).unwrap();
    let mut buf = vec![0u8; 100];
    assert_eq!(r.read_at(1234, &mut buf).unwrap(), 100);
    assert_eq!(&buf[..], &a[1234..1334]);
    assert_eq!(r.read_at(4950, &mut buf).unwrap(), 50);
    assert_eq!(&buf[..50], &a[4950..]);
    assert_eq!(r.read_at(5000, &mut buf).unwrap(), 0);
    assert_eq!(r.read_at(9999, &mut buf).unwrap(), 0);
}

/// A namespace over these configuration keys.
fn namespace(conf: Vec<(String, String)>) -> Namespace {
    Namespace::new(&Config::from_pairs(conf)).unwrap()
}

/// Writes `data` at `path`, making its directories: another writer, for the reads suite.
fn put_file(path: &std::path::Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// An S3 server (s3s-fs) with an empty `bucket`, and a namespace that mounts
/// `s3://bucket/prefix` at `/s3`.
fn s3_mount() -> (S3Server, Namespace) {
    let server = S3Server::start();
    std::fs::create_dir_all(server.root().join("bucket")).unwrap();
    let ns = namespace(server.mount_conf("s3", "/s3", "bucket/prefix"));
    (server, ns)
}

/// What a mount must show over files that another writer put into its store with `put`
/// (a key relative to the mount root, and the bytes): `dir/a.bin`, `dir/sub/b.bin`,
/// `top.txt`. `lists` is false for a store that cannot list (a web server without WebDAV):
/// there, only files are found.
fn reads_suite(ns: &Namespace, m: &str, lists: bool, put: &dyn Fn(&str, &[u8])) {
    let a = pattern(5000, 1);
    put("dir/a.bin", &a);
    put("dir/sub/b.bin", &pattern(10, 2));
    put("top.txt", b"hello");

    // Status of files and the mount point; what is missing is not found, by path.
    let st = ns.status(&at(m, "dir/a.bin")).unwrap();
    assert!(!st.is_dir);
    assert_eq!(st.len, 5000);
    assert!(st.version.is_some());
    assert_eq!(ns.status(&at(m, "top.txt")).unwrap().len, 5);
    assert!(ns.status(m).unwrap().is_dir);
    for missing in [at(m, "dir/missing"), at(m, "nothing/at/all")] {
        let e = ns.status(&missing).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert!(e.message().contains(&missing), "{e}");
        let e = ns.open(&missing, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert!(e.message().contains(&missing), "{e}");
    }

    if lists {
        assert!(ns.status(&at(m, "dir")).unwrap().is_dir);
        assert!(ns.status(&at(m, "dir/sub")).unwrap().is_dir);
        assert_lists_the_tree(ns, m);
        assert_eq!(
            ns.open(&at(m, "dir"), None).unwrap_err().kind(),
            ErrorKind::IsADirectory
        );
    } else {
        // No listing, no directories: a prefix of files is not found.
        assert_eq!(
            ns.status(&at(m, "dir")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
    // A file lists itself.
    assert_eq!(
        names(ns, &at(m, "top.txt")),
        vec![(at(m, "top.txt"), false)]
    );
    assert_eq!(ns.walk_files(&at(m, "dir/a.bin")).unwrap().len(), 1);

    assert_reads(ns, m, &a);
    assert_eq!(read_all(ns, &at(m, "dir/sub/b.bin")), pattern(10, 2));
    assert_eq!(read_all(ns, &at(m, "top.txt")), b"hello");

    // Read again: the page cache answers, and no data request reaches the store.
    let (gets, hits, misses) = (
        counter(ns, "store_get_requests"),
        counter(ns, "cache_hits"),
        counter(ns, "cache_misses"),
    );
    assert!(gets > 0, "the first reads asked the store nothing");
    assert_eq!(read_all(ns, &at(m, "dir/a.bin")), a);
    assert_eq!(counter(ns, "store_get_requests"), gets);
    assert_eq!(counter(ns, "cache_misses"), misses);
    assert!(counter(ns, "cache_hits") > hits);
}

/// A namespace over `conf` that has passed [`suite`] at its mount `m`.
fn passing_suite(conf: Vec<(String, String)>, m: &str, persists_empty_dirs: bool) -> Namespace {
    let ns = namespace(conf);
    suite(&ns, m, persists_empty_dirs);
    ns
}

/// The behaviour every store must show, under the mount at `m`.
fn suite(ns: &Namespace, m: &str, persists_empty_dirs: bool) {
    let a = pattern(5000, 1);
    write(ns, &at(m, "dir/a.bin"), &a);
    write(ns, &at(m, "dir/sub/b.bin"), &pattern(10, 2));
    write(ns, &at(m, "top.txt"), b"hello");

    // Status of files, synthesized or real directories, and the mount point.
    let st = ns.status(&at(m, "dir/a.bin")).unwrap();
    assert!(!st.is_dir);
    assert_eq!(st.len, 5000);
    assert!(st.version.is_some());
    assert!(ns.status(&at(m, "dir")).unwrap().is_dir);
    assert!(ns.status(&at(m, "dir/sub")).unwrap().is_dir);
    assert!(ns.status(m).unwrap().is_dir);
    let e = ns.status(&at(m, "dir/missing")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains(&at(m, "dir/missing")), "{e}");

    // Listings, plain and recursive; a file lists itself.
    assert_lists_the_tree(ns, m);
    assert_eq!(
        names(ns, &at(m, "top.txt")),
        vec![(at(m, "top.txt"), false)]
    );
    assert_eq!(
        ns.list(&at(m, "nothing")).unwrap_err().kind(),
        ErrorKind::NotFound
    );

    assert_eq!(ns.walk_files(&at(m, "dir/a.bin")).unwrap().len(), 1);

    assert_reads(ns, m, &a);
    assert_eq!(
        ns.open(&at(m, "dir"), None).unwrap_err().kind(),
        ErrorKind::IsADirectory
    );
    assert_eq!(
        ns.open(&at(m, "dir/nope"), None).unwrap_err().kind(),
        ErrorKind::NotFound
    );

    // Create refuses what Hadoop refuses.
    assert_eq!(
        ns.create(&at(m, "top.txt"), false).err().unwrap().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        ns.create(&at(m, "dir"), true).err().unwrap().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        ns.create(&at(m, "top.txt/child"), true)
            .err()
            .unwrap()
            .kind(),
        ErrorKind::NotADirectory
    );
    // An aborted write leaves nothing behind.
    let mut w = ns.create(&at(m, "aborted.bin"), false).unwrap();
    w.write(b"partial").unwrap();
    w.abort();
    assert_eq!(
        ns.status(&at(m, "aborted.bin")).unwrap_err().kind(),
        ErrorKind::NotFound
    );

    // Overwrite replaces the bytes.
    write(ns, &at(m, "top.txt"), b"bye");
    assert_eq!(read_all(ns, &at(m, "top.txt")), b"bye");

    // mkdirs.
    ns.mkdirs(&at(m, "made/deep")).unwrap();
    if persists_empty_dirs {
        empty_dirs(ns, m);
    }
    assert_eq!(
        ns.mkdirs(&at(m, "top.txt")).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        ns.mkdirs(&at(m, "top.txt/x")).unwrap_err().kind(),
        ErrorKind::NotADirectory
    );

    // Rename a file, into a directory, and a directory tree.
    assert!(ns.rename(&at(m, "top.txt"), &at(m, "renamed.txt")).unwrap());
    assert_eq!(read_all(ns, &at(m, "renamed.txt")), b"bye");
    assert!(!ns.rename(&at(m, "top.txt"), &at(m, "x.txt")).unwrap());
    assert!(ns.rename(&at(m, "renamed.txt"), &at(m, "dir")).unwrap());
    assert_eq!(read_all(ns, &at(m, "dir/renamed.txt")), b"bye");
    assert!(ns.rename(&at(m, "dir"), &at(m, "moved")).unwrap());
    assert_eq!(read_all(ns, &at(m, "moved/a.bin")), a);
    assert_eq!(read_all(ns, &at(m, "moved/sub/b.bin")), pattern(10, 2));
    assert_eq!(
        ns.status(&at(m, "dir")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(ns.rename(&at(m, "moved"), &at(m, "moved/inside")).is_err());

    // Delete: not empty without recursion, then recursive; missing is false.
    assert_eq!(
        ns.delete(&at(m, "moved"), false).unwrap_err().kind(),
        ErrorKind::NotEmpty
    );
    assert!(ns.delete(&at(m, "moved/sub/b.bin"), false).unwrap());
    assert!(ns.delete(&at(m, "moved"), true).unwrap());
    assert!(!ns.delete(&at(m, "moved"), true).unwrap());
    assert_eq!(
        ns.status(&at(m, "moved/a.bin")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// Empty directories made by `mkdirs` (`{m}/made/deep` exists) persist, list, move and go.
fn empty_dirs(ns: &Namespace, m: &str) {
    let made = at(m, "made");
    assert!(ns.status(&at(&made, "deep")).unwrap().is_dir);
    assert_eq!(names(ns, &made), vec![(at(&made, "deep"), true)]);
    assert_eq!(names(ns, &at(&made, "deep")), vec![]);
    // mkdirs of what exists is fine, and changes nothing.
    ns.mkdirs(&made).unwrap();
    ns.mkdirs(&at(&made, "deep")).unwrap();
    assert_eq!(names(ns, &made), vec![(at(&made, "deep"), true)]);
    // A recursive listing holds files only: no directory, no marker.
    assert!(!ns
        .walk_files(m)
        .unwrap()
        .iter()
        .any(|f| f.path.starts_with(&made)));
    // A file written into an empty directory and deleted again leaves the directory.
    write(ns, &at(&made, "deep/f.txt"), b"f");
    assert!(ns.delete(&at(&made, "deep/f.txt"), false).unwrap());
    assert!(ns.status(&at(&made, "deep")).unwrap().is_dir);
    assert_eq!(names(ns, &at(&made, "deep")), vec![]);
    // Deleting an empty directory (not recursive) leaves its parent, now empty too.
    assert!(ns.delete(&at(&made, "deep"), false).unwrap());
    assert_eq!(
        ns.status(&at(&made, "deep")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(ns.status(&made).unwrap().is_dir);
    assert_eq!(names(ns, &made), vec![]);
    // A tree of empty directories moves whole; the source's parent stays.
    ns.mkdirs(&at(&made, "a/b")).unwrap();
    ns.mkdirs(&at(&made, "a/c")).unwrap();
    assert!(ns.rename(&at(&made, "a"), &at(m, "moved-empty")).unwrap());
    assert_eq!(
        names(ns, &at(m, "moved-empty")),
        vec![
            (at(m, "moved-empty/b"), true),
            (at(m, "moved-empty/c"), true)
        ]
    );
    assert_eq!(
        ns.status(&at(&made, "a")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(ns.status(&made).unwrap().is_dir);
    // Empty subdirectories make a directory non-empty; recursive delete takes them all.
    assert_eq!(
        ns.delete(&at(m, "moved-empty"), false).unwrap_err().kind(),
        ErrorKind::NotEmpty
    );
    assert!(ns.delete(&at(m, "moved-empty"), true).unwrap());
    for p in ["moved-empty", "moved-empty/b", "moved-empty/c"] {
        assert_eq!(
            ns.status(&at(m, p)).unwrap_err().kind(),
            ErrorKind::NotFound,
            "{p}"
        );
    }
    assert!(ns.delete(&made, false).unwrap());
    ns.mkdirs(&at(&made, "deep")).unwrap();
}

#[test]
fn local_directory_mount() {
    let dir = tempfile::tempdir().unwrap();
    let ns = Namespace::new(&Config::from_pairs([
        ("shoal.mount.local.path", "/local"),
        (
            "shoal.mount.local.uri",
            &format!("file://{}", dir.path().display()),
        ),
    ]))
    .unwrap();
    suite(&ns, "/local", true);
    assert!(
        !ns.etags_available("/local").unwrap(),
        "no ETags in a directory"
    );
    // Files put there by others are read as they are.
    std::fs::write(dir.path().join("outside.txt"), b"from the OS").unwrap();
    assert_eq!(read_all(&ns, "/local/outside.txt"), b"from the OS");
    // Unfinished writes are never listed.
    let mut w = ns.create("/local/pending.bin", true).unwrap();
    w.write(b"x").unwrap();
    assert!(!names(&ns, "/local")
        .iter()
        .any(|(p, _)| p.contains("pending")));
    w.close().unwrap();
    assert!(names(&ns, "/local")
        .iter()
        .any(|(p, _)| p == "/local/pending.bin"));
    // A name longer than the file system's (255 bytes) cannot be there: not found, as
    // Hadoop's LocalFileSystem says, not a store failure (which the FUSE mount made EIO).
    let long = format!("/local/{}", "x".repeat(300));
    for e in [
        ns.status(&long).err().unwrap(),
        ns.list(&long).err().unwrap(),
        ns.open(&format!("{long}/f"), None).err().unwrap(),
    ] {
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    }
}

#[test]
fn s3_mount_on_a_real_server() {
    let (server, ns) = s3_mount();
    suite(&ns, "/s3", false);
    // s3s-fs lists without ETags: a listing and a HEAD would disagree, so none is claimed.
    assert!(!ns.etags_available("/s3/dir").unwrap());

    // Objects put into the bucket by another writer are listed and read.
    server.put("bucket", "prefix/external/x/obj.bin", &pattern(3000, 7));
    assert_eq!(
        names(&ns, "/s3/external"),
        vec![("/s3/external/x".to_string(), true)]
    );
    assert_eq!(read_all(&ns, "/s3/external/x/obj.bin"), pattern(3000, 7));

    // A large write goes up as a multipart upload and reads back intact.
    let big = pattern(20 << 20, 9);
    write(&ns, "/s3/big.bin", &big);
    assert_eq!(ns.status("/s3/big.bin").unwrap().len, big.len() as u64);
    assert_eq!(read_all(&ns, "/s3/big.bin"), big);
}

#[test]
fn azure_blob_mount_on_azurite() {
    let server = AzuriteServer::start();
    server.create_container("container");
    let ns = passing_suite(
        server.mount_conf("az", "/az", "container/prefix"),
        "/az",
        false,
    );
    assert!(ns.etags_available("/az/dir").unwrap());

    // The other URI forms of an Azure mount reach the same container.
    write(&ns, "/az/forms/f.bin", &pattern(3000, 5));
    for uri in [
        "azure://container/prefix",
        "abfs://container@devstoreaccount1.dfs.core.windows.net/prefix",
        "abfss://container@devstoreaccount1.dfs.core.windows.net/prefix",
    ] {
        let mut conf = server.mount_conf("other", "/other", "container/prefix");
        for (k, v) in conf.iter_mut() {
            if k == "shoal.mount.other.uri" {
                *v = uri.to_string();
            }
        }
        let other = Namespace::new(&Config::from_pairs(conf)).unwrap();
        assert_eq!(
            names(&other, "/other/forms"),
            vec![("/other/forms/f.bin".to_string(), false)],
            "{uri}"
        );
        assert_eq!(read_all(&other, "/other/forms/f.bin"), pattern(3000, 5));
    }
}

#[test]
fn gcs_mount_on_an_emulator() {
    // fake-gcs-server answers object_store's reads, listings and deletes but not its writes
    // (XML API PUT): objects are put through the emulator's JSON API, as another writer would.
    let server = GcsServer::start();
    server.create_bucket("bucket");
    let conf = Config::from_pairs(server.mount_conf("gs", "/gs", "bucket/prefix"));
    let ns = Namespace::new(&conf).unwrap();
    let put = |key: &str, data: &[u8]| server.put_object("bucket", &format!("prefix/{key}"), data);
    reads_suite(&ns, "/gs", true, &put);

    // An object overwritten in the store is a new version: never read stale from the cache.
    put("v.bin", &pattern(3000, 3));
    assert_eq!(read_all(&ns, "/gs/v.bin"), pattern(3000, 3));
    put("v.bin", &pattern(3000, 4));
    let fresh = Namespace::new(&conf).unwrap();
    assert_ne!(
        fresh.status("/gs/v.bin").unwrap().version,
        ns.status("/gs/v.bin").unwrap().version
    );
    assert_eq!(read_all(&fresh, "/gs/v.bin"), pattern(3000, 4));

    // Deletes: not empty without recursion, then a file, then a tree.
    assert_eq!(
        fresh.delete("/gs/dir", false).unwrap_err().kind(),
        ErrorKind::NotEmpty
    );
    assert!(fresh.delete("/gs/top.txt", false).unwrap());
    assert!(fresh.delete("/gs/dir", true).unwrap());
    assert!(!fresh.delete("/gs/dir", true).unwrap());
    assert_eq!(
        fresh.status("/gs/dir/a.bin").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(names(&fresh, "/gs"), vec![("/gs/v.bin".to_string(), false)]);
}

/// Positioned reads of one open stream run in parallel: four threads missing four different
/// pages are four GETs in flight at once. The server holds every GET until four are there, so
/// reads taken one at a time would never get past one (and would fail, each after the wait).
#[test]
fn positioned_reads_of_one_stream_overlap() {
    const THREADS: usize = 4;
    let server = HttpServer::start();
    let mut c = server.mount_conf("web", "/web", "data");
    c.push(("shoal.cache.page.size".into(), "64k".into()));
    let ns = Namespace::new(&Config::from_pairs(c)).unwrap();
    let data = pattern(1 << 20, 9);
    put_file(&server.root().join("data").join("big.bin"), &data);
    let r = ns.open("/web/big.bin", None).unwrap();
    server.gate_gets(THREADS, std::time::Duration::from_secs(10));
    std::thread::scope(|s| {
        for i in 0..THREADS {
            let (r, data) = (&r, &data);
            s.spawn(move || {
                // Pages 1, 3, 5, 7: none follows another, so no read-ahead joins in.
                let pos = (2 * i + 1) * (64 << 10) + 100;
                let mut buf = vec![0u8; 1000];
                assert_eq!(r.read_at(pos as u64, &mut buf).unwrap(), 1000);
                assert!(buf == data[pos..pos + 1000]);
            });
        }
    });
    assert_eq!(server.peak_gets_in_flight(), THREADS);
    assert_eq!(server.requests("GET"), THREADS);
}

#[test]
fn http_mount_reads_a_web_server_and_refuses_changes() {
    let server = HttpServer::start();
    let conf = Config::from_pairs(server.mount_conf("web", "/web", "data"));
    let ns = Namespace::new(&conf).unwrap();
    let put = |key: &str, data: &[u8]| put_file(&server.root().join("data").join(key), data);
    reads_suite(&ns, "/web", false, &put);

    // Another process on the same cache directory reads from the cache: the server sees no GET.
    let gets = server.requests("GET");
    let second = Namespace::new(&conf).unwrap();
    assert_eq!(read_all(&second, "/web/dir/a.bin"), pattern(5000, 1));
    assert_eq!(server.requests("GET"), gets);
    assert_eq!(counter(&second, "cache_misses"), 0);

    // The mount is read-only whatever its configuration says; nothing reaches the server.
    let mounts: Vec<_> = ns.mount_table().mounts().collect();
    assert!(mounts[0].readonly);
    for (op, e) in [
        ("create", ns.create("/web/new.txt", true).err().unwrap()),
        ("create", ns.create("/web/top.txt", true).err().unwrap()),
        ("mkdirs", ns.mkdirs("/web/d").unwrap_err()),
        ("delete", ns.delete("/web/top.txt", false).unwrap_err()),
        (
            "rename",
            ns.rename("/web/top.txt", "/web/x.txt").unwrap_err(),
        ),
    ] {
        assert_eq!(e.kind(), ErrorKind::ReadOnly, "{e}");
        assert!(e.message().starts_with(&format!("{op} /web/")), "{e}");
        assert!(e.message().contains("read-only"), "{e}");
        assert!(e.message().contains("http"), "{e}");
    }
    for method in ["PUT", "DELETE", "MKCOL", "COPY", "MOVE"] {
        assert_eq!(server.requests(method), 0, "{method} reached the server");
    }
    assert_eq!(read_all(&ns, "/web/top.txt"), b"hello");

    // Listing a directory needs WebDAV: the error names the path and says so.
    let e = ns.list("/web/dir").unwrap_err();
    assert!(e.message().contains("/web/dir"), "{e}");
    assert!(e.message().contains("WebDAV"), "{e}");

    // A file changed on the server is a new version (its ETag changes): never read stale.
    put("top.txt", b"HELLO!");
    let third = Namespace::new(&conf).unwrap();
    assert_eq!(read_all(&third, "/web/top.txt"), b"HELLO!");
}

#[test]
fn the_reads_suite_holds_on_s3_too() {
    // The suite the GCS and HTTP mounts run, against a store that also passes `suite`.
    let (server, ns) = s3_mount();
    let put = |key: &str, data: &[u8]| server.put("bucket", &format!("prefix/{key}"), data);
    reads_suite(&ns, "/s3", true, &put);
}

#[test]
fn s3_mount_on_moto_keeps_directory_markers() {
    let server = MotoServer::start();
    server.create_bucket("bucket");
    let ns = passing_suite(server.mount_conf("s3", "/s3", "bucket/prefix"), "/s3", true);
    // moto lists with ETags, as S3 does: statuses carry the same ETag from both.
    assert!(ns.etags_available("/s3").unwrap());

    // The markers are S3A's: the empty object "dir/", and only for the directory made.
    ns.mkdirs("/s3/m1/m2").unwrap();
    assert!(server.exists("bucket", "prefix/m1/m2/"));
    assert!(!server.exists("bucket", "prefix/m1/"));
    assert!(!server.exists("bucket", "prefix/m1/m2"));
    // A file written beneath a marker leaves it (S3A's "keep"); deleting the tree removes all.
    write(&ns, "/s3/m1/m2/f.bin", b"x");
    assert!(server.exists("bucket", "prefix/m1/m2/"));
    assert!(ns.delete("/s3/m1", true).unwrap());
    assert!(!server.exists("bucket", "prefix/m1/m2/"));
    assert!(!server.exists("bucket", "prefix/m1/m2/f.bin"));
    // Deleting the last thing in a directory leaves a marker that keeps the directory.
    write(&ns, "/s3/k1/k2/f.bin", b"x");
    assert!(ns.delete("/s3/k1/k2/f.bin", false).unwrap());
    assert!(server.exists("bucket", "prefix/k1/k2/"));
    assert!(ns.status("/s3/k1/k2").unwrap().is_dir);

    // Markers written by another client (S3A, the console) are directories; empty files stay
    // files, in listings and in recursive listings alike.
    server.put_empty("bucket", "prefix/ext/");
    server.put_empty("bucket", "prefix/ext/sub/");
    server.put_empty("bucket", "prefix/ext/_SUCCESS");
    assert!(ns.status("/s3/ext/sub").unwrap().is_dir);
    assert_eq!(
        names(&ns, "/s3/ext"),
        vec![
            ("/s3/ext/_SUCCESS".to_string(), false),
            ("/s3/ext/sub".to_string(), true)
        ]
    );
    let walked: Vec<_> = ns
        .walk_files("/s3/ext")
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.len))
        .collect();
    assert_eq!(walked, vec![("/s3/ext/_SUCCESS".to_string(), 0)]);
    assert!(ns.rename("/s3/ext", "/s3/ext2").unwrap());
    assert!(server.exists("bucket", "prefix/ext2/"));
    assert!(server.exists("bucket", "prefix/ext2/sub/"));
    assert!(server.exists("bucket", "prefix/ext2/_SUCCESS"));
    assert!(!server.exists("bucket", "prefix/ext/"));
    assert!(!server.exists("bucket", "prefix/ext/sub/"));
}

#[test]
fn a_listing_answers_the_status_of_what_it_listed() {
    let server = S3Server::start();
    std::fs::create_dir_all(server.root().join("bucket/imgs/cat")).unwrap();
    for i in 0..5 {
        std::fs::write(
            server.root().join(format!("bucket/imgs/cat/{i}.jpg")),
            b"jpeg",
        )
        .unwrap();
    }
    let ns = Namespace::new(&Config::from_pairs(
        server.mount_conf("s3", "/s3", "bucket"),
    ))
    .unwrap();
    let requests = |ns: &Namespace| counter(ns, "store_metadata_requests");
    let listed = ns.list("/s3/imgs/cat").unwrap();
    assert_eq!(listed.len(), 5);
    let after_list = requests(&ns);
    for f in &listed {
        assert_eq!(ns.status(&f.path).unwrap().len, 4);
        ns.open(&f.path, None).unwrap();
    }
    assert_eq!(
        requests(&ns),
        after_list,
        "status after a listing asked the store"
    );
    // A recursive listing does the same.
    let all = ns.walk_files("/s3/imgs").unwrap();
    let after_walk = requests(&ns);
    for f in &all {
        ns.open(&f.path, None).unwrap();
    }
    assert_eq!(requests(&ns), after_walk);
}

#[test]
fn pages_cached_after_a_listing_are_hits_for_a_process_that_opens_by_status() {
    // s3s-fs answers HEAD with an ETag but lists without one: the page version must not
    // depend on where the metadata came from.
    let server = S3Server::start();
    std::fs::create_dir_all(server.root().join("bucket/d")).unwrap();
    let data = pattern(3 << 20, 5);
    std::fs::write(server.root().join("bucket/d/f.bin"), &data).unwrap();
    let conf = Config::from_pairs(server.mount_conf("s3", "/s3", "bucket"));

    let first = Namespace::new(&conf).unwrap();
    let listed = first.list("/s3/d").unwrap();
    assert_eq!(listed.len(), 1);
    let fetched = first
        .load(&listed[0].path, Some(listed[0].clone()))
        .unwrap();
    assert_eq!(fetched, data.len() as u64);

    // Another process (a new namespace on the same cache directory) opens by HEAD.
    let second = Namespace::new(&conf).unwrap();
    let st = second.status("/s3/d/f.bin").unwrap();
    assert_eq!(st.version, listed[0].version);
    let r = second.open("/s3/d/f.bin", None).unwrap();
    assert_eq!(
        second.cached_bytes("/s3/d/f.bin", None).unwrap(),
        data.len() as u64
    );
    let mut out = vec![0u8; data.len()];
    let mut off = 0;
    while off < out.len() {
        off += r.read_at(off as u64, &mut out[off..]).unwrap();
    }
    assert!(out == data);
    assert_eq!(counter(&second, "cache_misses"), 0);

    // An overwrite changes length or mtime, so the version changes with it.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(server.root().join("bucket/d/f.bin"), pattern(1000, 6)).unwrap();
    let third = Namespace::new(&conf).unwrap();
    assert_ne!(third.status("/s3/d/f.bin").unwrap().version, st.version);
    assert_eq!(read_all(&third, "/s3/d/f.bin"), pattern(1000, 6));
}

#[test]
fn wrong_credentials_are_permission_errors_naming_the_path() {
    let server = S3Server::start();
    std::fs::create_dir_all(server.root().join("bucket")).unwrap();
    let mut conf = server.mount_conf("s3", "/s3", "bucket");
    for (k, v) in conf.iter_mut() {
        if k.ends_with("aws_secret_access_key") {
            *v = "wrong-secret".to_string();
        }
    }
    let ns = Namespace::new(&Config::from_pairs(conf)).unwrap();
    let e = ns.status("/s3/file").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.message().contains("/s3/file"), "{e}");
    assert!(!e.message().contains("wrong-secret"), "secret leaked: {e}");
    // A refused listing, and a refused recursive listing, are permission errors too.
    for e in [
        ns.list("/s3/dir").unwrap_err(),
        ns.walk_files("/s3/dir").unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert!(e.message().contains("/s3/dir"), "{e}");
        assert!(!e.message().contains("wrong-secret"), "secret leaked: {e}");
    }
}

/// A refused credential is a permission error, for a status request and for a listing, on
/// every kind of store: Azurite refuses a wrong account key as Azure does (403); GCS and web
/// servers are stood for by a server that answers 401 to everything, since fake-gcs-server
/// checks no credential. S3 (s3s-fs) is the test above.
#[test]
fn refused_credentials_are_permission_errors_on_every_store_kind() {
    let check = |what: &str, ns: &Namespace, m: &str| {
        let e = ns.status(&format!("{m}/d/file")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{what}: {e}");
        let e = ns.list(&format!("{m}/d")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{what}: {e}");
    };

    let azurite = AzuriteServer::start();
    azurite.create_container("refused");
    let mut conf = azurite.mount_conf("az", "/az", "refused");
    for (k, v) in conf.iter_mut() {
        if k.ends_with("azure_storage_account_key") {
            // A well-formed key, not the account's.
            *v = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=".to_string();
        }
    }
    check(
        "azure",
        &Namespace::new(&Config::from_pairs(conf)).unwrap(),
        "/az",
    );

    let refusing = FaultyServer::start(Behaviour::Refuse);
    let cache = tempfile::tempdir().unwrap();
    let cache_dirs = format!("{}:64m", cache.path().display());
    let conf = Config::from_pairs([
        ("shoal.mount.gs.path", "/gs"),
        ("shoal.mount.gs.uri", "gs://bucket"),
        (
            "shoal.mount.gs.option.google_base_url",
            &refusing.endpoint(),
        ),
        (
            "shoal.mount.gs.option.google_bearer_token",
            "a-refused-token",
        ),
        ("shoal.mount.gs.option.allow_http", "true"),
        ("shoal.mount.web.path", "/web"),
        (
            "shoal.mount.web.uri",
            &format!("{}/data", refusing.endpoint()),
        ),
        ("shoal.mount.web.option.allow_http", "true"),
        ("shoal.cache.dirs", &cache_dirs),
    ]);
    let ns = Namespace::new(&conf).unwrap();
    check("gcs", &ns, "/gs");
    check("http", &ns, "/web");
}

#[test]
fn s3a_keys_alone_configure_an_s3a_mount() {
    let server = S3Server::start();
    std::fs::create_dir_all(server.root().join("bucket")).unwrap();
    let conf = server.s3a_conf("s3", "/s3", "bucket/prefix");
    assert!(!conf.iter().any(|(k, _)| k.contains(".option.")));
    let ns = passing_suite(conf.clone(), "/s3", false);
    // What another writer put into the bucket.
    server.put("bucket", "prefix/d/f.bin", &pattern(4000, 3));
    assert_eq!(read_all(&ns, "/s3/d/f.bin"), pattern(4000, 3));

    // Per-bucket keys win over the base ones: a wrong base secret is overridden for this bucket.
    let mut conf2 = conf.clone();
    for (k, v) in conf2.iter_mut() {
        if k == "fs.s3a.secret.key" {
            *v = "base-secret-is-wrong".into();
        }
    }
    conf2.push((
        "fs.s3a.bucket.bucket.secret.key".into(),
        shoal_testkit::SECRET_KEY.into(),
    ));
    let ns = Namespace::new(&Config::from_pairs(conf2.clone())).unwrap();
    assert_eq!(read_all(&ns, "/s3/d/f.bin"), pattern(4000, 3));

    // A per-mount option wins over fs.s3a.*: the mount's wrong credentials are refused.
    conf2.push((
        "shoal.mount.s3.option.aws_access_key_id".into(),
        shoal_testkit::ACCESS_KEY.into(),
    ));
    conf2.push((
        "shoal.mount.s3.option.aws_secret_access_key".into(),
        "mount-secret-is-wrong".into(),
    ));
    let ns = Namespace::new(&Config::from_pairs(conf2)).unwrap();
    let e = ns.status("/s3/d/f.bin").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(!e.message().contains("mount-secret-is-wrong"), "{e}");
}

#[test]
fn an_unreachable_s3a_endpoint_fails_without_showing_secrets() {
    let server = S3Server::start();
    let mut conf = server.s3a_conf("s3", "/s3", "bucket");
    for (k, v) in conf.iter_mut() {
        match k.as_str() {
            // Nothing listens on port 1.
            "fs.s3a.endpoint" => *v = "127.0.0.1:1".into(),
            "fs.s3a.secret.key" => *v = "S3CRET-never-shown".into(),
            _ => {}
        }
    }
    conf.push(("fs.s3a.session.token".into(), "T0KEN-never-shown".into()));
    conf.push(("shoal.store.max.retries".into(), "0".into()));
    let config = Config::from_pairs(conf);
    let ns = Namespace::new(&config).unwrap();
    let e = ns.status("/s3/file").unwrap_err();
    for shown in [
        e.message().to_string(),
        format!("{e:?}"),
        format!("{config:?}"),
        format!("{:?}", config.mounts().unwrap()),
        format!("{ns:?}"),
    ] {
        assert!(!shown.contains("S3CRET"), "secret leaked: {shown}");
        assert!(!shown.contains("T0KEN"), "token leaked: {shown}");
    }
    assert!(e.message().contains("/s3/file"), "{e}");
}

#[test]
fn several_mounts_one_namespace() {
    let server = S3Server::start();
    std::fs::create_dir_all(server.root().join("bucket")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = server.mount_conf("imagenet", "/datasets/imagenet", "bucket");
    conf.push((
        "shoal.mount.scratch.path".into(),
        "/datasets/scratch".into(),
    ));
    conf.push((
        "shoal.mount.scratch.uri".into(),
        format!("file://{}", dir.path().display()),
    ));
    conf.push(("shoal.mount.ro.path".into(), "/ro".into()));
    conf.push((
        "shoal.mount.ro.uri".into(),
        format!("file://{}", dir.path().display()),
    ));
    conf.push(("shoal.mount.ro.readonly".into(), "true".into()));
    let ns = Namespace::new(&Config::from_pairs(conf)).unwrap();

    assert_eq!(
        names(&ns, "/"),
        vec![("/datasets".to_string(), true), ("/ro".to_string(), true)]
    );
    assert_eq!(
        names(&ns, "/datasets"),
        vec![
            ("/datasets/imagenet".to_string(), true),
            ("/datasets/scratch".to_string(), true)
        ]
    );
    assert!(ns.status("/").unwrap().is_dir);
    assert!(ns.status("/datasets").unwrap().is_dir);
    assert_eq!(
        ns.status("/elsewhere").unwrap_err().kind(),
        ErrorKind::NotFound
    );

    write(&ns, "/datasets/scratch/f", b"scratch");
    assert_eq!(read_all(&ns, "/ro/f"), b"scratch");
    std::fs::create_dir_all(server.root().join("bucket/n")).unwrap();
    std::fs::write(server.root().join("bucket/n/img.jpg"), b"jpeg").unwrap();
    // One flat listing over every mount below a path (the read-only mount shares its files).
    assert_eq!(
        walked(&ns, "/"),
        vec![
            "/datasets/imagenet/n/img.jpg",
            "/datasets/scratch/f",
            "/ro/f"
        ]
    );
    assert_eq!(
        walked(&ns, "/datasets"),
        vec!["/datasets/imagenet/n/img.jpg", "/datasets/scratch/f"]
    );
    for e in [
        ns.create("/ro/g", true).err().unwrap(),
        ns.mkdirs("/ro/d").unwrap_err(),
        ns.delete("/ro/f", false).unwrap_err(),
        ns.rename("/ro/f", "/ro/h").unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::ReadOnly, "{e}");
        assert!(e.message().contains("read-only"), "{e}");
    }
    let e = ns
        .rename("/datasets/scratch/f", "/datasets/imagenet/f")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.message().contains("different mounts"), "{e}");
    let e = ns
        .status("/datasets/scratch/../../../etc/passwd")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("escapes mount 'scratch'"), "{e}");
}

#[test]
fn bad_configuration_is_reported_by_key() {
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("shoal.mount.a.path", "/a")], "shoal.mount.a.uri"),
        (
            vec![
                ("shoal.mount.a.path", "/a"),
                ("shoal.mount.a.uri", "ftp://h/x"),
            ],
            "unsupported store scheme 'ftp'",
        ),
        (
            vec![
                ("shoal.mount.a.path", "/a"),
                ("shoal.mount.a.uri", "s3://b/x"),
                ("shoal.mount.a.option.aws_no_such_key", "1"),
            ],
            "shoal.mount.a.option.aws_no_such_key",
        ),
        (
            vec![
                ("shoal.mount.a.path", "relative"),
                ("shoal.mount.a.uri", "file:///tmp"),
            ],
            "shoal.mount.a.path",
        ),
        (
            vec![
                ("shoal.mount.a.path", "/a"),
                ("shoal.mount.a.uri", "not a uri"),
            ],
            "is not a URI",
        ),
    ];
    // Object store URIs without a bucket or container: object_store panicked at the first
    // request ("request must be valid: InvalidUri(Empty)").
    let unnamed = [
        ("s3://", "names no bucket"),
        ("s3:///data", "names no bucket"),
        ("s3a://", "names no bucket"),
        ("gs:///data", "names no bucket"),
        ("az://", "names no container"),
        ("abfs:///data", "names no storage account"),
    ];
    let cases = cases.into_iter().chain(unnamed.iter().map(|(uri, expect)| {
        (
            vec![("shoal.mount.a.path", "/a"), ("shoal.mount.a.uri", *uri)],
            *expect,
        )
    }));
    for (pairs, expect) in cases {
        let e = Namespace::new(&Config::from_pairs(pairs)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.message().contains(expect), "{e} should mention {expect}");
    }
}

// ---- HDFS: Hadoop's MiniDFSCluster on 127.0.0.1, one per test binary --------------------------

mod hdfs {
    use super::*;
    use shoal_testkit::HdfsCluster;

    fn cluster() -> &'static HdfsCluster {
        static REPORTED: std::sync::Once = std::sync::Once::new();
        let c = HdfsCluster::shared();
        REPORTED.call_once(|| eprintln!("MiniDFSCluster ready in {:?}", c.started_in()));
        c
    }

    /// A client acting as the cluster's superuser (the user it runs as), standing for other
    /// writers and for the administrator who sets permissions.
    fn admin(c: &HdfsCluster) -> hdfs_native::Client {
        hdfs_native::ClientBuilder::new()
            .with_url(c.url())
            .with_io_runtime(shoal_core::runtime::handle())
            .build()
            .unwrap()
    }

    fn put(client: &hdfs_native::Client, path: &str, data: &[u8]) {
        let (client, path, data) = (client.clone(), path.to_string(), data.to_vec());
        shoal_core::runtime::block_on(async move {
            let opts = hdfs_native::WriteOptions::default().overwrite(true);
            let mut w = match client.create(&path, opts.clone()).await {
                Ok(w) => w,
                Err(_) => client.create(&path, opts.overwrite(false)).await.unwrap(),
            };
            w.write_bytes(data.into()).await.unwrap();
            w.close().await.unwrap();
        })
        .unwrap();
    }

    fn run<T: Send + 'static>(
        f: impl std::future::Future<Output = hdfs_native::Result<T>> + Send + 'static,
    ) -> T {
        shoal_core::runtime::block_on(f).unwrap().unwrap()
    }

    #[test]
    fn hdfs_mount_on_a_minidfs_cluster() {
        let c = cluster();
        let began = std::time::Instant::now();
        let ns = passing_suite(c.mount_conf("h", "/h", "/suite"), "/h", true);
        assert!(!ns.etags_available("/h").unwrap(), "HDFS has no ETags");

        // Files put there by another writer are listed and read; versions are length + mtime.
        let admin = admin(c);
        put(&admin, "/suite/external/x/obj.bin", &pattern(3000, 7));
        assert_eq!(
            names(&ns, "/h/external"),
            vec![("/h/external/x".to_string(), true)]
        );
        assert_eq!(read_all(&ns, "/h/external/x/obj.bin"), pattern(3000, 7));
        let a = admin.clone();
        let st = run(async move { a.get_file_info("/suite/external/x/obj.bin").await });
        assert_eq!(
            ns.status("/h/external/x/obj.bin").unwrap().version.unwrap(),
            format!("lm:3000:{}", st.modification_time)
        );

        // Unfinished writes are never listed, and leave nothing when aborted.
        let mut w = ns.create("/h/pending.bin", true).unwrap();
        w.write(b"x").unwrap();
        assert!(!names(&ns, "/h").iter().any(|(p, _)| p.contains("pending")));
        w.close().unwrap();
        assert_eq!(read_all(&ns, "/h/pending.bin"), b"x");
        let a = admin.clone();
        let raw = run(async move { a.list_status("/suite", false).await });
        assert!(
            !raw.iter().any(|s| s.path.contains(".shoal-tmp-")),
            "{raw:?}"
        );

        // A file of several HDFS blocks (the cluster's block size is 1 MiB), written in
        // several client chunks, reads back intact.
        let big = pattern((3 << 20) + 12345, 9);
        write(&ns, "/h/big.bin", &big);
        assert_eq!(ns.status("/h/big.bin").unwrap().len, big.len() as u64);
        assert_eq!(read_all(&ns, "/h/big.bin"), big);
        let a = admin.clone();
        let st = run(async move { a.get_file_info("/suite/big.bin").await });
        assert_eq!(st.length, big.len());

        // A mount over the HDFS root works too.
        let ns = Namespace::new(&Config::from_pairs(c.mount_conf("r", "/r", ""))).unwrap();
        assert!(names(&ns, "/r").contains(&("/r/suite".to_string(), true)));
        assert_eq!(read_all(&ns, "/r/suite/pending.bin"), b"x");
        eprintln!("HDFS suite took {:?}", began.elapsed());
    }

    #[test]
    fn hdfs_pages_come_from_the_cache_the_second_time() {
        let c = cluster();
        let admin = admin(c);
        let data = pattern(700_000, 3);
        put(&admin, "/cached/d/f.bin", &data);
        let cache = tempfile::tempdir().unwrap();
        let mut conf = c.mount_conf("h", "/h", "/cached");
        conf.retain(|(k, _)| k != "shoal.cache.dirs");
        conf.push((
            "shoal.cache.dirs".into(),
            format!("{}:256m", cache.path().display()),
        ));
        conf.push(("shoal.cache.page.size".into(), "64k".into()));
        let conf = Config::from_pairs(conf);

        let first = Namespace::new(&conf).unwrap();
        assert_eq!(read_all(&first, "/h/d/f.bin"), data);
        assert!(counter(&first, "store_get_requests") >= 11, "11 pages");
        assert_eq!(counter(&first, "bytes_from_store"), data.len() as u64);

        // Another process on the same node (a new namespace on the same cache directory).
        let second = Namespace::new(&conf).unwrap();
        assert_eq!(read_all(&second, "/h/d/f.bin"), data);
        assert_eq!(counter(&second, "store_get_requests"), 0);
        assert_eq!(counter(&second, "cache_misses"), 0);
        assert_eq!(counter(&second, "bytes_from_store"), 0);

        // Overwritten in HDFS: a new version, so nothing stale is served.
        put(&admin, "/cached/d/f.bin", &pattern(1000, 4));
        let third = Namespace::new(&conf).unwrap();
        assert_eq!(read_all(&third, "/h/d/f.bin"), pattern(1000, 4));
        assert!(counter(&third, "store_get_requests") >= 1);
    }

    #[test]
    fn hdfs_errors_keep_their_kind_and_name_the_path() {
        let c = cluster();
        let admin = admin(c);
        // The superuser makes a private directory and a read-only one.
        put(&admin, "/perm/locked/secret.bin", b"secret");
        put(&admin, "/perm/ro/f.bin", b"read me");
        let a = admin.clone();
        run(async move {
            a.set_permission("/perm/locked", 0o700).await?;
            a.set_permission("/perm/ro", 0o555).await
        });

        let mut conf = c.mount_conf("h", "/h", "/perm");
        conf.push(("shoal.mount.h.option.user".into(), "alice".into()));
        let ns = Namespace::new(&Config::from_pairs(conf)).unwrap();

        let e = ns.status("/h/missing.bin").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert!(e.message().contains("/h/missing.bin"), "{e}");

        let e = ns.status("/h/locked/secret.bin").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert!(e.message().contains("/h/locked/secret.bin"), "{e}");
        let e = ns.list("/h/locked").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert!(e.message().contains("/h/locked"), "{e}");

        // Readable, not writable.
        assert_eq!(read_all(&ns, "/h/ro/f.bin"), b"read me");
        let e = ns.create("/h/ro/new.bin", true).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert!(e.message().contains("/h/ro/new.bin"), "{e}");
        let e = ns.delete("/h/ro/f.bin", false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        let e = ns.mkdirs("/h/ro/sub").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        let e = ns.rename("/h/ro/f.bin", "/h/moved.bin").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert_eq!(read_all(&ns, "/h/ro/f.bin"), b"read me");

        // The superuser (the default user here) may.
        let ns = Namespace::new(&Config::from_pairs(c.mount_conf("h", "/h", "/perm"))).unwrap();
        assert_eq!(read_all(&ns, "/h/locked/secret.bin"), b"secret");
    }

    #[test]
    fn hdfs_configuration_and_connection_errors() {
        let e = Namespace::new(&Config::from_pairs([
            ("shoal.mount.h.path", "/h"),
            ("shoal.mount.h.uri", "hdfs://127.0.0.1:1/x"),
            ("shoal.mount.h.option.aws_region", "x"),
        ]))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(
            e.message().contains("shoal.mount.h.option.aws_region"),
            "{e}"
        );

        let e = Namespace::new(&Config::from_pairs([
            ("shoal.mount.h.path", "/h"),
            ("shoal.mount.h.uri", "hdfs:///no/namenode"),
        ]))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");

        // Nothing listens on port 1: an error naming the path, after as many tries as
        // shoal.store.max.retries allows (pauses of about 1 s and 2 s for 2; none for 0).
        let began = std::time::Instant::now();
        let ns = Namespace::new(&Config::from_pairs([
            ("shoal.mount.h.path", "/h"),
            ("shoal.mount.h.uri", "hdfs://127.0.0.1:1/x"),
            ("shoal.store.max.retries", "2"),
        ]))
        .unwrap();
        let e = ns.status("/h/f").unwrap_err();
        assert!(e.message().contains("/h/f"), "{e}");
        assert!(e.message().contains("hdfs://127.0.0.1:1/x"), "{e}");
        let took = began.elapsed();
        assert!(
            took >= std::time::Duration::from_secs(1) && took < std::time::Duration::from_secs(30),
            "{took:?}"
        );
    }
}

//! The `shoal` command, run as a user runs it, against a real S3 server on 127.0.0.1.

use std::path::Path;
use std::process::{Command, Output};

use shoal_testkit::S3Server;

struct Env {
    server: S3Server,
    conf: tempfile::NamedTempFile,
}

/// An S3 mount at /data over bucket `b`, written as a Hadoop XML file.
fn setup() -> Env {
    let server = S3Server::start();
    let dir = server.root().join("shoalbkt/ds/train/cat");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("1.jpg"), vec![1u8; 300_000]).unwrap();
    std::fs::write(dir.join("2.jpg"), vec![2u8; 1000]).unwrap();
    std::fs::write(
        server.root().join("shoalbkt/ds/readme.txt"),
        b"hello shoal\n",
    )
    .unwrap();
    let mut keys = server.mount_conf("data", "/data", "shoalbkt/ds");
    keys.push(("shoal.cache.page.size".into(), "64k".into()));
    let conf = hadoop_xml(&keys);
    Env { server, conf }
}

/// A Hadoop XML configuration file of these keys.
fn hadoop_xml(keys: &[(String, String)]) -> tempfile::NamedTempFile {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<configuration>\n");
    for (k, v) in keys {
        xml.push_str(&format!(
            "  <property><name>{k}</name><value>{v}</value></property>\n"
        ));
    }
    xml.push_str("</configuration>\n");
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf.path(), xml).unwrap();
    conf
}

fn shoal(conf: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg("--conf")
        .arg(conf)
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    shoal_testkit::assert_success(o);
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn fails(o: &Output, code: i32, message: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(
        err.contains(message),
        "stderr should mention {message:?}: {err}"
    );
}

/// A core-site.xml as a cluster set up for S3A has it: the store's address and credentials in
/// `fs.s3a.*` keys, the mount naming only its path and `s3a://` URI.
#[test]
fn s3a_keys_in_core_site_configure_the_mount() {
    let server = S3Server::start();
    let dir = server.root().join("shoalbkt/ds");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("readme.txt"), b"hello shoal\n").unwrap();
    let conf = hadoop_xml(&server.s3a_conf("data", "/data", "shoalbkt/ds"));
    assert!(!std::fs::read_to_string(conf.path())
        .unwrap()
        .contains(".option."));
    assert_eq!(
        ok(&shoal(conf.path(), &["cat", "/data/readme.txt"])),
        "hello shoal\n"
    );
    let out = ok(&shoal(conf.path(), &["mounts"]));
    assert!(
        !out.contains(shoal_testkit::SECRET_KEY),
        "secret printed: {out}"
    );
}

#[test]
fn mounts_ls_stat_cat() {
    let e = setup();
    let out = ok(&shoal(e.conf.path(), &["mounts"]));
    assert!(
        out.contains("data") && out.contains("/data") && out.contains("s3://shoalbkt/ds"),
        "{out}"
    );
    assert!(
        !out.contains(shoal_testkit::SECRET_KEY),
        "secret printed: {out}"
    );

    let out = ok(&shoal(e.conf.path(), &["ls", "shoal:///data"]));
    assert!(out.contains("d ") && out.contains("/data/train"), "{out}");
    assert!(
        out.contains("/data/readme.txt") && out.contains("12 "),
        "{out}"
    );
    let out = ok(&shoal(e.conf.path(), &["ls", "-R", "/data"]));
    assert!(
        out.contains("/data/train/cat/1.jpg") && out.contains("300000"),
        "{out}"
    );
    let out = ok(&shoal(e.conf.path(), &["ls", "/"]));
    assert!(out.contains("/data"), "{out}");

    let out = ok(&shoal(
        e.conf.path(),
        &["stat", "alluxio://master:19998/data/train/cat/1.jpg"],
    ));
    assert!(
        out.contains("type:      file") && out.contains("length:    300000"),
        "{out}"
    );
    assert!(out.contains("0.0% on this node"), "{out}");

    let out = shoal(e.conf.path(), &["cat", "/data/readme.txt"]);
    assert_eq!(ok(&out), "hello shoal\n");
}

#[test]
fn load_then_stat_then_free() {
    let e = setup();
    let out = ok(&shoal(e.conf.path(), &["load", "/data/train"]));
    assert!(out.contains("loaded 2 files"), "{out}");
    assert!(out.contains("0 failed"), "{out}");
    let out = ok(&shoal(e.conf.path(), &["stat", "/data/train"]));
    assert!(
        out.contains("files:     2") && out.contains("100.0% on this node"),
        "{out}"
    );
    // A second load fetches nothing.
    let out = ok(&shoal(e.conf.path(), &["load", "/data/train"]));
    assert!(out.contains("0 B fetched"), "{out}");
    assert!(out.contains("store requests: 0"), "{out}");
    let out = ok(&shoal(e.conf.path(), &["cache", "stats"]));
    assert!(out.contains("ok") && out.contains("FILES"), "{out}");
    let out = ok(&shoal(e.conf.path(), &["cache", "verify"]));
    assert!(out.contains("checked 6 pages, 0 corrupt"), "{out}");

    let out = ok(&shoal(e.conf.path(), &["free", "/data/train/cat"]));
    assert!(out.contains("freed 2 files"), "{out}");
    let out = ok(&shoal(e.conf.path(), &["stat", "/data/train"]));
    assert!(out.contains("0.0% on this node"), "{out}");
    // The store still has the data.
    assert!(e.server.root().join("shoalbkt/ds/train/cat/1.jpg").exists());
}

/// A small Parquet file: one binary column, `rows` values of 20 KB, one row group.
fn parquet_file(rows: usize) -> Vec<u8> {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use std::sync::Arc;
    let schema = parquet::schema::parser::parse_message_type("message m { required binary b; }");
    let props = parquet::file::properties::WriterProperties::builder().build();
    let mut out = Vec::new();
    let mut w = parquet::file::writer::SerializedFileWriter::new(
        &mut out,
        Arc::new(schema.unwrap()),
        Arc::new(props),
    )
    .unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut col = rg.next_column().unwrap().unwrap();
    let values: Vec<ByteArray> = (0..rows)
        .map(|r| ByteArray::from((0..20_000).map(|i| (i * 7 + r) as u8).collect::<Vec<u8>>()))
        .collect();
    col.typed::<ByteArrayType>()
        .write_batch(&values, None, None)
        .unwrap();
    col.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();
    out
}

#[test]
fn load_footers_reads_only_the_footers() {
    let e = setup();
    let dir = e.server.root().join("shoalbkt/ds/pq");
    std::fs::create_dir_all(&dir).unwrap();
    let file = parquet_file(40);
    assert!(file.len() > 700_000);
    std::fs::write(dir.join("part-0.parquet"), &file).unwrap();
    std::fs::write(dir.join("part-1.parquet"), &file).unwrap();
    std::fs::write(dir.join("notes.parquet"), vec![5u8; 200_000]).unwrap();
    let out = ok(&shoal(e.conf.path(), &["load", "--footers", "/data/pq"]));
    assert!(out.contains("read the footers of 3 files"), "{out}");
    assert!(out.contains("2 Parquet footers parsed"), "{out}");
    assert!(out.contains("0 failed"), "{out}");
    // The footers' pages only: a few pages of 64 KiB of each file, not the files.
    let out = ok(&shoal(e.conf.path(), &["stat", "/data/pq"]));
    let pct: f64 = out
        .split_whitespace()
        .find_map(|w| w.strip_suffix('%').and_then(|p| p.parse().ok()))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(pct > 0.0 && pct < 25.0, "{out}");
    // A second time, nothing is fetched.
    let out = ok(&shoal(e.conf.path(), &["load", "--footers", "/data/pq"]));
    assert!(out.contains("0 B fetched"), "{out}");
}

#[test]
fn verify_finds_and_removes_corrupt_pages() {
    let e = setup();
    ok(&shoal(e.conf.path(), &["load", "/data/readme.txt"]));
    let cache_dir = ok(&shoal(e.conf.path(), &["cache", "stats"]));
    let dir = cache_dir
        .lines()
        .find(|l| l.contains("/v2"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let page = walk(Path::new(&dir))
        .into_iter()
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.contains('_') || name.starts_with("pack-")
        })
        .unwrap();
    let mut bytes = std::fs::read(&page).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(&page, bytes).unwrap();
    let o = shoal(e.conf.path(), &["cache", "verify"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 corrupt"));
    let out =
        String::from_utf8_lossy(&shoal(e.conf.path(), &["cache", "verify", "--remove"]).stdout)
            .to_string();
    assert!(out.contains("(removed)"), "{out}");
    ok(&shoal(e.conf.path(), &["cache", "verify"]));
    assert!(!page.exists());
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn errors_exit_non_zero_with_clear_messages() {
    let e = setup();
    for (args, code, message) in [
        (&["stat", "/data/nope"][..], 1, "no such file or directory"),
        (&["cat", "/elsewhere/x"], 1, "in no mount"),
        (&["cat", "/data/train"], 1, "is a directory"),
        (&["ls", "s3://shoalbkt/ds"], 1, "is not a Shoal path"),
        (&["stat", "/data/../../etc"], 1, "escapes mount 'data'"),
        (&["frobnicate"], 2, "unrecognized subcommand"),
        (
            &["-D", "shoal.cache.page.size=huge", "mounts"],
            1,
            "shoal.cache.page.size",
        ),
    ] {
        fails(&shoal(e.conf.path(), args), code, message);
    }
    fails(
        &shoal(Path::new("/nonexistent.xml"), &["mounts"]),
        1,
        "cannot read configuration file",
    );
    // A bad key in a properties file (the -D override is above).
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "shoal.mount.x.path=/x\n").unwrap();
    fails(&shoal(bad.path(), &["mounts"]), 1, "shoal.mount.x.uri");
    let empty = tempfile::NamedTempFile::new().unwrap();
    fails(
        &shoal(empty.path(), &["mounts"]),
        1,
        "no mounts are configured",
    );
    // A store that refuses our credentials.
    let out = shoal(
        e.conf.path(),
        &[
            "-D",
            "shoal.mount.data.option.aws_secret_access_key=wrong",
            "-D",
            "shoal.store.max.retries=0",
            "ls",
            "/data",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("wrong"));
}

/// `shoal cat big | head`: the reader takes a few bytes and goes away. The command ends
/// quietly with 141, the status of a command that SIGPIPE ended (as `cat` does), not with an
/// error message; and where stderr is gone too (`2>&1 | head`) it does not panic (101).
#[test]
fn a_reader_that_goes_away_ends_cat_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let env = setup();
    // 4 MiB: far more than a pipe holds, so the command is still writing when the reader goes
    let big: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(env.server.root().join("shoalbkt/ds/big.bin"), &big).unwrap();
    for stderr_gone in [false, true] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .arg("--conf")
            .arg(env.conf.path())
            .args(["cat", "/data/big.bin"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut head = [0u8; 100];
        stdout.read_exact(&mut head).unwrap();
        assert_eq!(head[..], big[..100]);
        if stderr_gone {
            drop(child.stderr.take());
        }
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(141),
            "stderr gone: {stderr_gone}: {stderr}"
        );
        assert!(stderr.is_empty(), "{stderr}");
    }
}

/// Ctrl-C during `shoal load` against a slow store (s3s-fs behind a proxy that holds each
/// object GET for a second): no new GET starts, the ones in flight end, the command says how
/// many files it left and exits 130; a second load fetches only those.
#[test]
fn an_interrupted_load_stops_fetching_and_a_second_load_finishes() {
    use std::time::{Duration, Instant};
    let server = S3Server::start();
    let proxy = shoal_testkit::CountingProxy::start(&server.endpoint());
    for i in 0..40 {
        server.put("bucket", &format!("data/f{i:02}"), &[i as u8; 10_000]);
    }
    let cache = tempfile::tempdir().unwrap();
    let endpoint = proxy.endpoint();
    let keys = server.cache_test_conf(
        cache.path(),
        &[
            ("shoal.mount.s3.option.aws_endpoint", endpoint.as_str()),
            ("shoal.load.parallel", "4"),
        ],
    );
    let conf = hadoop_xml(&keys);
    let gets = || proxy.count("GET", "/bucket/data/");
    // 40 GETs of a second each, 4 at a time, would take 10 s.
    proxy.delay_gets(Duration::from_secs(1));
    let child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg("--conf")
        .arg(conf.path())
        .args(["load", "/s3/data"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while gets() < 4 {
        assert!(Instant::now() < until, "the load sent no GET");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let at_signal = gets();
    let sent = Instant::now();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "took {:?} to stop",
        sent.elapsed()
    );
    let left = cancelled_count(&stdout);
    assert!(left > 0 && left < 40, "{stdout}\n{stderr}");
    // At most the GETs the 4 fetchers were starting as the signal came began after it.
    let after = gets();
    assert!(
        after <= at_signal + 4,
        "{at_signal} GETs at the signal, {after} after"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(gets(), after, "a GET started after the load ended");

    proxy.delay_gets(Duration::ZERO);
    let out = ok(&shoal(conf.path(), &["load", "/s3/data"]));
    assert!(
        out.contains("0 failed") && !out.contains("cancelled"),
        "{out}"
    );
    // Each file was fetched once over both loads: the second fetched only what the first left.
    assert_eq!(gets(), 40, "{out}");
}

/// The N of "cancelled: N files not loaded".
fn cancelled_count(stdout: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("cancelled: "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

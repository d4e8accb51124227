//! The fault suite, inputs and stores half: the real `shoal` command against real servers on
//! 127.0.0.1 (s3s-fs, a static HTTP server, and stores that accept connections and never
//! answer, or answer half a response) and real directories, fed hostile input. For every case:
//! a clear error naming what was wrong (or the exact bytes), an exit status the README names
//! (0, 1 or 2; never a signal), no secret in stdout or stderr, and a bounded time. Every run of
//! the command is killed, and the test failed, if it takes longer than `LIMIT`.
//!
//! The page cache half of the suite is `faults_cache.rs`.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shoal_testkit::{Behaviour, FaultyServer, HttpServer, S3Server};

/// No run of the command may take longer than this.
const LIMIT: Duration = Duration::from_secs(30);
/// `shoal.store.timeout` in the hung-store cases.
const STORE_TIMEOUT_S: u64 = 2;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?} after {:?}\nstdout: {}\nstderr: {}",
            self.code, self.took, self.stdout, self.stderr
        )
    }
}

/// `-D key=value` for each pair, then `rest`.
fn command_line(conf: &[(String, String)], rest: &[&OsStr]) -> Vec<OsString> {
    let mut all: Vec<OsString> = Vec::new();
    for (k, v) in conf {
        all.push("-D".into());
        all.push(format!("{k}={v}").into());
    }
    all.extend(rest.iter().map(|a| a.to_os_string()));
    all
}

/// Runs `shoal` with `args` (and `env`), killing it after `LIMIT`.
fn shoal_env(args: &[OsString], env: &[(&str, &[u8])]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shoal"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("SHOAL_CONF")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    for (k, v) in env {
        cmd.env(k, OsStr::from_bytes(v));
    }
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("shoal {args:?} ran for more than {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    let read = |p: &Path| {
        let mut s = Vec::new();
        std::fs::File::open(p).unwrap().read_to_end(&mut s).unwrap();
        String::from_utf8_lossy(&s).into_owned()
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        None,
        "shoal {args:?} was killed by a signal\nstderr: {}",
        read(&err)
    );
    let run = Run {
        code: status.code(),
        stdout: read(&out),
        stderr: read(&err),
        took,
    };
    for needle in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!run.stderr.contains(needle), "shoal {args:?}: {run:?}");
    }
    run
}

fn shoal(args: &[&str]) -> Run {
    with(&[], args)
}

/// `shoal -D key=value… args…` with `env`.
fn with_env(conf: &[(String, String)], args: &[&str], env: &[(&str, &[u8])]) -> Run {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    shoal_env(&command_line(conf, &args), env)
}

/// `shoal -D key=value… args…`.
fn with(conf: &[(String, String)], args: &[&str]) -> Run {
    with_env(conf, args, &[])
}

/// Asserts the exit status and that stderr names each of `needles`.
fn fails(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(run.code, Some(code), "{run:?}");
    for n in needles {
        assert!(run.stderr.contains(n), "stderr should name {n:?}: {run:?}");
    }
}

fn ok(run: &Run) -> &str {
    assert_eq!(run.code, Some(0), "{run:?}");
    &run.stdout
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A `file://` mount at /local over a new directory, with a private cache directory.
struct Local {
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
}

impl Local {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hello.txt"), b"hello, shoal\n").unwrap();
        Local {
            dir,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn conf(&self) -> Vec<(String, String)> {
        pairs(&[
            ("shoal.mount.local.path", "/local"),
            (
                "shoal.mount.local.uri",
                &format!("file://{}", self.dir.path().display()),
            ),
            ("shoal.mount.local.cache", "true"),
            (
                "shoal.cache.dirs",
                &format!("{}:64m", self.cache.path().display()),
            ),
        ])
    }

    fn run(&self, extra: &[(&str, &str)], args: &[&str]) -> Run {
        let mut conf = self.conf();
        conf.extend(pairs(extra));
        with(&conf, args)
    }
}

// ---- paths and URIs ---------------------------------------------------------------------------

/// A file whose name is not UTF-8 cannot be a Shoal path: the listing leaves it out and says
/// so (it used to leave it out silently), and the other files are listed and loaded.
#[test]
fn a_name_that_is_not_utf8_is_left_out_with_a_warning() {
    use std::os::unix::ffi::OsStrExt;
    let l = Local::new();
    std::fs::write(l.dir.path().join(OsStr::from_bytes(b"bad-\xff.bin")), b"x").unwrap();
    let r = l.run(&[], &["ls", "/local"]);
    assert!(ok(&r).contains("/local/hello.txt"), "{r:?}");
    assert!(
        r.stderr
            .contains("left out of the listing: its name is not UTF-8")
            && r.stderr.contains("bad-\u{fffd}.bin"),
        "{r:?}"
    );
    let r = l.run(&[], &["load", "/local"]);
    assert!(ok(&r).contains("loaded 1 files"), "{r:?}");
}

#[test]
fn malformed_and_escaping_paths_are_refused() {
    let l = Local::new();
    let r = l.run(&[], &["ls", "s3://bucket/key"]);
    fails(&r, 1, &["'s3://bucket/key' is not a Shoal path"]);
    fails(
        &l.run(&[], &["cat", "local/hello.txt"]),
        1,
        &["is not a Shoal path"],
    );
    fails(
        &l.run(&[], &["cat", "/nowhere/x"]),
        1,
        &["/nowhere/x", "in no mount"],
    );
    fails(
        &l.run(&[], &["stat", "shoal:///local/../../etc/passwd"]),
        1,
        &["escapes mount 'local'"],
    );
    fails(
        &l.run(&[], &["cat", "/local/a/../../../etc/passwd"]),
        1,
        &["escapes mount 'local'"],
    );
    // Percent-encoded dots are names, not `..`: nothing outside the mount is reached.
    let r = l.run(&[], &["cat", "/local/%2e%2e/%2e%2e/etc/passwd"]);
    fails(&r, 1, &["no such file"]);
    assert!(!r.stdout.contains("root:"), "{r:?}");
    let r = l.run(
        &[],
        &["cat", "alluxio://host:19998/local/%2E%2E%2Fetc%2Fpasswd"],
    );
    fails(&r, 1, &["no such file"]);
    // A directory, and the root, cannot be read as files.
    fails(&l.run(&[], &["cat", "/local"]), 1, &["is a directory"]);
    fails(&l.run(&[], &["cat", "/"]), 1, &["/"]);
    // Arguments that are not UTF-8 are bad usage.
    let args = command_line(
        &l.conf(),
        &[OsStr::new("cat"), OsStr::from_bytes(b"/local/\xff\xfe")],
    );
    let r = shoal_env(&args, &[]);
    fails(&r, 2, &["UTF-8"]);
}

#[test]
fn offsets_and_lengths_of_cat() {
    let l = Local::new();
    let cat = |extra: &[&str]| {
        let mut args = vec!["cat"];
        args.extend_from_slice(extra);
        args.push("/local/hello.txt");
        l.run(&[], &args)
    };
    assert_eq!(ok(&cat(&[])), "hello, shoal\n");
    assert_eq!(ok(&cat(&["--offset", "7", "--length", "5"])), "shoal");
    assert_eq!(ok(&cat(&["--offset", "7"])), "shoal\n");
    assert_eq!(ok(&cat(&["--length", "0"])), "");
    // Past the end: nothing, like dd.
    assert_eq!(ok(&cat(&["--offset", "13"])), "");
    assert_eq!(ok(&cat(&["--offset", "1p"])), "");
    assert_eq!(
        ok(&cat(&["--offset", "9223372036854775807", "--length", "8p"])),
        ""
    );
    assert_eq!(ok(&cat(&["--length", "8191p"])), "hello, shoal\n");
    // Not offsets: bad usage, naming the option and why.
    fails(
        &cat(&["--offset", "-5"]),
        2,
        &["--offset", "'-5' is not a size"],
    );
    fails(&cat(&["--length", "-1"]), 2, &["--length", "is not a size"]);
    fails(
        &cat(&["--offset", "99999999999999999999999"]),
        2,
        &["--offset", "too large"],
    );
    fails(&cat(&["--offset", "1.5x"]), 2, &["unknown unit"]);
}

// ---- configuration values -----------------------------------------------------------------------

#[test]
fn hostile_configuration_values_are_errors_naming_the_key() {
    let l = Local::new();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "shoal.metadata.ttl",
            "1e20",
            &["shoal.metadata.ttl", "not a duration"],
        ),
        (
            "shoal.metadata.ttl",
            "99999999999999999999h",
            &["shoal.metadata.ttl", "too long"],
        ),
        (
            "shoal.metadata.ttl",
            "400d",
            &["shoal.metadata.ttl", "between 0ms and 365d"],
        ),
        (
            "shoal.metadata.negative.ttl",
            "-1s",
            &["shoal.metadata.negative.ttl"],
        ),
        ("shoal.metadata.ttl", "NaN", &["shoal.metadata.ttl"]),
        ("shoal.metadata.ttl", "inf", &["shoal.metadata.ttl"]),
        (
            "shoal.runtime.threads",
            "20000",
            &["shoal.runtime.threads", "between 1 and 256", "'20000'"],
        ),
        ("shoal.runtime.threads", "0", &["shoal.runtime.threads"]),
        ("shoal.runtime.threads", "1.5", &["shoal.runtime.threads"]),
        ("shoal.runtime.threads", "-3", &["shoal.runtime.threads"]),
        (
            "shoal.runtime.threads",
            "99999999999999999999999",
            &["shoal.runtime.threads"],
        ),
        (
            "shoal.cache.memory.size",
            "99999999999999999999p",
            &["shoal.cache.memory.size", "too large"],
        ),
        (
            "shoal.cache.memory.size",
            "-1",
            &["shoal.cache.memory.size"],
        ),
        (
            "shoal.cache.page.size",
            "1g",
            &["shoal.cache.page.size", "between 4k and 64m"],
        ),
        (
            "shoal.cache.readahead.pages",
            "1e9",
            &["shoal.cache.readahead.pages"],
        ),
        (
            "shoal.metadata.max.entries",
            "0",
            &["shoal.metadata.max.entries"],
        ),
        (
            "shoal.store.timeout",
            "0",
            &["shoal.store.timeout", "between 1ms and 1d"],
        ),
        (
            "shoal.store.max.retries",
            "1000",
            &["shoal.store.max.retries"],
        ),
        (
            "shoal.store.retry.timeout",
            "forever",
            &["shoal.store.retry.timeout"],
        ),
        (
            "shoal.cache.enabled",
            "yes",
            &["shoal.cache.enabled", "true or false"],
        ),
        ("shoal.read.buffer.size", "3g", &["shoal.read.buffer.size"]),
        ("shoal.block.size", "0", &["shoal.block.size"]),
        (
            "shoal.mount.local.readonly",
            "maybe",
            &["shoal.mount.local.readonly"],
        ),
        (
            "shoal.mount.local.write",
            "sideways",
            &["shoal.mount.local.write"],
        ),
        (
            "shoal.mount.local.pth",
            "/x",
            &["shoal.mount.local.pth", "shoal.mount.local.path"],
        ),
        (
            "shoal.mount.local.path",
            "relative",
            &["shoal.mount.local.path", "absolute"],
        ),
        (
            "shoal.mount.other.uri",
            "file:///tmp",
            &["mount 'other'", "shoal.mount.other.path"],
        ),
        (
            "shoal.mount.other.path",
            "/other",
            &["shoal.mount.other.uri"],
        ),
    ];
    for (key, value, needles) in cases {
        let r = l.run(&[(key, value)], &["ls", "/local"]);
        fails(&r, 1, needles);
    }
    // Empty and blank values mean unset; whitespace around a value is ignored.
    for value in ["", "   ", " 30s ", "\t1m\t"] {
        let r = l.run(&[("shoal.metadata.ttl", value)], &["ls", "/local"]);
        assert!(ok(&r).contains("/local/hello.txt"), "{value:?}: {r:?}");
    }
    assert!(ok(&l.run(&[("shoal.runtime.threads", " 3 ")], &["ls", "/local"])).contains("hello"));
    assert!(
        ok(&l.run(&[("shoal.cache.memory.size", "1.5m")], &["ls", "/local"])).contains("hello")
    );
}

/// Values with control characters and bytes that are not UTF-8, from flags, files and the
/// environment: errors naming the key, never the value, never a panic.
#[test]
fn control_characters_and_bad_encodings() {
    let l = Local::new();
    let r = l.run(&[("shoal.metadata.ttl", "30\u{1}s")], &["ls", "/local"]);
    fails(&r, 1, &["shoal.metadata.ttl"]);
    let r = l.run(&[("shoal.cluster.hosts", "a\u{1b}b")], &["ls", "/local"]);
    fails(&r, 1, &["shoal.cluster.hosts", "control character"]);
    let r = l.run(&[("shoal.mount.local.path", "/lo\u{1}cal")], &["ls", "/"]);
    fails(&r, 1, &["shoal.mount.local.path", "control character"]);
    // NUL bytes (which no command line can carry) in a properties file.
    let file = tempfile::NamedTempFile::new().unwrap();
    let conf = file.path().to_str().unwrap();
    for (line, key) in [
        (&b"shoal.metadata.ttl=3\x000s\n"[..], "shoal.metadata.ttl"),
        (b"shoal.cluster.hosts=a\x00b\n", "shoal.cluster.hosts"),
        (
            b"shoal.mount.local.option.x=a\x00b\n",
            "shoal.mount.local.option.x",
        ),
        (b"shoal.cache.dirs=/tmp/a\x00b:1g\n", "shoal.cache.dirs"),
    ] {
        let mut text = Vec::new();
        for (k, v) in l.conf() {
            if line.starts_with(k.as_bytes()) {
                continue;
            }
            text.extend_from_slice(format!("{k}={v}\n").as_bytes());
        }
        text.extend_from_slice(line);
        std::fs::write(file.path(), &text).unwrap();
        fails(&shoal(&["--conf", conf, "ls", "/local"]), 1, &[key]);
    }
    // A configuration file that is not UTF-8.
    std::fs::write(file.path(), b"shoal.mount.local.path=/l\xff\n").unwrap();
    fails(
        &shoal(&["--conf", conf, "mounts"]),
        1,
        &["cannot read configuration file", "UTF-8"],
    );

    // S3 credentials with control characters, from a mount option, fs.s3a.* and the
    // environment: the client used to panic on them.
    let s3 = |extra: &[(&str, &str)], env: &[(&str, &[u8])]| {
        let mut conf = pairs(&[
            ("shoal.mount.s.path", "/s"),
            ("shoal.mount.s.uri", "s3://bucket/p"),
            ("shoal.mount.s.option.aws_endpoint", "http://127.0.0.1:9"),
            ("shoal.mount.s.option.aws_allow_http", "true"),
            ("shoal.mount.s.option.aws_region", "us-east-1"),
            ("shoal.store.max.retries", "0"),
        ]);
        conf.extend(pairs(extra));
        conf.extend(pairs(&[(
            "shoal.cache.dirs",
            &format!("{}:64m", l.cache.path().display()),
        )]));
        with_env(&conf, &["stat", "/s/x"], env)
    };
    let secret = "SeSsIoN\u{1}ToKeN";
    let r = s3(
        &[
            ("shoal.mount.s.option.aws_access_key_id", "AKIAEXAMPLE"),
            ("shoal.mount.s.option.aws_secret_access_key", "sEcReTkEy"),
            ("shoal.mount.s.option.aws_session_token", secret),
        ],
        &[],
    );
    fails(
        &r,
        1,
        &[
            "shoal.mount.s.option.aws_session_token",
            "control character",
        ],
    );
    assert!(
        !r.all().contains("SeSsIoN") && !r.all().contains("sEcReTkEy"),
        "{r:?}"
    );
    let r = s3(
        &[
            ("fs.s3a.access.key", "AKIAEXAMPLE"),
            ("fs.s3a.secret.key", "sEcReTkEy"),
            ("fs.s3a.session.token", secret),
        ],
        &[],
    );
    fails(&r, 1, &["fs.s3a.session.token", "control character"]);
    assert!(!r.all().contains("SeSsIoN"), "{r:?}");
    let r = s3(
        &[],
        &[
            ("AWS_ACCESS_KEY_ID", b"AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", b"sEcReTkEy"),
            ("AWS_SESSION_TOKEN", b"SeSsIoN\x7fToKeN"),
        ],
    );
    fails(&r, 1, &["aws_session_token", "control character"]);
    assert!(!r.all().contains("SeSsIoN"), "{r:?}");
}

/// Object store URIs and S3 settings the client cannot make a request of: a configuration
/// error naming the mount and the setting, never a panic. (`s3://` with no bucket was taken
/// for a web server and panicked at its first request; so did an `aws_endpoint` that is not
/// a URL, or has a bad port, and a region with a space.) A store URI with no bucket is
/// refused before anything is asked of the network.
#[test]
fn store_uris_and_endpoints_the_client_cannot_use_are_configuration_errors() {
    let l = Local::new();
    let cache = format!("{}:64m", l.cache.path().display());
    let run = |uri: &str, options: &[(&str, &str)]| {
        let mut conf = pairs(&[
            ("shoal.mount.s.path", "/s"),
            ("shoal.mount.s.uri", uri),
            ("shoal.mount.s.option.aws_access_key_id", "AKIAEXAMPLE"),
            ("shoal.mount.s.option.aws_secret_access_key", "sEcReTkEy"),
            ("shoal.store.max.retries", "0"),
            ("shoal.cache.dirs", &cache),
        ]);
        conf.extend(pairs(options));
        with(&conf, &["ls", "/s"])
    };
    for (uri, what) in [
        ("s3://", "names no bucket"),
        ("s3:///data", "names no bucket"),
        ("s3a://", "names no bucket"),
        ("gs://", "names no bucket"),
        ("az://", "names no container"),
        ("abfss:///data", "names no storage account"),
    ] {
        fails(&run(uri, &[]), 1, &["mount 's'", "shoal.mount.s.uri", what]);
    }
    let endpoint = "shoal.mount.s.option.aws_endpoint";
    for (options, needles) in [
        (
            vec![(endpoint, "not a url")],
            &["aws_endpoint", "is not a URL"][..],
        ),
        (vec![(endpoint, "http://")], &["aws_endpoint", "empty host"]),
        (
            vec![(endpoint, "http://127.0.0.1:99999")],
            &["aws_endpoint", "invalid port"],
        ),
        (
            vec![(endpoint, "ftp://127.0.0.1:9")],
            &["aws_endpoint", "scheme 'ftp'"],
        ),
        (
            vec![(endpoint, "http://127.0.0.1:9")],
            &["aws_endpoint", "shoal.mount.s.option.aws_allow_http=true"],
        ),
        (
            vec![("shoal.mount.s.option.aws_region", "us east")],
            &["aws_region", "'us east' is not a region name"],
        ),
        (
            vec![("shoal.mount.s.option.aws_metadata_endpoint", "nope")],
            &["aws_metadata_endpoint", "is not a URL"],
        ),
    ] {
        let r = run("s3://bucket/p", &options);
        fails(&r, 1, needles);
        assert!(!r.all().contains("sEcReTkEy"), "{r:?}");
    }
    // The same endpoint with http allowed is taken, and the store's refusal is what fails.
    let r = run(
        "s3://bucket/p",
        &[
            (endpoint, "http://127.0.0.1:9"),
            ("shoal.mount.s.option.aws_allow_http", "true"),
        ],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(!r.stderr.contains("aws_allow_http"), "{r:?}");
}

#[test]
fn unknown_keys_are_warnings_naming_the_closest_key() {
    let l = Local::new();
    let r = l.run(&[("shoal.cache.dir", "/tmp/x:1g")], &["ls", "/local"]);
    assert!(ok(&r).contains("/local/hello.txt"), "{r:?}");
    assert!(
        r.stderr
            .contains("unknown configuration key 'shoal.cache.dir'")
            && r.stderr.contains("shoal.cache.dirs"),
        "{r:?}"
    );
    let r = l.run(&[("shoal.metadata.tll", "1m")], &["ls", "/local"]);
    assert!(r.stderr.contains("shoal.metadata.ttl"), "{r:?}");
    // Keys outside shoal.* are not Shoal's to judge.
    let r = l.run(&[("fs.defaultFS", "hdfs://x")], &["ls", "/local"]);
    assert!(!r.stderr.contains("unknown"), "{r:?}");
    // RUST_LOG chooses what is shown when -v is not given.
    let mut conf = l.conf();
    conf.extend(pairs(&[("shoal.cache.dir", "x")]));
    let r = with_env(&conf, &["ls", "/local"], &[("RUST_LOG", b"error")]);
    assert!(!r.stderr.contains("unknown configuration key"), "{r:?}");
}

// ---- file:// mounts: symbolic links -------------------------------------------------------------

#[test]
fn symlink_loops_end_and_links_out_of_the_mount_are_followed() {
    use std::os::unix::fs::symlink;
    let l = Local::new();
    let root = l.dir.path();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/data.bin"), vec![7u8; 100_000]).unwrap();
    symlink(".", root.join("self")).unwrap(); // the mount root itself
    symlink("..", root.join("a/up")).unwrap(); // the mount root, from a
    symlink("../../a", root.join("a/b/again")).unwrap(); // a, from inside it
    symlink("knot", root.join("knot")).unwrap(); // a link to itself
    symlink("missing", root.join("dangling")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("outer.txt"), b"from outside\n").unwrap();
    symlink(outside.path(), root.join("out")).unwrap();

    let r = l.run(&[], &["ls", "-R", "/local"]);
    let listing = ok(&r);
    for want in [
        "/local/hello.txt",
        "/local/a/b/data.bin",
        "/local/out/outer.txt",
    ] {
        assert_eq!(
            listing.lines().filter(|l| l.ends_with(want)).count(),
            1,
            "{want} once in {r:?}"
        );
    }
    for looped in [
        "/local/self",
        "/local/a/up",
        "/local/a/b/again",
        "knot",
        "dangling",
    ] {
        assert!(!listing.contains(looped), "{looped} listed: {r:?}");
    }
    assert!(
        r.stderr
            .contains("leads back to a directory on its own path"),
        "{r:?}"
    );

    let r = l.run(&[], &["load", "/local"]);
    assert!(ok(&r).contains("loaded 3 files"), "{r:?}");
    // A path through a loop still names one file; a looping link is an error.
    assert_eq!(
        ok(&l.run(&[], &["cat", "/local/self/a/up/out/outer.txt"])),
        "from outside\n"
    );
    fails(
        &l.run(&[], &["cat", "/local/knot"]),
        1,
        &["/local/knot", "symbolic links"],
    );
}

// ---- stores that do not answer ---------------------------------------------------------------

/// A mount at `/<name>` over `uri` with the short store timeout and `extra` options.
fn hung_conf(name: &str, uri: &str, extra: &[(&str, &str)], cache: &Path) -> Vec<(String, String)> {
    let mut c = pairs(&[
        (&format!("shoal.mount.{name}.path"), &format!("/{name}")),
        (&format!("shoal.mount.{name}.uri"), uri),
        ("shoal.store.timeout", &format!("{STORE_TIMEOUT_S}s")),
        ("shoal.cache.dirs", &format!("{}:64m", cache.display())),
    ]);
    for (k, v) in extra {
        c.push((format!("shoal.mount.{name}.option.{k}"), v.to_string()));
    }
    c
}

fn s3_options(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("aws_endpoint", endpoint.to_string()),
        ("aws_allow_http", "true".into()),
        ("aws_region", "us-east-1".into()),
        ("aws_access_key_id", "AKIAEXAMPLE".into()),
        ("aws_secret_access_key", "sEcReT-KeY-4567".into()),
    ]
}

/// A call on a store that does not answer fails once the store timeout has passed (not twice
/// that: no fallback request waits again), saying "timed out" and naming the store and path.
fn times_out(run: &Run, path: &str, store: &str) {
    fails(
        run,
        1,
        &["timed out after 2s", path, store, "shoal.store.timeout"],
    );
    let t = Duration::from_secs(STORE_TIMEOUT_S);
    assert!(
        run.took >= t && run.took < t * 2 - Duration::from_millis(200),
        "took {:?} for a store timeout of {t:?}: {run:?}",
        run.took
    );
}

#[test]
fn a_silent_s3_store_holds_each_call_for_the_store_timeout_once() {
    let hung = FaultyServer::start(Behaviour::Silent);
    let cache = tempfile::tempdir().unwrap();
    let opts = s3_options(&hung.endpoint());
    let extra: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let conf = hung_conf("hung", "s3://bucket/prefix", &extra, cache.path());
    times_out(
        &with(&conf, &["stat", "/hung/x.bin"]),
        "/hung/x.bin",
        "s3://bucket/prefix",
    );
    times_out(
        &with(&conf, &["cat", "/hung/x.bin"]),
        "/hung/x.bin",
        "s3://bucket/prefix",
    );
    times_out(
        &with(&conf, &["ls", "/hung/dir"]),
        "/hung/dir",
        "s3://bucket/prefix",
    );
    times_out(
        &with(&conf, &["load", "/hung"]),
        "/hung",
        "s3://bucket/prefix",
    );
    assert!(hung.connections() > 0);
}

#[test]
fn silent_and_half_answering_http_stores_time_out() {
    let cache = tempfile::tempdir().unwrap();
    for behaviour in [Behaviour::Silent, Behaviour::HalfHead] {
        let s = FaultyServer::start(behaviour);
        let uri = format!("{}/data", s.endpoint());
        let conf = hung_conf("web", &uri, &[("allow_http", "true")], cache.path());
        times_out(&with(&conf, &["stat", "/web/a.bin"]), "/web/a.bin", &uri);
        times_out(&with(&conf, &["cat", "/web/a.bin"]), "/web/a.bin", &uri);
    }
    // A whole head, then 10 bytes of a 1 MiB body, then nothing: the read times out.
    let s = FaultyServer::start(Behaviour::HalfBody);
    let uri = format!("{}/data", s.endpoint());
    let conf = hung_conf("web", &uri, &[("allow_http", "true")], cache.path());
    let r = with(&conf, &["stat", "/web/a.bin"]);
    assert!(ok(&r).contains("length:    1048576"), "{r:?}");
    for cmd in [vec!["cat", "/web/a.bin"], vec!["load", "/web/a.bin"]] {
        let r = with(&conf, &cmd);
        assert_eq!(r.code, Some(1), "{r:?}");
        let all = r.all();
        assert!(
            all.contains("timed out after 2s") && all.contains("/web/a.bin"),
            "{r:?}"
        );
        assert!(r.took < Duration::from_secs(STORE_TIMEOUT_S * 2), "{r:?}");
    }
}

#[test]
fn a_silent_namenode_times_out() {
    let hung = FaultyServer::start(Behaviour::Silent);
    let cache = tempfile::tempdir().unwrap();
    let uri = format!("hdfs://127.0.0.1:{}/data", hung.port());
    let conf = hung_conf("h", &uri, &[("user", "shoal")], cache.path());
    times_out(&with(&conf, &["stat", "/h/x"]), "/h/x", &uri);
    times_out(&with(&conf, &["ls", "/h"]), "/h", &uri);
}

// ---- secrets ------------------------------------------------------------------------------------

/// Endpoints with user info and signed queries, credentials in options: whatever fails and
/// however verbose the log, no secret reaches stdout or stderr.
#[test]
fn no_secret_in_any_error_of_a_failing_store() {
    let hung = FaultyServer::start(Behaviour::Silent);
    let cache = tempfile::tempdir().unwrap();
    let secrets = [
        "pAsSwOrD-123",
        "sEcReT-KeY-4567",
        "SiGnAtUrE-89",
        "uSeRnAmE",
    ];
    // A closed port (refused at once) and a silent one, on S3 and HTTP mounts.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for port in [closed, hung.port()] {
        let endpoint = format!("http://uSeRnAmE:pAsSwOrD-123@127.0.0.1:{port}");
        let opts = s3_options(&endpoint);
        let extra: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut conf = hung_conf("s", "s3://bucket/prefix", &extra, cache.path());
        conf.extend(hung_conf(
            "w",
            &format!("http://uSeRnAmE:pAsSwOrD-123@127.0.0.1:{port}/d?sig=SiGnAtUrE-89"),
            &[("allow_http", "true")],
            cache.path(),
        ));
        conf.push(("shoal.store.max.retries".into(), "1".into()));
        for args in [
            vec!["mounts"],
            vec!["stat", "/s/x"],
            vec!["ls", "/s"],
            vec!["cat", "/s/x"],
            vec!["-vv", "stat", "/s/x"],
            vec!["stat", "/w/x"],
            vec!["-vvv", "cat", "/w/x"],
            vec!["ls", "/w"],
        ] {
            let r = with(&conf, &args);
            assert!(r.code == Some(0) || r.code == Some(1), "{args:?}: {r:?}");
            for s in secrets {
                assert!(!r.all().contains(s), "{s} printed by {args:?}: {r:?}");
            }
        }
    }
}

/// The endpoint of a working store, with user info: reads work and the mounts table shows the
/// store without it.
#[test]
fn working_stores_with_user_info_in_their_address() {
    let server = S3Server::start();
    std::fs::create_dir_all(server.root().join("bkt/p")).unwrap();
    std::fs::write(server.root().join("bkt/p/f.txt"), b"bytes\n").unwrap();
    let mut conf: Vec<(String, String)> = server.mount_conf("s", "/s", "bkt/p");
    let ep = server
        .endpoint()
        .replace("http://", "http://uSeRnAmE:pAsSwOrD-123@");
    for (k, v) in conf.iter_mut() {
        if k.ends_with("aws_endpoint") {
            *v = ep.clone();
        }
    }
    let r = with(&conf, &["cat", "/s/f.txt"]);
    assert_eq!(ok(&r), "bytes\n");
    let r = with(&conf, &["-v", "mounts"]);
    assert!(ok(&r).contains("s3://bkt/p"), "{r:?}");
    assert!(!r.all().contains("pAsSwOrD-123"), "{r:?}");
    let r = with(&conf, &["stat", "/s/missing"]);
    fails(&r, 1, &["no such file"]);

    let http = HttpServer::start();
    std::fs::create_dir_all(http.root().join("web")).unwrap();
    std::fs::write(http.root().join("web/g.txt"), b"web\n").unwrap();
    let uri = http
        .endpoint()
        .replace("http://", "http://uSeRnAmE:pAsSwOrD-123@");
    let conf = pairs(&[
        ("shoal.mount.w.path", "/w"),
        (
            "shoal.mount.w.uri",
            &format!("{uri}/web?token=SiGnAtUrE-89"),
        ),
        ("shoal.mount.w.option.allow_http", "true"),
        ("shoal.cache.enabled", "false"),
    ]);
    let r = with(&conf, &["cat", "/w/g.txt"]);
    assert_eq!(ok(&r), "web\n");
    let r2 = with(&conf, &["-vv", "mounts"]);
    for run in [&r, &r2] {
        assert!(
            !run.all().contains("pAsSwOrD") && !run.all().contains("SiGnAtUrE"),
            "{run:?}"
        );
    }
}

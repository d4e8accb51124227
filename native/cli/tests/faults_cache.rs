//! The fault suite, cache half: the `shoal` command run as a user runs it (real processes,
//! several at once where it matters), against real S3 servers (s3s-fs) on 127.0.0.1 and real
//! filesystems (a small tmpfs of its own for a full disk), through what can go wrong in a node
//! cache: pages of another identity, version, size or ETag; damaged, truncated, planted and
//! linked page files; directories another user could write; a full disk and odd control files;
//! processes killed mid-write; processes fetching the same file at once; capacity.
//!
//! Each case checks the exact bytes (or a clear error), that the process ended by itself (no
//! signal), and that `shoal cache verify` finds the directory clean afterwards. Requests are
//! counted at the server, through a counting proxy. Cases that need root (another owner, a
//! tmpfs) say so and pass without it.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use shoal_core::cache::page_file;
use shoal_testkit::{set_mtime, CountingProxy, S3Server};

const BUCKET: &str = "data";

fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// One S3 server with bucket `data`, reached through a proxy that counts requests.
struct Store {
    server: S3Server,
    proxy: CountingProxy,
}

impl Store {
    fn start() -> Self {
        let server = S3Server::start();
        std::fs::create_dir_all(server.root().join(BUCKET)).unwrap();
        let proxy = CountingProxy::start(&server.endpoint());
        Store { server, proxy }
    }

    /// A store holding `f.bin`: `pattern(n, seed)`, returned too.
    fn holding_f_bin(n: usize, seed: u64) -> (Self, Vec<u8>) {
        let s = Store::start();
        let data = pattern(n, seed);
        s.put("f.bin", &data);
        (s, data)
    }

    fn path(&self, key: &str) -> PathBuf {
        self.server.root().join(BUCKET).join(key)
    }

    /// Writes an object on the server's disk (s3s-fs hashes it for its ETag on every request).
    fn put(&self, key: &str, data: &[u8]) {
        let p = self.path(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    /// Writes an object with the stored ETag an upload would have given it, so that s3s-fs does
    /// not hash the whole object on every ranged GET (large objects).
    fn put_stored(&self, key: &str, data: &[u8], etag: &str) {
        self.put(key, data);
        let side = self.server.root().join(format!(
            ".bucket-{}.object-{}.internal.json",
            b64(BUCKET),
            b64(key)
        ));
        std::fs::write(side, format!("{{\"e_tag\":\"{etag}\"}}")).unwrap();
    }

    /// The properties file of the mount `s` over the bucket, caching into `cache`, with `extra`.
    fn conf(&self, cache: &Path, extra: &[(&str, &str)]) -> Conf {
        conf(&[self.mount("s")], cache, extra)
    }

    /// Object GETs that reached the server.
    fn gets(&self) -> usize {
        self.proxy.count("GET", &format!("/{BUCKET}/"))
    }

    /// The mount `name` at `/name` over the bucket, through the proxy.
    fn mount(&self, name: &str) -> Vec<(String, String)> {
        let mut m = self.server.mount_conf(name, &format!("/{name}"), BUCKET);
        m.retain(|(k, _)| k != "shoal.cache.dirs");
        for (k, v) in m.iter_mut() {
            if k.ends_with(".option.aws_endpoint") {
                *v = self.proxy.endpoint();
            }
        }
        m
    }
}

/// URL-safe base64 without padding (s3s-fs's sidecar names).
fn b64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A properties file: the mounts, the cache directory and `extra`.
struct Conf {
    file: tempfile::NamedTempFile,
}

fn conf(mounts: &[Vec<(String, String)>], cache: &Path, extra: &[(&str, &str)]) -> Conf {
    let mut text = String::new();
    for (k, v) in mounts.iter().flatten() {
        text.push_str(&format!("{k}={v}\n"));
    }
    text.push_str(&format!("shoal.cache.dirs={}:1g\n", cache.display()));
    text.push_str("shoal.cache.memory.size=0\n");
    for (k, v) in extra {
        text.push_str(&format!("{k}={v}\n"));
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    Conf { file }
}

fn shoal_cmd(c: &Conf, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shoal"));
    cmd.arg("--conf").arg(c.file.path()).args(args);
    cmd
}

fn shoal(c: &Conf, args: &[&str]) -> Output {
    shoal_cmd(c, args).output().unwrap()
}

/// The process ended by itself, not by a signal.
fn alive(o: &Output) {
    assert!(
        o.status.signal().is_none(),
        "killed by signal {:?}\nstderr: {}",
        o.status.signal(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn ok(o: &Output) -> Vec<u8> {
    alive(o);
    shoal_testkit::assert_success(o);
    o.stdout.clone()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&ok(o)).to_string()
}

/// `cat` gives exactly `want`.
fn cat_is(c: &Conf, path: &str, want: &[u8]) {
    let got = ok(&shoal(c, &["cat", path]));
    assert!(
        got == want,
        "{path}: wrong bytes ({} read, {} expected)",
        got.len(),
        want.len()
    );
}

/// `cache verify` finds every page good.
fn clean(c: &Conf) {
    let out = text(&shoal(c, &["cache", "verify"]));
    assert!(out.contains(", 0 corrupt"), "{out}");
}

/// Regular files under `dir` whose name passes `keep`.
fn files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else if keep(&p.file_name().unwrap().to_string_lossy()) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn pages(dir: &Path) -> Vec<PathBuf> {
    files(dir, |n| n.contains('_') && !n.starts_with(".tmp-"))
}

/// What `du -sB1` reports for a directory.
fn du(p: &Path) -> u64 {
    let o = Command::new("du").arg("-sB1").arg(p).output().unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The usage counter all processes share (`v2/usage`, a u64).
fn counted(cache: &Path) -> u64 {
    let b = std::fs::read(cache.join("v2/usage")).unwrap();
    u64::from_le_bytes(b[..8].try_into().unwrap())
}

fn is_root() -> bool {
    // Safety: no failure mode.
    unsafe { libc::geteuid() == 0 }
}

/// Rewrites a page file with other bytes under the same name, trailer and ETag, valid in every
/// checksum: what a user able to write in the directory could plant.
fn plant(page: &Path) {
    let (id, page_size) = page_file::parse_name(page).unwrap();
    let size = std::fs::metadata(page).unwrap().len();
    let len = (0..=page_size)
        .find(|l| page_file::file_size(*l, page_file::chunk_size_for(page_size as u64)) == size)
        .unwrap();
    let e = page_file::Expect { id, page_size, len };
    let f = std::fs::File::open(page).unwrap();
    let h = page_file::read_header(&f, size, e).unwrap();
    std::fs::write(
        page,
        page_file::encode(e, h.etag, &vec![b'!'; len as usize]),
    )
    .unwrap();
}

#[test]
fn pages_are_told_apart_by_endpoint_and_page_size() {
    // Two servers, each with a bucket "data" holding "same.bin": same length, same mtime, other
    // bytes. One cache directory for both mounts.
    let (a, b) = (Store::start(), Store::start());
    let (da, db) = (pattern(3 << 20, 1), pattern(3 << 20, 2));
    a.put("same.bin", &da);
    b.put("same.bin", &db);
    let t = std::fs::metadata(a.path("same.bin"))
        .unwrap()
        .modified()
        .unwrap();
    set_mtime(&b.path("same.bin"), t);
    let cache = tempfile::tempdir().unwrap();
    let c = conf(&[a.mount("a"), b.mount("b")], cache.path(), &[]);
    cat_is(&c, "/a/same.bin", &da);
    cat_is(&c, "/b/same.bin", &db);
    // B's pages did not replace A's: A is read from the cache.
    let before = a.gets();
    cat_is(&c, "/a/same.bin", &da);
    assert_eq!(a.gets(), before, "A's pages were fetched again");
    // A process with 2 MiB pages on a directory of 1 MiB pages: page 1 of 2 MiB (bytes 2M..3M)
    // is as long as page 1 of 1 MiB (1M..2M), and must not be taken for it.
    let out = shoal(
        &c,
        &["-D", "shoal.cache.page.size=2m", "cat", "/a/same.bin"],
    );
    assert!(ok(&out) == da, "2 MiB pages read from 1 MiB ones");
    assert!(pages(cache.path())
        .iter()
        .any(|p| p.to_string_lossy().contains("_2097152_")));
    clean(&c);
    // Freed with 1 MiB pages, A's pages of both sizes go; B's stay.
    assert_eq!(pages(cache.path()).len(), 3 + 2 + 3);
    ok(&shoal(&c, &["free", "/a/same.bin"]));
    assert_eq!(pages(cache.path()).len(), 3);
    cat_is(&c, "/b/same.bin", &db);
    clean(&c);
}

#[test]
fn an_object_overwritten_in_the_same_second_is_never_mixed() {
    // s3s-fs lists no ETags: pages are keyed by length + mtime (seconds). Overwritten with the
    // same length in the same second after half its pages were evicted, the object's pages
    // are bound to the ETag each was read with, and no read mixes old and new.
    let s = Store::start();
    let (old, new) = (pattern(256 << 10, 3), pattern(256 << 10, 4));
    s.put("m.bin", &old);
    let t = std::fs::metadata(s.path("m.bin"))
        .unwrap()
        .modified()
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let c = s.conf(cache.path(), &[("shoal.cache.page.size", "64k")]);
    let out = text(&shoal(&c, &["load", "/s/m.bin"]));
    assert!(out.contains("loaded 1 files"), "{out}");
    let p = pages(cache.path());
    assert_eq!(p.len(), 4);
    for page in &p[..2] {
        std::fs::remove_file(page).unwrap();
    }
    s.put("m.bin", &new);
    set_mtime(&s.path("m.bin"), t);
    // `load` lists (no ETag): it binds to what it reads and fetches only what is missing.
    ok(&shoal(&c, &["load", "/s/m.bin"]));
    cat_is(&c, "/s/m.bin", &new);
    cat_is(&c, "/s/m.bin", &new);
    clean(&c);
}

#[test]
fn damaged_planted_and_linked_pages_are_never_served() {
    let (s, data) = Store::holding_f_bin(300_000, 5);
    let cache = tempfile::tempdir().unwrap();
    let c = s.conf(cache.path(), &[("shoal.cache.page.size", "64k")]);
    ok(&shoal(&c, &["load", "/s/f.bin"]));
    let p = pages(cache.path());
    assert_eq!(p.len(), 5);
    // A flipped data byte; a page cut in its data; another page's file under this name; garbage;
    // a link to a valid page file elsewhere.
    let mut bytes = std::fs::read(&p[0]).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&p[0], &bytes).unwrap();
    let b1 = std::fs::read(&p[1]).unwrap();
    std::fs::write(&p[1], &b1[..b1.len() / 2]).unwrap();
    std::fs::copy(&p[3], &p[2]).unwrap();
    std::fs::write(&p[4], b"not a page").unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("page");
    std::fs::copy(&p[3], &target).unwrap();
    std::fs::remove_file(&p[3]).unwrap();
    std::os::unix::fs::symlink(&target, &p[3]).unwrap();
    let o = shoal(&c, &["cache", "verify"]);
    alive(&o);
    assert_eq!(o.status.code(), Some(3), "verify finds them");
    cat_is(&c, "/s/f.bin", &data);
    assert!(!std::fs::symlink_metadata(&p[3])
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read(&target).unwrap().len() as u64,
        page_file::file_size(65_536, 4096)
    );
    clean(&c);
    // A page of another page size under this size's name.
    let out = shoal(
        &c,
        &["-D", "shoal.cache.page.size=128k", "load", "/s/f.bin"],
    );
    ok(&out);
    let big = pages(cache.path())
        .into_iter()
        .find(|p| p.to_string_lossy().contains("_131072_0"))
        .unwrap();
    let small = PathBuf::from(big.to_string_lossy().replace("_131072_0", "_65536_0"));
    std::fs::copy(&big, &small).unwrap();
    cat_is(&c, "/s/f.bin", &data);
    clean(&c);
}

/// What makes a cache directory untrustworthy, done to it.
type Spoil = Box<dyn Fn(&Path)>;

#[test]
fn directories_other_users_could_write_are_not_used() {
    let (s, data) = Store::holding_f_bin(200_000, 6);
    let top = tempfile::tempdir().unwrap();
    let mut cases: Vec<(&str, Spoil)> = vec![
        ("0777", Box::new(|d: &Path| chmod(d, 0o777))),
        (
            "a group-writable layout directory",
            Box::new(|d: &Path| chmod(&d.join("v2"), 0o770)),
        ),
        (
            "a link in the layout",
            Box::new(|d: &Path| {
                let leaf = std::fs::read_dir(d.join("v2"))
                    .unwrap()
                    .flatten()
                    .map(|e| e.path())
                    .find(|p| p.is_dir())
                    .unwrap();
                let moved = d.join("elsewhere");
                std::fs::rename(&leaf, &moved).unwrap();
                std::os::unix::fs::symlink(&moved, &leaf).unwrap();
            }),
        ),
        (
            "below a directory everyone may write, without the sticky bit",
            Box::new(|d: &Path| chmod(d.parent().unwrap(), 0o777)),
        ),
    ];
    if is_root() {
        cases.push(("another user's", Box::new(|d: &Path| chown_tree(d, 65534))));
    } else {
        eprintln!("not root: the case of a directory made by another user is not run");
    }
    for (i, (what, spoil)) in cases.iter().enumerate() {
        // A directory filled with the object's pages, every one replaced by other bytes that
        // pass every check a page gets: what another user could plant.
        let parent = top.path().join(format!("p{i}"));
        let cache = parent.join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        let c = s.conf(&cache, &[("shoal.cache.page.size", "64k")]);
        ok(&shoal(&c, &["load", "/s/f.bin"]));
        for p in pages(&cache) {
            plant(&p);
        }
        spoil(&cache);
        let o = shoal(&c, &["cat", "/s/f.bin"]);
        assert!(ok(&o) == data, "{what}: planted pages were served");
        let out = text(&shoal(&c, &["cache", "stats"]));
        assert!(out.contains("not used"), "{what}: {out}");
        chmod(&parent, 0o755);
    }
    // The default directory is private: under $XDG_CACHE_HOME or the home directory.
    let home = tempfile::tempdir().unwrap();
    let mut text_conf = String::new();
    for (k, v) in s.mount("s") {
        text_conf.push_str(&format!("{k}={v}\n"));
    }
    let c = Conf {
        file: tempfile::NamedTempFile::new().unwrap(),
    };
    std::fs::write(c.file.path(), text_conf).unwrap();
    let run = |env: &[(&str, &Path)]| {
        let mut cmd = shoal_cmd(&c, &["cache", "stats"]);
        cmd.env_remove("XDG_CACHE_HOME");
        for (k, v) in env {
            cmd.env(k, v);
        }
        text(&cmd.output().unwrap())
    };
    let out = run(&[("HOME", home.path())]);
    let want = home.path().join(".cache/shoal/v2");
    assert!(out.contains(&want.display().to_string()), "{out}");
    assert_eq!(
        std::fs::metadata(home.path().join(".cache/shoal"))
            .unwrap()
            .mode()
            & 0o777,
        0o700
    );
    let xdg = home.path().join("xdg");
    let out = run(&[("HOME", home.path()), ("XDG_CACHE_HOME", &xdg)]);
    assert!(
        out.contains(&xdg.join("shoal/v2").display().to_string()),
        "{out}"
    );
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown_tree(p: &Path, uid: u32) {
    let st = Command::new("chown")
        .args(["-R", &uid.to_string()])
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

/// A tmpfs of `size` mounted on a new directory; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        st.success().then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the filesystem to the last byte.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path().join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        while f.write_all(&[0]).is_ok() {}
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_and_odd_control_files_never_kill_the_process() {
    let (s, data) = Store::holding_f_bin(400_000, 7);
    // A small object is packed (`pack.rs`): the same cases for a pack and its index.
    let small = pattern(20_000, 8);
    s.put("small.bin", &small);
    let Some(fs) = Tmpfs::mount("256k") else {
        eprintln!("cannot mount a tmpfs (not root?): the full-disk cases are not run");
        return;
    };
    // A new cache directory on a filesystem already full.
    fs.fill();
    let c = s.conf(
        &fs.path().join("cache"),
        &[("shoal.cache.page.size", "64k")],
    );
    cat_is(&c, "/s/f.bin", &data);
    ok(&shoal(&c, &["load", "/s/f.bin"]));
    cat_is(&c, "/s/small.bin", &small);
    ok(&shoal(&c, &["load", "/s/small.bin"]));
    clean(&c);
    // A directory in use when the filesystem fills up.
    std::fs::remove_file(fs.path().join("filler")).unwrap();
    let c = s.conf(
        &fs.path().join("cache2"),
        &[("shoal.cache.page.size", "64k")],
    );
    cat_is(&c, "/s/f.bin", &data);
    cat_is(&c, "/s/small.bin", &small);
    fs.fill();
    ok(&shoal(&c, &["free", "/s/f.bin"]));
    cat_is(&c, "/s/f.bin", &data);
    cat_is(&c, "/s/f.bin", &data);
    ok(&shoal(&c, &["free", "/s/small.bin"]));
    cat_is(&c, "/s/small.bin", &small);
    cat_is(&c, "/s/small.bin", &small);
    clean(&c);
    drop(fs);

    // Control files of every odd size and content, on a disk with room.
    let cache = tempfile::tempdir().unwrap();
    let c = s.conf(cache.path(), &[("shoal.cache.page.size", "64k")]);
    cat_is(&c, "/s/f.bin", &data);
    let v2 = cache.path().join("v2");
    for (removals, usage) in [
        (&b""[..], &b"\xff\xff\xff\xff\xff\xff\xff\xff"[..]),
        (b"abc", b"12345"),
        (&[7u8; 100][..], b""),
    ] {
        std::fs::write(v2.join("removals"), removals).unwrap();
        std::fs::write(v2.join("usage"), usage).unwrap();
        cat_is(&c, "/s/f.bin", &data);
        ok(&shoal(&c, &["free", "/s/f.bin"]));
        cat_is(&c, "/s/f.bin", &data);
        assert_eq!(std::fs::metadata(v2.join("removals")).unwrap().len(), 8);
        clean(&c);
    }
    // An index of packs of odd size and content: a miss, never wrong bytes, and made anew.
    cat_is(&c, "/s/small.bin", &small);
    let index = files(&v2, |n| n == "packs.idx");
    assert_eq!(index.len(), 1);
    for odd in [&b""[..], b"abc", &[7u8; 100][..], &[0u8; 48][..]] {
        std::fs::write(&index[0], odd).unwrap();
        cat_is(&c, "/s/small.bin", &small);
        cat_is(&c, "/s/small.bin", &small);
        ok(&shoal(&c, &["free", "/s/small.bin"]));
        cat_is(&c, "/s/small.bin", &small);
        clean(&c);
    }
}

/// Runs `shoal` and returns its output and its peak resident memory in bytes: the kernel's
/// high-water mark of the process's own memory (`VmHWM`, which starts anew at `exec`, unlike
/// `ru_maxrss`, which keeps the parent's), read until it exits.
fn peak_rss(mut cmd: Command) -> (Output, u64) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(s) = std::fs::read_to_string(&status) {
            let hwm = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            if s.contains("Name:\tshoal") {
                peak = peak.max(hwm.unwrap_or(0) * 1024);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait_with_output().unwrap(), peak)
}

#[test]
fn many_processes_fetch_a_file_once_and_load_stays_within_its_memory() {
    let s = Store::start();
    let len = 100 << 20;
    let data = pattern(len, 8);
    s.put_stored("big.bin", &data, "big-object-etag");
    let cache = tempfile::tempdir().unwrap();
    let c = s.conf(cache.path(), &[("shoal.cache.readahead.max", "16m")]);
    // Four processes read the same cold 100 MiB file at once: one of them fetches each page,
    // the others wait for it and read it from the directory.
    let readers: Vec<_> = (0..4)
        .map(|_| {
            shoal_cmd(&c, &["cat", "/s/big.bin"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let checks: Vec<_> = readers
        .into_iter()
        .map(|mut child| {
            let mut stdout = child.stdout.take().unwrap();
            let want = data.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                let mut pos = 0;
                let mut same = true;
                loop {
                    let n = stdout.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    same &= pos + n <= want.len() && buf[..n] == want[pos..pos + n];
                    pos += n;
                }
                let o = child.wait_with_output().unwrap();
                (same && pos == want.len(), o)
            })
        })
        .collect();
    for t in checks {
        let (same, o) = t.join().unwrap();
        ok(&o);
        assert!(same, "a reader got wrong bytes");
    }
    let gets = s.gets();
    assert!((100..=110).contains(&gets), "{gets} GETs for 100 pages");
    clean(&c);

    // Loading a file holds a bounded part of it: read-ahead 4 MiB, no memory tier, 100 MiB.
    s.proxy.reset();
    ok(&shoal(&c, &["free", "/s/big.bin"]));
    let (o, rss) = peak_rss(shoal_cmd(
        &c,
        &["-D", "shoal.cache.readahead.max=4m", "load", "/s/big.bin"],
    ));
    let out = text(&o);
    assert!(out.contains("100.0 MiB fetched"), "{out}");
    // About 27 MiB of it is the program's own (a `stat` peaks there); each page in flight
    // costs the response and its copy in the allocator. Holding the file took over 100 MiB.
    assert!(
        rss > 0 && rss < 64 << 20,
        "load of a 100 MiB file peaked at {} MiB",
        rss >> 20
    );
    assert_eq!(s.gets(), 100);
    clean(&c);
}

#[test]
fn a_fetch_held_by_a_hung_process_waits_no_longer_than_the_store_timeout() {
    let (s, data) = Store::holding_f_bin(2 << 20, 9);
    let cache = tempfile::tempdir().unwrap();
    let c = s.conf(cache.path(), &[("shoal.store.timeout", "1s")]);
    ok(&shoal(&c, &["cache", "stats"]));
    // Every stripe of the fetch lock held by a process that never lets go.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(cache.path().join("v2/fetch.lock"))
        .unwrap();
    // Safety: a plain struct handed to fcntl on a descriptor we own.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    use std::os::unix::io::AsRawFd;
    assert_eq!(
        unsafe { libc::fcntl(lock.as_raw_fd(), libc::F_OFD_SETLK, &fl) },
        0
    );
    let started = Instant::now();
    let mut child = shoal_cmd(&c, &["cat", "/s/f.bin"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut got).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success() && got == data);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    drop(lock);
    clean(&c);
}

#[test]
fn processes_killed_mid_write_leave_nothing_wrong_or_uncounted() {
    let s = Store::start();
    let data = pattern(24 << 20, 10);
    s.put_stored("big.bin", &data, "killed-etag");
    // Small files beside it: `load` fetches several files at once, all cut off mid-way.
    let small: Vec<Vec<u8>> = (0..24).map(|i| pattern(300 << 10, 40 + i)).collect();
    for (i, o) in small.iter().enumerate() {
        s.put(&format!("small/{i:02}.bin"), o);
    }
    let cache = tempfile::tempdir().unwrap();
    let c = s.conf(cache.path(), &[("shoal.cache.page.size", "256k")]);
    for delay_ms in [50u64, 200, 600] {
        let mut child = shoal_cmd(&c, &["load", "/s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // What a writer killed mid-page leaves (a temporary file of a pid that is gone), and what
    // a live writer has (this test's pid): the first is removed at once, the second counted.
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .unwrap()
        .to_string_lossy()
        .to_string();
    let ns: String = ns.chars().filter(char::is_ascii_digit).collect();
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let leaf = cache.path().join("v2/zz");
    std::fs::create_dir_all(&leaf).unwrap();
    chmod(&leaf, 0o700);
    let dead_tmp = leaf.join(format!(".tmp-{ns}-{dead}-0"));
    let live_tmp = leaf.join(format!(".tmp-{ns}-{}-0", std::process::id()));
    std::fs::write(&dead_tmp, vec![1u8; 1 << 20]).unwrap();
    std::fs::write(&live_tmp, vec![1u8; 1 << 20]).unwrap();
    ok(&shoal(&c, &["cache", "stats"]));
    assert!(!dead_tmp.exists(), "a dead writer's temporary file is left");
    assert!(live_tmp.exists());
    let held = du(&cache.path().join("v2"));
    let n = counted(cache.path());
    assert!(n.abs_diff(held) <= 16 << 10, "counted {n}, du {held}");
    std::fs::remove_file(&live_tmp).unwrap();
    cat_is(&c, "/s/big.bin", &data);
    for (i, o) in small.iter().enumerate() {
        cat_is(&c, &format!("/s/small/{i:02}.bin"), o);
    }
    clean(&c);
    ok(&shoal(&c, &["cache", "stats"]));
    assert!(files(cache.path(), |n| n.starts_with(".tmp-")).is_empty());
}

#[test]
fn capacity_is_what_du_sees() {
    capacity_is_what_du_sees_when_packing("0");
}

#[test]
fn capacity_is_what_du_sees_with_small_objects_packed() {
    capacity_is_what_du_sees_when_packing("64k");
}

/// `pack`: `shoal.cache.pack.max.object` (`0`: every object is a page file of its own).
fn capacity_is_what_du_sees_when_packing(pack: &str) {
    let s = Store::start();
    let n = 200;
    let objects: Vec<Vec<u8>> = (0..n).map(|i| pattern(6000, 100 + i as u64)).collect();
    for (i, o) in objects.iter().enumerate() {
        s.put(&format!("small/{i:03}.bin"), o);
    }
    let cache = tempfile::tempdir().unwrap();
    let c = s.conf(
        cache.path(),
        &[
            (
                "shoal.cache.dirs",
                &format!("{}:8m", cache.path().display()),
            ),
            ("shoal.cache.pack.max.object", pack),
        ],
    );
    let out = text(&shoal(&c, &["load", "/s/small"]));
    assert!(out.contains(&format!("loaded {n} files")), "{out}");
    let v2 = cache.path().join("v2");
    let p = pages(cache.path());
    let packs = files(cache.path(), |n| n.starts_with("pack-"));
    if pack == "0" {
        assert_eq!((p.len(), packs.len()), (n, 0));
    } else {
        // A pack per layout directory the objects fall in, no page file.
        assert!(
            p.is_empty() && !packs.is_empty() && packs.len() < n,
            "{}",
            packs.len()
        );
        let bytes: u64 = packs
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert!(bytes < n as u64 * 6100, "{bytes}");
    }
    // A 6,000-byte object is one file of two 4 KiB blocks, trailer included.
    for page in &p {
        let m = std::fs::metadata(page).unwrap();
        assert!(
            m.len() < 6100 && m.blocks() * 512 <= 8192,
            "{}: {} bytes",
            page.display(),
            m.len()
        );
    }
    // The counter agrees with du, layout directories included.
    ok(&shoal(&c, &["cache", "stats"]));
    let (held, n_counted) = (du(&v2), counted(cache.path()));
    assert!(
        n_counted.abs_diff(held) <= 16 << 10,
        "counted {n_counted}, du {held}"
    );
    // Freed, the layout directories go too.
    ok(&shoal(&c, &["free", "/s/small"]));
    assert!(du(&v2) <= 64 << 10, "{} bytes left", du(&v2));
    let dirs = std::fs::read_dir(&v2)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(dirs, 0);
    // A directory too small for all of them holds what fits, as du sees it.
    let small = tempfile::tempdir().unwrap();
    let c = s.conf(
        small.path(),
        &[
            (
                "shoal.cache.dirs",
                &format!("{}:512k", small.path().display()),
            ),
            ("shoal.cache.page.size", "64k"),
            ("shoal.cache.pack.max.object", pack),
        ],
    );
    ok(&shoal(&c, &["load", "/s/small"]));
    ok(&shoal(&c, &["cache", "stats"]));
    assert!(
        du(&small.path().join("v2")) <= 512 << 10,
        "{}",
        du(&small.path().join("v2"))
    );
    for i in [0, 77, 199] {
        cat_is(&c, &format!("/s/small/{i:03}.bin"), &objects[i]);
    }
    clean(&c);
}

#[test]
fn settings_that_cannot_work_are_errors_naming_the_key() {
    let (s, data) = Store::holding_f_bin(100_000, 11);
    let cache = tempfile::tempdir().unwrap();
    let d = cache.path().display().to_string();
    for (dirs, says) in [
        (format!("{d}:0"), "not even one page"),
        (format!("{d}:100k"), "not even one page"),
        (format!("{d}\0/x:1g"), "control character"),
    ] {
        let c = s.conf(cache.path(), &[("shoal.cache.dirs", &dirs)]);
        let o = shoal(&c, &["cat", "/s/f.bin"]);
        alive(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{dirs:?}: {err}");
        assert!(
            err.contains("shoal.cache.dirs") && err.contains(says),
            "{dirs:?}: {err}"
        );
    }
    // open.pages=0: every hit opens its page file, as documented.
    let c = s.conf(cache.path(), &[("shoal.cache.open.pages", "0")]);
    cat_is(&c, "/s/f.bin", &data);
    cat_is(&c, "/s/f.bin", &data);
    clean(&c);
}

//! Test support shared by the crates: a real S3 server (s3s-fs) on 127.0.0.1, started per test and stopped on drop.
//! `moto` holds a second S3 server, moto's, which keeps directory markers. Also Azurite (Azure
//! Blob), a GCS emulator, a read-only HTTP file server, and stores that hang or answer half a
//! response (`faulty`), each in its module; `proxy` counts the requests that reach a server.

mod azurite;
mod faulty;
mod gcs;
mod http;
mod moto;
mod proxy;
mod server;
pub mod wire;

pub use azurite::{Azurite, AzuriteServer, AZURITE_ACCOUNT, AZURITE_KEY};
pub use faulty::{Behaviour, FaultyServer};
pub use gcs::{Gcs, GcsServer};
pub use http::HttpServer;
pub use moto::{Moto, MotoServer, MOTO_ACCESS_KEY, MOTO_SECRET_KEY};
pub use proxy::{CountingProxy, SeenRequest};
pub use server::{Kind, Server};

use std::path::Path;
use std::process::Command;

mod hdfs;
pub use hdfs::HdfsCluster;

/// s3s-fs, whose working directory is the root it keeps buckets and objects in (as
/// directories and files).
pub type S3Server = Server<S3s>;

/// The kind of [`S3Server`].
pub struct S3s;

pub const ACCESS_KEY: &str = "shoal-test";
pub const SECRET_KEY: &str = "shoal-test-secret";

impl Kind for S3s {
    const TOOL: wire::Tool = wire::Tool::S3s;

    fn args(c: &mut Command, port: u16, root: &Path) {
        c.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root);
    }

    fn options(endpoint: String) -> Vec<(&'static str, String)> {
        s3_options(endpoint, (ACCESS_KEY, SECRET_KEY))
    }
}

/// The store options of a mount over an S3 test server at `endpoint` (plain HTTP, path-style,
/// `us-east-1`), with these credentials (access key, secret key).
fn s3_options(
    endpoint: String,
    (access_key, secret_key): (&str, &str),
) -> Vec<(&'static str, String)> {
    vec![
        ("aws_endpoint", endpoint),
        ("aws_access_key_id", access_key.to_string()),
        ("aws_secret_access_key", secret_key.to_string()),
        ("aws_region", "us-east-1".to_string()),
        ("aws_allow_http", "true".to_string()),
    ]
}

impl S3Server {
    pub fn root(&self) -> &Path {
        self.process.work.path()
    }

    /// The mount the cache tests read through: `s3` at `/s3` over `bucket`, caching into
    /// `cache_dir` (256 MiB) in 64 KiB pages. Each of `extra` sets a key, replacing the value
    /// given here.
    pub fn cache_test_conf(
        &self,
        cache_dir: &Path,
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let dirs = format!("{}:256m", cache_dir.display());
        let mut c = self.mount_conf("s3", "/s3", "bucket");
        let defaults = [
            ("shoal.cache.dirs", dirs.as_str()),
            ("shoal.cache.page.size", "64k"),
        ];
        for (k, v) in defaults.iter().chain(extra) {
            c.retain(|(key, _)| key != k);
            c.push((k.to_string(), v.to_string()));
        }
        c
    }

    /// Puts `data` at `key` in `bucket`, as another writer would (the server keeps objects as
    /// files under its root).
    pub fn put(&self, bucket: &str, key: &str, data: &[u8]) {
        let p = self.root().join(bucket).join(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    /// A mount `name` at `path` over `s3a://<bucket_and_prefix>` with no store option at all:
    /// the server's address and credentials are Hadoop S3A keys (`fs.s3a.*`), the endpoint
    /// without a scheme and SSL off, as a cluster set up for S3A would have them.
    pub fn s3a_conf(
        &self,
        name: &str,
        path: &str,
        bucket_and_prefix: &str,
    ) -> Vec<(String, String)> {
        let pairs = [
            (format!("shoal.mount.{name}.path"), path.to_string()),
            (
                format!("shoal.mount.{name}.uri"),
                format!("s3a://{bucket_and_prefix}"),
            ),
            ("fs.s3a.access.key".into(), ACCESS_KEY.to_string()),
            ("fs.s3a.secret.key".into(), SECRET_KEY.to_string()),
            (
                "fs.s3a.endpoint".into(),
                format!("127.0.0.1:{}", self.process.port),
            ),
            ("fs.s3a.connection.ssl.enabled".into(), "false".to_string()),
            ("fs.s3a.path.style.access".into(), "true".to_string()),
            ("fs.s3a.endpoint.region".into(), "us-east-1".to_string()),
            (
                "shoal.cache.dirs".into(),
                format!("{}:1g", self.process.cache.path().display()),
            ),
        ];
        pairs.into_iter().collect()
    }
}

/// `n` bytes that do not compress or repeat (xorshift from `seed`): test data whose every byte
/// matters, so that a misplaced page or range shows.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Sets a file's modification time (to make an object's overwrite keep its version).
pub fn set_mtime(path: &Path, t: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Fails unless the process whose output `o` is exited with status 0, showing its exit code
/// and what it printed.
pub fn assert_success(o: &std::process::Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A command that runs the ignored test `test` of the running test binary alone, in a new
/// process (`--nocapture`), with `arg` in SHOAL_CHILD and `conf` in SHOAL_CHILD_CONF (one
/// `key=value` a line): a child that [`child_args`] reads back.
pub fn child_command(test: &str, arg: &str, conf: &[(String, String)]) -> std::process::Command {
    let conf_text: String = conf.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--include-ignored", "--nocapture"])
        .env("SHOAL_CHILD", arg)
        .env("SHOAL_CHILD_CONF", conf_text);
    cmd
}

/// In a child started by [`child_command`]: its argument and its configuration pairs.
pub fn child_args() -> (String, Vec<(String, String)>) {
    let arg = std::env::var("SHOAL_CHILD").expect("run by its parent test, with SHOAL_CHILD set");
    let conf = std::env::var("SHOAL_CHILD_CONF").unwrap();
    let pairs = conf
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (arg, pairs)
}

//! moto's S3 server (`moto_server`, from PyPI) on 127.0.0.1: a second, disposable S3 store for
//! tests, in memory, stopped on drop. Unlike s3s-fs it keeps keys that end in `/` as ordinary
//! objects, as S3 does, so directory markers can be tested against it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MotoServer {
    child: Child,
    port: u16,
    /// A private page-cache directory, so tests never share the system default.
    cache: tempfile::TempDir,
}

/// moto accepts any credentials; these only have to be present.
pub const MOTO_ACCESS_KEY: &str = "shoal-moto";
pub const MOTO_SECRET_KEY: &str = "shoal-moto-secret";

fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("SHOAL_TEST_MOTO_BIN") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/moto/bin/moto_server");
    assert!(
        p.exists(),
        "the moto S3 test server is not installed at {}: run scripts/setup.sh \
         (or set SHOAL_TEST_MOTO_BIN)",
        p.display()
    );
    p
}

/// One plain HTTP/1.1 request without a body; returns the status code and the body.
fn http(port: u16, method: &str, target: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let code = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP reply: {reply:.200}")))?;
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((code, body.to_string()))
}

impl MotoServer {
    pub fn start() -> Self {
        let bin = binary();
        for _attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: port taken, try another
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return MotoServer {
                        child,
                        port,
                        cache: tempfile::tempdir().unwrap(),
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start on 127.0.0.1");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates bucket `name` (moto starts with none).
    pub fn create_bucket(&self, name: &str) {
        let (code, _) = http(self.port, "PUT", &format!("/{name}"))
            .unwrap_or_else(|e| panic!("create bucket {name} on moto: {e}"));
        assert_eq!(code, 200, "create bucket {name} on moto: HTTP {code}");
    }

    /// Writes the object `bucket/key` with no body, as another S3 client would (a key ending
    /// in `/` is a directory marker).
    pub fn put_empty(&self, bucket: &str, key: &str) {
        let (code, _) = http(self.port, "PUT", &format!("/{bucket}/{key}"))
            .unwrap_or_else(|e| panic!("put {bucket}/{key} on moto: {e}"));
        assert_eq!(code, 200, "put {bucket}/{key} on moto: HTTP {code}");
    }

    /// Whether the object `bucket/key` exists, by its exact key (`dir/` included), as a
    /// listing shows it (moto refuses an anonymous HEAD of a key that ends in `/`). Keys are
    /// plain ASCII without XML or URL specials.
    pub fn exists(&self, bucket: &str, key: &str) -> bool {
        let (code, body) = http(
            self.port,
            "GET",
            &format!("/{bucket}?list-type=2&prefix={key}"),
        )
        .unwrap_or_else(|e| panic!("list {bucket}/{key} on moto: {e}"));
        assert_eq!(
            code, 200,
            "list {bucket}/{key} on moto: HTTP {code}: {body}"
        );
        body.contains(&format!("<Key>{key}</Key>"))
    }

    /// Configuration of a mount `name` at `path` over `s3://<bucket_and_prefix>`.
    pub fn mount_conf(
        &self,
        name: &str,
        path: &str,
        bucket_and_prefix: &str,
    ) -> Vec<(String, String)> {
        let k = |a: &str| format!("shoal.mount.{name}.{a}");
        vec![
            (k("path"), path.to_string()),
            (k("uri"), format!("s3://{bucket_and_prefix}")),
            (k("option.aws_endpoint"), self.endpoint()),
            (k("option.aws_access_key_id"), MOTO_ACCESS_KEY.to_string()),
            (
                k("option.aws_secret_access_key"),
                MOTO_SECRET_KEY.to_string(),
            ),
            (k("option.aws_region"), "us-east-1".to_string()),
            (k("option.aws_allow_http"), "true".to_string()),
            (
                "shoal.cache.dirs".to_string(),
                format!("{}:1g", self.cache.path().display()),
            ),
        ]
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! What the emulator servers share: finding their installed tools, free ports on 127.0.0.1,
//! waiting for a started server, a loop accepting its connections, HTTP dates, and a minimal HTTP/1.1 client over std::net for the
//! few set-up requests (creating a bucket or a container) that Shoal itself never makes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Accepts the connections of `listener` in a thread named `name`, handing each to `handle`
/// (which starts a thread for it), until `stopping` says so: a server's `Drop` sets its flag,
/// then connects once to wake the loop, and that connection ends it unhandled.
pub(crate) fn accept_loop(
    name: String,
    listener: TcpListener,
    stopping: impl Fn() -> bool + Send + 'static,
    mut handle: impl FnMut(TcpStream) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            for conn in listener.incoming() {
                if stopping() {
                    break;
                }
                let Ok(conn) = conn else { continue };
                handle(conn);
            }
        })
        .unwrap_or_else(|e| panic!("start the thread of {name}: {e}"))
}

/// The servers the tests start from installed tools.
#[derive(Clone, Copy, Debug)]
pub enum Tool {
    S3s,
    Moto,
    Gcs,
    Azurite,
}

impl Tool {
    /// Where the tool is installed under `.tools/`, what messages call it, and how long its
    /// port may take to open.
    fn spec(self) -> (&'static str, &'static str, u64) {
        match self {
            Tool::S3s => ("s3s/bin/s3s-fs", "the S3 test server (s3s-fs)", 10),
            Tool::Moto => ("moto/bin/moto_server", "the moto S3 test server", 30),
            Tool::Gcs => (
                "gcs/bin/fake-gcs-server",
                "the GCS emulator (fake-gcs-server)",
                60,
            ),
            // Node starts slowly on a busy machine.
            Tool::Azurite => (
                "azurite/node_modules/.bin/azurite-blob",
                "Azurite (the Azure Blob emulator)",
                60,
            ),
        }
    }

    /// The scheme of a mount's URI over the tool's server (`s3`, `gs`, `az`).
    pub(crate) fn scheme(self) -> &'static str {
        match self {
            Tool::S3s | Tool::Moto => "s3",
            Tool::Gcs => "gs",
            Tool::Azurite => "az",
        }
    }
}

/// The installed tool at `.tools/<relative>` of the repository, or the path in the environment
/// variable `SHOAL_TEST_<DIR>_BIN`, where `<DIR>` is the first directory of `relative` in upper
/// case (`SHOAL_TEST_S3S_BIN` for `s3s/bin/s3s-fs`). Panics naming scripts/setup.sh when the
/// tool is missing.
pub(crate) fn tool(relative: &str, what: &str) -> PathBuf {
    let dir = relative.split('/').next().unwrap_or(relative);
    let env = format!("SHOAL_TEST_{}_BIN", dir.to_uppercase());
    if let Ok(p) = std::env::var(&env) {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "{what}: {env} is set to {}, which does not exist",
            p.display()
        );
        return p;
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.tools")
        .join(relative);
    assert!(
        p.exists(),
        "{what} is not installed at {}: run scripts/setup.sh (or set {env})",
        p.display()
    );
    p
}

/// A port on 127.0.0.1 that was free a moment ago (the caller retries if it is taken since).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a port on 127.0.0.1")
        .port()
}

/// Waits until `port` accepts connections, or `child` exits, or `limit` passes.
/// Returns whether the server is up.
pub(crate) fn wait_for_port(child: &mut Child, port: u16, limit: Duration) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Starts a server on a free 127.0.0.1 port: `command(port)` is its command line (its standard
/// streams are set to nothing here). Up to five ports are tried, each waited for up to `limit`
/// (a port taken in the meantime makes the server exit). Panics naming `what` when none works.
pub(crate) fn start_on_free_port(
    what: &str,
    limit: Duration,
    mut command: impl FnMut(u16) -> Command,
) -> (Child, u16) {
    for _attempt in 0..5 {
        let port = free_port();
        let mut child = command(port)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        if wait_for_port(&mut child, port, limit) {
            return (child, port);
        }
        stop(&mut child);
    }
    panic!("{what} did not start on 127.0.0.1");
}

/// A test server's process on a free 127.0.0.1 port, stopped on drop, with a working directory
/// of its own and a private page-cache directory for the mounts over it (so tests never share
/// the system default).
pub(crate) struct Process {
    child: Child,
    pub(crate) port: u16,
    pub(crate) work: tempfile::TempDir,
    pub(crate) cache: tempfile::TempDir,
}

impl Process {
    /// Starts the installed `tool` (see [`Tool::spec`] and `tool`) in its working directory;
    /// `args(command, port, working directory)` adds its arguments. Waits for its port (see
    /// `start_on_free_port`).
    pub(crate) fn start(tool: Tool, args: impl Fn(&mut Command, u16, &Path)) -> Self {
        let (relative, what, limit) = tool.spec();
        let bin = self::tool(relative, what);
        let work = tempfile::tempdir().unwrap();
        let limit = Duration::from_secs(limit);
        let (child, port) =
            start_on_free_port(&format!("{what} ({})", bin.display()), limit, |port| {
                let mut c = Command::new(&bin);
                args(&mut c, port, work.path());
                c.current_dir(work.path());
                c
            });
        Process {
            child,
            port,
            work,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Configuration of a mount `name` at `path` over `uri` with the store `options`
    /// (`shoal.mount.<name>.option.<key>`), caching into this server's own directory (1 GiB).
    pub(crate) fn mount_conf(
        &self,
        name: &str,
        path: &str,
        uri: String,
        options: &[(&str, String)],
    ) -> Vec<(String, String)> {
        mount_conf(name, path, uri, options, self.cache.path())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Configuration of a mount `name` at `path` over `uri` with the store `options`
/// (`shoal.mount.<name>.option.<key>`), caching into `cache` (1 GiB).
pub(crate) fn mount_conf(
    name: &str,
    path: &str,
    uri: String,
    options: &[(&str, String)],
    cache: &Path,
) -> Vec<(String, String)> {
    let k = |a: &str| format!("shoal.mount.{name}.{a}");
    let mut c = vec![(k("path"), path.to_string()), (k("uri"), uri)];
    c.extend(
        options
            .iter()
            .map(|(o, v)| (k(&format!("option.{o}")), v.clone())),
    );
    c.push((
        "shoal.cache.dirs".to_string(),
        format!("{}:1g", cache.display()),
    ));
    c
}

/// Stops a child process and reaps it.
pub(crate) fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// An HTTP date (RFC 9110 IMF-fixdate), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .expect("a time chrono can show")
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// `s` percent-encoded for a URL query value or path segment (unreserved characters kept).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A response of `request`.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request to 127.0.0.1:`port` on a fresh connection and reads the whole
/// response. `target` is the path and query; `headers` go as given, plus Host, Content-Length
/// and `Connection: close`.
pub fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if method == "HEAD" || status == 204 || status == 304 {
        // no body
    } else if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad(&format!("bad chunk size {line:?}")))?;
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // a leap day
        assert_eq!(http_date(t), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn components() {
        assert_eq!(encode_component("a/b c.bin~"), "a%2Fb%20c.bin~");
    }
}

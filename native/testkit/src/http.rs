//! A read-only HTTP file server for tests, written over std::net: serves a directory on a free
//! 127.0.0.1 port the way a static web server does (GET and HEAD, single byte ranges, ETag and
//! Last-Modified, If-Match), refuses every other method with 405, and counts the requests it
//! answers so tests can see what reached the server. Stopped on drop.
//!
//! A gate (`gate_gets`) holds every GET until a number of them are in flight at once: a test of
//! concurrency then proves by a count, not by timing, that requests overlapped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, UNIX_EPOCH};

use crate::wire;

pub struct HttpServer {
    port: u16,
    root: tempfile::TempDir,
    /// A private page-cache directory, so tests never share the system default.
    cache: tempfile::TempDir,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    stopping: AtomicBool,
    /// Requests answered, by method.
    requests: Mutex<BTreeMap<String, usize>>,
    gate: Mutex<Gate>,
    gate_moved: Condvar,
}

/// GETs in flight, and how many must be before any is answered.
#[derive(Default)]
struct Gate {
    want: usize,
    wait: Duration,
    in_flight: usize,
    peak: usize,
}

impl Shared {
    /// A GET arrives: held until `want` GETs have been in flight together (once that happened
    /// the gate stays open), or until the gate's wait has passed.
    fn enter_gate(&self) {
        let mut g = self.gate.lock().unwrap();
        g.in_flight += 1;
        g.peak = g.peak.max(g.in_flight);
        self.gate_moved.notify_all();
        let wait = g.wait;
        let _held = self
            .gate_moved
            .wait_timeout_while(g, wait, |g| g.peak < g.want)
            .unwrap();
    }

    fn leave_gate(&self) {
        self.gate.lock().unwrap().in_flight -= 1;
    }
}

impl HttpServer {
    /// Serves a new empty directory (see `root`).
    pub fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port on 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let (dir, s, stop) = (root.path().to_path_buf(), shared.clone(), shared.clone());
        let accept = wire::accept_loop(
            format!("http-test-server-{port}"),
            listener,
            move || stop.stopping.load(Ordering::SeqCst),
            move |conn| {
                let (dir, s) = (dir.clone(), s.clone());
                let _ = std::thread::Builder::new()
                    .name("http-test-conn".into())
                    .spawn(move || serve(conn, &dir, &s));
            },
        );
        HttpServer {
            port,
            root,
            cache: tempfile::tempdir().unwrap(),
            shared,
            accept: Some(accept),
        }
    }

    /// The directory served: `<root>/a/b` is `http://127.0.0.1:<port>/a/b`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many requests with `method` (GET, HEAD, PUT, ...) the server has answered.
    pub fn requests(&self, method: &str) -> usize {
        let counts = self.shared.requests.lock().unwrap();
        counts.get(method).copied().unwrap_or(0)
    }

    /// From now on every GET waits (at most `wait`) until `n` GETs are in flight at once.
    pub fn gate_gets(&self, n: usize, wait: Duration) {
        let mut g = self.shared.gate.lock().unwrap();
        g.want = n;
        g.wait = wait;
        g.peak = g.in_flight;
    }

    /// The most GETs that were in flight at once since `gate_gets` (or the start).
    pub fn peak_gets_in_flight(&self) -> usize {
        self.shared.gate.lock().unwrap().peak
    }

    /// Configuration of a mount `name` at `path` over `http://127.0.0.1:<port>/<prefix>`.
    pub fn mount_conf(&self, name: &str, path: &str, prefix: &str) -> Vec<(String, String)> {
        let uri = format!("{}/{}", self.endpoint(), prefix.trim_start_matches('/'));
        let options = [("allow_http", "true".to_string())];
        wire::mount_conf(name, path, uri, &options, self.cache.path())
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag (if that fails, leave the thread be).
        if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            if let Some(t) = self.accept.take() {
                let _ = t.join();
            }
        }
    }
}

/// One connection: requests are answered in turn until the client closes or asks to.
fn serve(conn: TcpStream, root: &Path, shared: &Shared) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::new(conn);
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Some(req) = read_request(&mut r) else {
            return;
        };
        *shared
            .requests
            .lock()
            .unwrap()
            .entry(req.method.clone())
            .or_default() += 1;
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let get = req.method == "GET";
        if get {
            shared.enter_gate();
        }
        let answered = respond(&mut out, &req, root, close);
        if get {
            shared.leave_gate();
        }
        if answered.is_err() || close {
            return;
        }
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request head and skips its body; `None` at the end of the connection.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let req = Request {
        method,
        target,
        headers,
    };
    let body: u64 = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::io::copy(&mut r.by_ref().take(body), &mut std::io::sink()).ok()?;
    Some(req)
}

fn respond(out: &mut TcpStream, req: &Request, root: &Path, close: bool) -> std::io::Result<()> {
    let conn = if close { "close" } else { "keep-alive" };
    let simple = |out: &mut TcpStream, status: &str, extra: &str| {
        write!(
            out,
            "HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: {conn}\r\n\r\n"
        )
    };
    if req.method != "GET" && req.method != "HEAD" {
        return simple(out, "405 Method Not Allowed", "Allow: GET, HEAD\r\n");
    }
    let Some(file) = file_of(root, &req.target) else {
        return simple(out, "404 Not Found", "");
    };
    let meta = match std::fs::metadata(&file) {
        Ok(m) if m.is_file() => m,
        _ => return simple(out, "404 Not Found", ""),
    };
    let len = meta.len();
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let nanos = mtime
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let etag = format!("\"{len:x}-{nanos:x}\"");
    if let Some(want) = req.header("if-match") {
        let matches = want
            .split(',')
            .map(str::trim)
            .any(|w| w == "*" || w == etag);
        if !matches {
            return simple(out, "412 Precondition Failed", "");
        }
    }
    let (status, start, end, range_header) = match req.header("range").map(|r| parse_range(r, len))
    {
        Some(Some(Ok((a, b)))) => (
            "206 Partial Content",
            a,
            b,
            format!("Content-Range: bytes {a}-{}/{len}\r\n", b - 1),
        ),
        Some(Some(Err(()))) => {
            return simple(
                out,
                "416 Range Not Satisfiable",
                &format!("Content-Range: bytes */{len}\r\n"),
            )
        }
        // No range, or one this server does not serve (several ranges): the whole file.
        _ => ("200 OK", 0, len, String::new()),
    };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n\
         ETag: {etag}\r\nLast-Modified: {}\r\n{range_header}Content-Length: {}\r\n\
         Connection: {conn}\r\n\r\n",
        wire::http_date(mtime),
        end - start
    )?;
    if req.method == "GET" {
        let mut f = std::fs::File::open(&file)?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start))?;
        std::io::copy(&mut f.take(end - start), out)?;
    }
    out.flush()
}

/// The file a request target names under `root`, or `None` for what cannot be a file there.
fn file_of(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let mut file = root.to_path_buf();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(seg)?;
        if seg == "." || seg == ".." || seg.contains('/') || seg.contains('\0') {
            return None;
        }
        file.push(seg);
    }
    Some(file)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A `Range` header for a file of `len` bytes: `None` when it is not one byte range this
/// server serves, `Some(Err)` when unsatisfiable, else the half-open range.
fn parse_range(header: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // The last b bytes.
        let n: u64 = b.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(n), len)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len
        } else {
            let last: u64 = b.parse().ok()?;
            if last < start {
                return None;
            }
            (last + 1).min(len)
        };
        if start >= len {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 10))));
        assert_eq!(parse_range("bytes=90-200", 100), Some(Ok((90, 100))));
        assert_eq!(parse_range("bytes=10-", 100), Some(Ok((10, 100))));
        assert_eq!(parse_range("bytes=-5", 100), Some(Ok((95, 100))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
    }

    #[test]
    fn targets_stay_under_the_root() {
        let root = Path::new("/srv");
        assert_eq!(
            file_of(root, "/a/b%20c.bin?x=1"),
            Some(PathBuf::from("/srv/a/b c.bin"))
        );
        assert_eq!(file_of(root, "/a/../../etc/passwd"), None);
        assert_eq!(file_of(root, "/a/%2e%2e/x"), None);
        assert_eq!(file_of(root, "/a/%2fetc"), None);
    }

    #[test]
    fn serves_files_and_ranges_and_refuses_writes() {
        let server = HttpServer::start();
        std::fs::create_dir_all(server.root().join("d")).unwrap();
        std::fs::write(server.root().join("d/f.txt"), b"0123456789").unwrap();
        let get = |target: &str, headers: &[(&str, &str)]| {
            wire::request(server.port(), "GET", target, headers, b"").unwrap()
        };
        let r = get("/d/f.txt", &[]);
        assert_eq!((r.status, r.body.as_slice()), (200, &b"0123456789"[..]));
        let etag = r.header("etag").unwrap().to_string();
        let r = get("/d/f.txt", &[("Range", "bytes=2-4")]);
        assert_eq!((r.status, r.body.as_slice()), (206, &b"234"[..]));
        assert_eq!(r.header("content-range"), Some("bytes 2-4/10"));
        assert_eq!(get("/d/f.txt", &[("Range", "bytes=10-")]).status, 416);
        assert_eq!(get("/d/f.txt", &[("If-Match", &etag)]).status, 200);
        assert_eq!(get("/d/f.txt", &[("If-Match", "\"other\"")]).status, 412);
        assert_eq!(get("/d", &[]).status, 404);
        assert_eq!(get("/d/missing", &[]).status, 404);
        let head = wire::request(server.port(), "HEAD", "/d/f.txt", &[], b"").unwrap();
        assert_eq!(head.header("content-length"), Some("10"));
        for method in ["PUT", "DELETE", "PROPFIND"] {
            let r = wire::request(server.port(), method, "/d/f.txt", &[], b"x").unwrap();
            assert_eq!(r.status, 405, "{method}");
        }
        assert_eq!(server.requests("GET"), 7);
        assert_eq!(server.requests("PUT"), 1);
        assert_eq!(
            std::fs::read(server.root().join("d/f.txt")).unwrap(),
            b"0123456789"
        );
    }
}

//! A TCP proxy on 127.0.0.1 in front of a test server that counts the HTTP requests passing
//! through it, so that tests can count what reached the store (GETs of an object) rather than
//! what the client says it sent. It also measures how many GETs were in flight at once (sent
//! and not yet answered in full), as the server sees them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One request seen: its method and its target (path and query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    pub target: String,
}

pub struct CountingProxy {
    port: u16,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    gets: Arc<InFlight>,
    /// Milliseconds each object GET (no query) is held before it is passed on.
    delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl CountingProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `upstream`.
    pub fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream is host:port");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let gets = Arc::new(InFlight::default());
        let delay_ms = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, g, d) = (seen.clone(), stop.clone(), gets.clone(), delay_ms.clone());
        let accept = crate::wire::accept_loop(
            format!("counting-proxy-{port}"),
            listener,
            move || st.load(Ordering::Acquire),
            move |client| {
                let Ok(server) = TcpStream::connect(upstream) else {
                    return;
                };
                let (s, g, d) = (s.clone(), g.clone(), d.clone());
                std::thread::spawn(move || relay(client, server, s, g, d));
            },
        );
        CountingProxy {
            port,
            seen,
            gets,
            delay_ms,
            stop,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:<port>`: the endpoint to give clients instead of the server's.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests with this method had a target starting with `prefix` and no query.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|r| {
                r.method == method && r.target.starts_with(prefix) && !r.target.contains('?')
            })
            .count()
    }

    /// From now on each object GET (a request with no query: not a listing) is held for
    /// `delay` before it reaches the server: a slow store, for tests that act mid-transfer.
    pub fn delay_gets(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::Release);
    }

    /// How many requests with this method had a target containing `part` (a query
    /// parameter such as `list-type=2`; `""` counts them all).
    pub fn count_where(&self, method: &str, part: &str) -> usize {
        self.seen()
            .iter()
            .filter(|r| r.method == method && r.target.contains(part))
            .count()
    }

    pub fn reset(&self) {
        self.seen.lock().unwrap().clear();
    }

    /// The most GETs that were in flight at once: sent to the server, their answer not yet
    /// passed back whole.
    pub fn peak_gets_in_flight(&self) -> usize {
        self.gets.peak.load(Ordering::SeqCst)
    }
}

#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl InFlight {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Copies the server's answers back as they come, and the client's requests one at a time,
/// recording each request line (bodies are passed on by their Content-Length).
fn relay(
    client: TcpStream,
    server: TcpStream,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    gets: Arc<InFlight>,
    delay_ms: Arc<AtomicU64>,
) {
    let (Ok(mut client_w), Ok(server_r)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    // The methods of the requests sent, in order, so the answers can be told apart (an answer
    // to HEAD has no body).
    let (sent, answered) = std::sync::mpsc::channel::<String>();
    let back_gets = gets.clone();
    let back = std::thread::spawn(move || {
        answers(server_r, &mut client_w, answered, &back_gets);
        let _ = client_w.shutdown(Shutdown::Both);
    });
    let mut from = BufReader::new(client);
    let mut to = server;
    // Blank lines between requests are passed over, as HTTP allows.
    while let Some(head) = read_head(&mut from, true) {
        let mut words = head.lines[0].split_whitespace();
        if let (Some(method), Some(target)) = (words.next(), words.next()) {
            seen.lock().unwrap().push(SeenRequest {
                method: method.to_string(),
                target: target.to_string(),
            });
            if method == "GET" {
                gets.enter();
                let ms = delay_ms.load(Ordering::Acquire);
                if ms > 0 && !target.contains('?') {
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                }
            }
            let _ = sent.send(method.to_string());
        }
        if to.write_all(head.lines.concat().as_bytes()).is_err() {
            break;
        }
        if head.chunked {
            // Not parsed further: the rest of the connection is passed on as it is.
            let _ = std::io::copy(&mut from, &mut to);
            break;
        }
        if std::io::copy(&mut (&mut from).take(head.length), &mut to).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// One HTTP head (a request's or an answer's), up to and with its blank line.
struct Head {
    lines: Vec<String>,
    /// Its Content-Length; 0 when it has none.
    length: u64,
    /// Whether it has a Transfer-Encoding, and whether one of them is chunked.
    encoded: bool,
    chunked: bool,
}

/// Reads the next head from `from`; None at the end of the stream. With `skip_blank`, blank
/// lines before it are passed over.
fn read_head(from: &mut impl BufRead, skip_blank: bool) -> Option<Head> {
    let mut head = Head {
        lines: Vec::new(),
        length: 0,
        encoded: false,
        chunked: false,
    };
    loop {
        let mut line = String::new();
        match from.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        if skip_blank && head.lines.is_empty() && line.trim().is_empty() {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            head.length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("transfer-encoding:") {
            head.encoded = true;
            head.chunked |= lower.contains("chunked");
        }
        let end = line == "\r\n" || line == "\n";
        head.lines.push(line);
        if end {
            return Some(head);
        }
    }
}

/// Passes the server's answers back one at a time (each head, then its body by Content-Length),
/// marking each GET answered once its body has gone back whole.
fn answers(
    server: TcpStream,
    client: &mut TcpStream,
    methods: std::sync::mpsc::Receiver<String>,
    gets: &InFlight,
) {
    let mut from = BufReader::new(server);
    while let Some(head) = read_head(&mut from, false) {
        let status_100 = head.lines[0].split_whitespace().nth(1) == Some("100");
        if client.write_all(head.lines.concat().as_bytes()).is_err() {
            return;
        }
        if status_100 {
            // An interim answer: the request's own answer follows.
            continue;
        }
        let method = methods.recv().unwrap_or_default();
        if head.encoded {
            // Not parsed further: the rest of the connection is passed on as it is.
            let _ = std::io::copy(&mut from, client);
            return;
        }
        let body = if method == "HEAD" { 0 } else { head.length };
        if std::io::copy(&mut (&mut from).take(body), client).is_err() {
            return;
        }
        if method == "GET" {
            gets.leave();
        }
    }
}

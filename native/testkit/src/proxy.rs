//! A TCP proxy on 127.0.0.1 in front of a test server that counts the HTTP requests passing
//! through it, so that tests can count what reached the store (GETs of an object) rather than
//! what the client says it sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
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
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.load(Ordering::Acquire) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let s = s.clone();
                std::thread::spawn(move || relay(client, server, s));
            }
        });
        CountingProxy {
            port,
            seen,
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

    pub fn reset(&self) {
        self.seen.lock().unwrap().clear();
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
fn relay(client: TcpStream, server: TcpStream, seen: Arc<Mutex<Vec<SeenRequest>>>) {
    let (Ok(mut client_w), Ok(mut server_r)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_r, &mut client_w);
        let _ = client_w.shutdown(Shutdown::Both);
    });
    let mut from = BufReader::new(client);
    let mut to = server;
    'requests: loop {
        let mut head = Vec::new();
        let mut length = 0u64;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            match from.read_line(&mut line) {
                Ok(0) | Err(_) => break 'requests,
                Ok(_) => {}
            }
            if head.is_empty() && line.trim().is_empty() {
                continue;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
            let end = line == "\r\n" || line == "\n";
            head.push(line);
            if end {
                break;
            }
        }
        let mut words = head[0].split_whitespace();
        if let (Some(method), Some(target)) = (words.next(), words.next()) {
            seen.lock().unwrap().push(SeenRequest {
                method: method.to_string(),
                target: target.to_string(),
            });
        }
        if to.write_all(head.concat().as_bytes()).is_err() {
            break;
        }
        if chunked {
            // Not parsed further: the rest of the connection is passed on as it is.
            let _ = std::io::copy(&mut from, &mut to);
            break;
        }
        if std::io::copy(&mut (&mut from).take(length), &mut to).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = back.join();
}

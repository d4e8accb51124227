//! Stores that fail the way dead ones do, for fault tests: a server on 127.0.0.1 that accepts
//! connections and never answers (`Behaviour::Silent`), and ones that answer half a response
//! and then say nothing more (`Behaviour::HalfHead`: part of a head, to every request;
//! `Behaviour::HalfBody`: a whole head promising more body than it sends, to GET). Connections
//! are held open until the server is dropped, and everything a client sends is read and
//! discarded, so after the half answer a client only ever sees silence. `Behaviour::Refuse`
//! answers every request in full, with 401: a store that refuses the client's credential.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a `FaultyServer` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Accepts and never writes a byte.
    Silent,
    /// Writes `HTTP/1.1 200 OK` and one header line, without the blank line that ends a head.
    HalfHead,
    /// Answers HEAD with a whole head (an object of 1 MiB, with ETag and Last-Modified), GET
    /// with that head and 10 bytes of the body, and anything else (PROPFIND) with 405, as a
    /// static web server would.
    HalfBody,
    /// Answers every request with `401 Unauthorized` and an empty body, as a store does that
    /// refuses the credential (GCS answers a bad token so; fake-gcs-server checks none).
    Refuse,
}

pub struct FaultyServer {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    stopping: AtomicBool,
    connections: AtomicUsize,
    open: Mutex<Vec<TcpStream>>,
}

impl FaultyServer {
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port on 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let (s, stop) = (shared.clone(), shared.clone());
        let accept = crate::wire::accept_loop(
            format!("faulty-server-{port}"),
            listener,
            move || stop.stopping.load(Ordering::SeqCst),
            move |conn| {
                s.connections.fetch_add(1, Ordering::SeqCst);
                if let Ok(keep) = conn.try_clone() {
                    s.open.lock().unwrap().push(keep);
                }
                let _ = std::thread::Builder::new()
                    .name("faulty-conn".into())
                    .spawn(move || hold(conn, behaviour));
            },
        );
        FaultyServer {
            port,
            shared,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

/// Answers each request (each head, ended by a blank line) as `behaviour` says, and reads
/// (and drops) whatever else comes until the peer leaves.
fn hold(mut conn: TcpStream, behaviour: Behaviour) {
    let mut buf = [0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = pending.drain(..end + 4).collect();
            let method = head
                .split(|b| *b == b' ')
                .next()
                .unwrap_or_default()
                .to_vec();
            if conn.write_all(reply(behaviour, &method)).is_err() {
                return;
            }
        }
        if pending.len() > 1 << 20 {
            pending.clear(); // a body: nothing to answer in it
        }
    }
}

/// What `behaviour` answers a request with `method`.
fn reply(behaviour: Behaviour, method: &[u8]) -> &'static [u8] {
    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\
        ETag: \"half\"\r\nLast-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\n\
        Accept-Ranges: bytes\r\n\r\n";
    match (behaviour, method) {
        (Behaviour::Silent, _) => b"",
        (Behaviour::HalfHead, _) => b"HTTP/1.1 200 OK\r\nContent-Type: text/pl",
        (Behaviour::HalfBody, b"HEAD") => HEAD,
        (Behaviour::HalfBody, b"GET") => {
            b"HTTP/1.1 206 Partial Content\r\n\
            Content-Length: 1048576\r\nContent-Range: bytes 0-1048575/1048576\r\n\
            ETag: \"half\"\r\nLast-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\n\r\n\
            0123456789"
        }
        (Behaviour::HalfBody, _) => b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n",
        (Behaviour::Refuse, _) => b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
    }
}

impl Drop for FaultyServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for c in self.shared.open.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        if TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1))
            .is_ok()
        {
            if let Some(t) = self.accept.take() {
                let _ = t.join();
            }
        }
    }
}

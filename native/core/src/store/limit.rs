//! `shoal.store.timeout`: how long a store that does not answer may hold a call. Every request a
//! store makes (with the retries of its client) must be answered within it, and a response
//! being read must deliver its next piece within it; when it passes, the call fails with a
//! "timed out" error (`ErrorKind::TimedOut`, on the JVM a `SocketTimeoutException`) naming the
//! store, and the store is asked nothing more for that call (no fallback request waits again).
//! A dead store therefore holds any one status, listing, read or write for at most this long.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use crate::config::fmt_duration;
use crate::error::{Error, ErrorKind, Result};

/// The timeout of one store, with the store's name for messages.
#[derive(Debug, Clone)]
pub struct Limit {
    timeout: Duration,
    store: Arc<str>,
}

impl Limit {
    /// `store` is the store as messages show it (no secrets).
    pub fn new(timeout: Duration, store: &str) -> Self {
        Limit {
            timeout,
            store: store.into(),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The error of a call that waited too long; `what` names the request and its key.
    pub fn timed_out(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::TimedOut,
            format!(
                "timed out after {} waiting for {} to answer {what} (shoal.store.timeout)",
                fmt_duration(self.timeout),
                self.store
            ),
        )
    }

    /// Waits for `fut` at most the timeout.
    pub async fn wait<F: Future>(&self, what: &str, fut: F) -> Result<F::Output> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| self.timed_out(what))
    }

    /// Runs `fut` on the runtime and waits for it at most the timeout.
    pub fn block<F>(&self, what: &str, fut: F) -> Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let limit = self.clone();
        let what = what.to_string();
        crate::runtime::block_on(async move { limit.wait(&what, fut).await })?
    }

    /// Gathers a response body, each piece within the timeout.
    pub async fn collect<S, E>(&self, what: &str, stream: S) -> Result<Bytes>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: Into<Error>,
    {
        futures::pin_mut!(stream);
        let mut first: Option<Bytes> = None;
        let mut buf = BytesMut::new();
        while let Some(piece) = self.wait(what, stream.next()).await? {
            let piece = piece.map_err(Into::into)?;
            match first.take() {
                None if buf.is_empty() => first = Some(piece),
                prev => {
                    if let Some(p) = prev {
                        buf.extend_from_slice(&p);
                    }
                    buf.extend_from_slice(&piece);
                }
            }
        }
        Ok(match first {
            Some(only) => only,
            None => buf.freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_future_times_out_and_says_so() {
        let limit = Limit::new(Duration::from_millis(50), "s3://bkt/p");
        let started = std::time::Instant::now();
        let e = limit
            .block("HEAD a/b", futures::future::pending::<()>())
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert!(e.message().contains("timed out after 50ms"), "{e}");
        assert!(e.message().contains("s3://bkt/p") && e.message().contains("HEAD a/b"));
        assert_eq!(limit.block("x", async { 7 }).unwrap(), 7);
    }

    #[test]
    fn bodies_are_gathered_piece_by_piece() {
        let limit = Limit::new(Duration::from_millis(200), "s");
        let pieces = futures::stream::iter(
            ["ab", "c", "", "def"].map(|s| Ok::<_, Error>(Bytes::from_static(s.as_bytes()))),
        );
        let all = crate::runtime::block_on(async move { limit.collect("GET", pieces).await })
            .unwrap()
            .unwrap();
        assert_eq!(&all[..], b"abcdef");
        // A body that stops after its first piece.
        let limit = Limit::new(Duration::from_millis(50), "s");
        let stalled = futures::stream::iter([Ok::<_, Error>(Bytes::from_static(b"x"))])
            .chain(futures::stream::pending());
        let e = crate::runtime::block_on(async move { limit.collect("GET k", stalled).await })
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
    }
}

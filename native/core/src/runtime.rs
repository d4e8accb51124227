//! The one tokio runtime of a process, on which every store request runs.
//!
//! Front ends call the core from their own threads (JVM threads, the CLI's main thread);
//! `block_on` runs a future as a task on the runtime's workers, so deep futures use tokio's
//! stacks and not the caller's, and waits for it.

use std::future::Future;
use std::sync::OnceLock;

use crate::error::{Error, Result};

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// Default worker count: the cores, between 2 and 16.
fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 16)
}

/// Starts the runtime with `threads` workers if it is not running yet; later calls keep the
/// first size. Returns the size in force.
pub fn init(threads: Option<usize>) -> Result<usize> {
    let want = threads.unwrap_or_else(default_threads);
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.metrics().num_workers());
    }
    // Building spawns the workers; a system that refuses threads must not take the process.
    let built = std::panic::catch_unwind(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(want)
            .thread_name("shoal-io")
            .enable_all()
            .build()
    });
    let rt = match built {
        Ok(Ok(rt)) => rt,
        Ok(Err(e)) => {
            return Err(Error::new(
                crate::ErrorKind::Other,
                format!("cannot start the runtime with {want} threads: {e}"),
            ))
        }
        Err(_) => {
            return Err(Error::new(
                crate::ErrorKind::Other,
                format!(
                    "cannot start the runtime with {want} threads \
                     (shoal.runtime.threads; the system refused)"
                ),
            ))
        }
    };
    let _ = RUNTIME.set(rt);
    Ok(RUNTIME
        .get()
        .map(|r| r.metrics().num_workers())
        .unwrap_or(want))
}

pub fn handle() -> tokio::runtime::Handle {
    if RUNTIME.get().is_none() {
        // A failure here leaves the runtime unset and is reported by the expect below.
        let _ = init(None);
    }
    RUNTIME
        .get()
        .expect("the Shoal runtime could not be started")
        .handle()
        .clone()
}

/// Runs `fut` on the runtime and waits for its output.
pub fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let h = handle();
    h.block_on(h.spawn(fut)).map_err(|e| {
        if e.is_panic() {
            let msg = e
                .into_panic()
                .downcast::<String>()
                .map(|s| *s)
                .or_else(|p| p.downcast::<&'static str>().map(|s| s.to_string()))
                .unwrap_or_else(|_| "unknown panic".to_string());
            Error::new(
                crate::ErrorKind::Panic,
                format!("a store task panicked: {msg}"),
            )
        } else {
            Error::new(crate::ErrorKind::Other, "a store task was cancelled")
        }
    })
}

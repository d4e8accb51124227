//! The one tokio runtime of a process, on which every store request runs.
//!
//! Front ends call the core from their own threads (JVM threads, the CLI's main thread);
//! `block_on` runs a future as a task on the runtime's workers, so deep futures use tokio's
//! stacks and not the caller's, and waits for it.

use std::future::Future;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// The runtime of one process. A forked child (a PyTorch DataLoader worker, a Python
/// `multiprocessing` child) inherits the parent's runtime without its worker threads, so a
/// runtime serves only the process that built it, and a child builds its own. Runtimes are
/// never dropped (as a static would not be).
struct Owned {
    pid: u32,
    runtime: tokio::runtime::Runtime,
}

static CURRENT: AtomicPtr<Owned> = AtomicPtr::new(std::ptr::null_mut());
/// Held only while a runtime is built.
static BUILDING: Mutex<()> = Mutex::new(());

fn current() -> Option<&'static tokio::runtime::Runtime> {
    // SAFETY: CURRENT is null or a leaked `Owned`, never freed.
    let owned = unsafe { CURRENT.load(Ordering::Acquire).as_ref() }?;
    (owned.pid == std::process::id()).then_some(&owned.runtime)
}

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
    if let Some(rt) = current() {
        return Ok(rt.metrics().num_workers());
    }
    let _building = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rt) = current() {
        return Ok(rt.metrics().num_workers());
    }
    let want = threads.unwrap_or_else(default_threads);
    // Building spawns the workers; a system that refuses threads must not take the process.
    let built = std::panic::catch_unwind(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(want)
            .thread_name("shoal-io")
            .enable_all()
            .build()
    });
    let runtime = match built {
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
    let owned = Box::leak(Box::new(Owned {
        pid: std::process::id(),
        runtime,
    }));
    CURRENT.store(owned, Ordering::Release);
    Ok(owned.runtime.metrics().num_workers())
}

pub fn handle() -> tokio::runtime::Handle {
    if current().is_none() {
        // A failure here leaves no runtime and is reported by the expect below.
        let _ = init(None);
    }
    current()
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

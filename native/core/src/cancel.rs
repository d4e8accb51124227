//! Cancelling a batch of cache work (`Namespace::load_files` and its siblings) from another
//! thread: a Spark task that is killed, a command interrupted.
//!
//! A batch checks its token before each file and before each page fetch it starts, and starts
//! nothing once the token is cancelled; the page fetches already in flight (at most the
//! batch's parallelism, each of at most one page) are let finish, because a page is written
//! under a temporary name and renamed into place only once whole, and because a fetch shared
//! through the cache's in-flight map must run to its end for the other readers waiting on it.
//! Every file the batch did not finish is reported with `Error::cancelled`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, ErrorKind};

/// A cancellation flag shared by the batch and whoever may stop it; clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the batches holding this token to start no more work.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The message of a file's error when its batch was cancelled before the file was done.
pub const CANCELLED: &str = "cancelled";

impl Error {
    /// The error of a file `op` did not finish because its batch was cancelled: kind `Other`,
    /// message `<op> <path>: cancelled`.
    pub fn cancelled(op: &str, path: &str) -> Self {
        Error::new(ErrorKind::Other, CANCELLED).context(op, path)
    }
}

//! The core's `tracing` events, on their way to the JVM's log (SLF4J, so log4j in Spark).
//!
//! Events are never delivered from the thread that emits them: runtime threads are not Java
//! threads, and calling into Java there would mean attaching them and resolving application
//! classes on them. Instead each event is formatted into a bounded queue here, and a Java daemon
//! thread (`io.shoal.jni.NativeLog`, started on a Java thread when the library loads) takes
//! them out with `logPoll` and logs them under `io.shoal.native.<target>` at their level.
//!
//! Every message has the secrets of the process's mounts masked (`scrub_log`). Only levels
//! the Java logger has enabled are kept (`logInit` says which). Each call site may
//! log at most `BURST` events per minute; the rest are counted, and the next event of that call
//! site that is logged says how many were left out. When the queue is full (nobody draining),
//! events are dropped and counted the same way.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Events of one call site logged per `WINDOW` before the rest are only counted.
const BURST: u32 = 20;
const WINDOW: Duration = Duration::from_secs(60);
/// Events waiting for the Java thread.
const QUEUE: usize = 1024;

/// The most verbose level delivered: 0 off, 1 error, 2 warn, 3 info, 4 debug, 5 trace.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(2);

/// One event for Java: level (1-5), target, message.
pub type Entry = (u8, String, String);

#[derive(Default)]
struct Queue {
    entries: VecDeque<Entry>,
    /// Per call site: when its window began, events logged in it, events left out.
    sites: HashMap<tracing::callsite::Identifier, (Instant, u32, u64)>,
    /// Events dropped because the queue was full.
    overflow: u64,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| Shared {
        queue: Mutex::new(Queue::default()),
        ready: Condvar::new(),
    })
}

fn level_number(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// Sets the most verbose level delivered and installs the forwarding subscriber, once per
/// process (a host that installed its own keeps it).
pub fn init(max_level: u8) {
    MAX_LEVEL.store(max_level.min(5), Ordering::Relaxed);
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(JvmLog);
    });
}

/// Waits up to `timeout` for events and takes all that are queued.
pub fn poll(timeout: Duration) -> Vec<Entry> {
    let s = shared();
    let mut q = s.queue.lock().unwrap_or_else(|p| p.into_inner());
    if q.entries.is_empty() {
        q = s
            .ready
            .wait_timeout(q, timeout)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    let mut out: Vec<Entry> = q.entries.drain(..).collect();
    if q.overflow > 0 {
        out.push((
            2,
            "shoal_jni::log".into(),
            format!(
                "{} native log events were dropped: nothing took them from the queue in time",
                q.overflow
            ),
        ));
        q.overflow = 0;
    }
    out
}

/// Renders an event's fields: the message, then `name=value` for the others.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={:?}", field.name(), value);
        }
    }
}

/// A subscriber that queues events for the JVM and keeps no spans.
struct JvmLog;

impl Subscriber for JvmLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        level_number(metadata.level()) <= MAX_LEVEL.load(Ordering::Relaxed)
    }

    fn register_callsite(
        &self,
        _metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // The level can change while the process runs (logInit): ask `enabled` every time.
        tracing::subscriber::Interest::sometimes()
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let s = shared();
        // Decided and counted under the lock; formatted outside it, since formatting a field
        // could log in turn.
        let left_out = {
            let mut q = s.queue.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let site = q.sites.entry(meta.callsite()).or_insert((now, 0, 0));
            let mut left_out = 0;
            if now.duration_since(site.0) >= WINDOW {
                left_out = site.2;
                *site = (now, 0, 0);
            }
            if site.1 >= BURST {
                site.2 += 1;
                return;
            }
            site.1 += 1;
            left_out
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut message = fields.message;
        message.push_str(&fields.rest);
        // The HTTP client's own events name hosts with their user info.
        let mut message = shoal_core::store::redact::scrub_log(&message);
        if left_out > 0 {
            let _ = write!(
                message,
                " ({left_out} more like this in the last minute were not logged)"
            );
        }
        let mut q = s.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.entries.len() >= QUEUE {
            q.overflow += 1;
            return;
        }
        q.entries.push_back((
            level_number(meta.level()),
            meta.target().to_string(),
            message,
        ));
        drop(q);
        s.ready.notify_one();
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_queued_at_enabled_levels_and_rate_limited() {
        let _ = poll(Duration::ZERO);
        let dispatch = tracing::Dispatch::new(JvmLog);
        MAX_LEVEL.store(2, Ordering::Relaxed);
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!("not delivered at warn");
            for i in 0..(BURST + 5) {
                tracing::warn!(key = "shoal.cache.dir", "unknown key {i}");
            }
        });
        let got = poll(Duration::from_millis(10));
        assert_eq!(got.len(), BURST as usize, "{got:?}");
        assert_eq!(got[0].0, 2);
        assert!(
            got[0].2.starts_with("unknown key 0 key=shoal.cache.dir"),
            "{got:?}"
        );
        assert!(got[0].1.contains("log"), "{got:?}");
        assert!(poll(Duration::from_millis(1)).is_empty());
    }
}

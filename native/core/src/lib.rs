//! shoal-core: the engine behind every Shoal front end (the JVM FileSystem, the CLI, the C
//! API, FUSE). It owns the namespace over mounted stores; it knows nothing of JNI.

/// Implements `Debug` for a type by its name and the few values that say which one it is
/// (the rest is state, or a client whose own output would be long or show secrets):
/// `debug_shows!(Type, "Name", |s| { "field": s.value, ... })`.
macro_rules! debug_shows {
    ($ty:ty, $name:literal, |$s:ident| { $($field:literal: $value:expr),+ $(,)? }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let $s = self;
                f.debug_struct($name)$(.field($field, &$value))+.finish()
            }
        }
    };
}

pub mod cache;
pub mod cancel;
pub mod conf_file;
pub mod config;
pub mod error;
pub mod metadata;
pub mod mount;
pub mod namespace;
pub mod path;
pub mod placement;
pub mod pread;
pub mod prefetch;
pub mod runtime;
pub mod stats;
pub mod store;

pub use cancel::Cancel;
pub use config::Config;
pub use error::{Error, ErrorKind, Result};
pub use namespace::{FileInfo, FileReader, FileWriter, Loaded, Namespace};

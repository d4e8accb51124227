//! shoal-core: the engine behind every Shoal front end (the JVM FileSystem, the CLI, the C
//! API, FUSE). It owns the namespace over mounted stores; it knows nothing of JNI.

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

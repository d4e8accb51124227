//! What the store servers have in common: a [`Server`] of each [`Kind`] is the kind's installed
//! tool, started per test on a free 127.0.0.1 port and stopped on drop, and the mounts over it.

use std::marker::PhantomData;
use std::path::Path;
use std::process::Command;

use crate::wire;

/// A store server of kind `K` ([`S3Server`](crate::S3Server), [`MotoServer`](crate::MotoServer),
/// [`GcsServer`](crate::GcsServer), [`AzuriteServer`](crate::AzuriteServer)).
pub struct Server<K> {
    pub(crate) process: wire::Process,
    kind: PhantomData<K>,
}

/// What one kind of [`Server`] is: its tool, its command line, and the store a mount over it
/// names.
pub trait Kind {
    /// The installed tool the server runs.
    const TOOL: wire::Tool;

    /// Adds the tool's arguments to `command`, to serve on `port` from the working
    /// directory `work`.
    fn args(command: &mut Command, port: u16, work: &Path);

    /// The store options of a mount over the server at `endpoint`
    /// (`shoal.mount.<name>.option.<key>`).
    fn options(endpoint: String) -> Vec<(&'static str, String)>;

    /// The server's endpoint, from `http://127.0.0.1:<port>`.
    fn endpoint(base: String) -> String {
        base
    }
}

impl<K: Kind> Server<K> {
    /// Starts the server. The binary is the one scripts/setup.sh installs under `.tools/`, or
    /// the one `$SHOAL_TEST_<TOOL>_BIN` names.
    pub fn start() -> Self {
        Server {
            process: wire::Process::start(K::TOOL, K::args),
            kind: PhantomData,
        }
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// `http://127.0.0.1:<port>`, and what follows it for this kind of server.
    pub fn endpoint(&self) -> String {
        K::endpoint(self.process.endpoint())
    }

    /// Configuration of a mount `name` at `path` over `<scheme>://<bucket_and_prefix>` on this
    /// server, caching into the server's own directory.
    pub fn mount_conf(
        &self,
        name: &str,
        path: &str,
        bucket_and_prefix: &str,
    ) -> Vec<(String, String)> {
        let uri = format!("{}://{bucket_and_prefix}", K::TOOL.scheme());
        let options = K::options(self.endpoint());
        self.process.mount_conf(name, path, uri, &options)
    }
}

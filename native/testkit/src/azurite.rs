//! A real Azure Blob server for tests: Azurite (from npm, installed by scripts/setup.sh into
//! `.tools/azurite`), started per test on a free 127.0.0.1 port, in memory, stopped on drop.

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use base64::Engine;

use crate::{wire, Kind, Server};

/// Azurite's well-known development account and key (public: they are in Azure's docs).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The REST API version the set-up requests speak.
const API_VERSION: &str = "2021-12-02";

/// Azurite's blob service; its working directory is empty (data stays in memory).
pub type AzuriteServer = Server<Azurite>;

/// The kind of [`AzuriteServer`].
pub struct Azurite;

impl Kind for Azurite {
    const TOOL: wire::Tool = wire::Tool::Azurite;

    fn args(c: &mut Command, port: u16, _: &Path) {
        c.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            // No disk, no telemetry; object_store may speak a newer API version than
            // this Azurite knows, which Azurite otherwise refuses.
            .args(["--inMemoryPersistence", "--disableTelemetry"])
            .args(["--skipApiVersionCheck", "--silent"]);
    }

    /// The development account and key, and this server as the account's endpoint.
    fn options(endpoint: String) -> Vec<(&'static str, String)> {
        vec![
            ("azure_storage_endpoint", endpoint),
            ("azure_storage_account_name", AZURITE_ACCOUNT.to_string()),
            ("azure_storage_account_key", AZURITE_KEY.to_string()),
            ("azure_allow_http", "true".to_string()),
        ]
    }

    /// The account's blob endpoint, `http://127.0.0.1:<port>/devstoreaccount1`.
    fn endpoint(base: String) -> String {
        format!("{base}/{AZURITE_ACCOUNT}")
    }
}

impl AzuriteServer {
    /// Creates a container (object_store cannot): one request signed with the account key.
    pub fn create_container(&self, name: &str) {
        let date = wire::http_date(SystemTime::now());
        let resource = format!("/{AZURITE_ACCOUNT}/{name}");
        // Shared Key: the canonical request, signed with HMAC-SHA256 of the decoded key.
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n\
             /{AZURITE_ACCOUNT}{resource}\nrestype:container"
        );
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &b64.decode(AZURITE_KEY).unwrap(),
        );
        let signature = b64.encode(aws_lc_rs::hmac::sign(&key, string_to_sign.as_bytes()));
        let auth = format!("SharedKey {AZURITE_ACCOUNT}:{signature}");
        let r = wire::request(
            self.process.port,
            "PUT",
            &format!("{resource}?restype=container"),
            &[
                ("x-ms-date", &date),
                ("x-ms-version", API_VERSION),
                ("Authorization", &auth),
            ],
            b"",
        )
        .unwrap_or_else(|e| panic!("create container {name} on Azurite: {e}"));
        assert_eq!(
            r.status,
            201,
            "create container {name} on Azurite: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

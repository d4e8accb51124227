//! HTTP(S) servers (`http://`, `https://`): read-only. Files are found by HEAD and read by
//! ranged GETs, which any static web server answers; listings need a WebDAV server (PROPFIND).

use std::sync::Arc;

use object_store::{http, ObjectStore};

use super::{client_defaults, redact_uri, setup_error, Backend, MountArgs};
use crate::error::{Error, Result};

/// Why an HTTP mount takes no changes.
pub(super) const READ_ONLY: &str = "http(s):// stores are read-only in Shoal";

pub(super) fn build(m: &MountArgs, url: &url::Url) -> Result<Backend> {
    let spec = m.spec;
    let base = &url[..url::Position::BeforePath];
    let b = http::HttpBuilder::new().with_url(base);
    let store = build_with_options!(
        b,
        object_store::ClientConfigKey,
        std::convert::identity,
        spec,
        m.settings,
        m.retry.clone()
    );
    Ok(Backend {
        paged: None,
        store,
        identity: format!("http|{}", redact_uri(&spec.uri)),
        markers: None,
        read_only: Some(READ_ONLY),
    })
}

//! HTTP(S) servers (`http://`, `https://`): read-only. Files are found by HEAD and read by
//! ranged GETs, which any static web server answers; listings need a WebDAV server (PROPFIND).

use object_store::http;

use super::{client_defaults, redact_uri, setup_error, Backend, Built, MountArgs};
use crate::error::{Error, Result};

pub(super) fn build(m: &MountArgs, url: &url::Url) -> Result<Built> {
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
    Ok(Built {
        paged: None,
        store,
        identity: format!("http|{}", redact_uri(&spec.uri)),
        backend: std::sync::Arc::new(Http),
    })
}

/// A web server: read-only, and listing (WebDAV) is optional.
struct Http;

impl Backend for Http {
    fn read_only(&self) -> Option<&'static str> {
        Some("http(s):// stores are read-only in Shoal")
    }

    /// Listings, if the server gives any, are WebDAV's.
    fn listings_carry_etags(&self) -> bool {
        false
    }

    /// Any failed listing but one that timed out: a server that does not answer in time is
    /// not taken for one that does not list.
    fn does_not_list(&self, e: &object_store::Error) -> bool {
        !crate::error::caused_by_timeout(e)
    }
}

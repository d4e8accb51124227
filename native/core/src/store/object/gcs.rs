//! Google Cloud Storage (`gs://`).

use object_store::gcp;

use super::{client_defaults, redact_uri, setup_error, Built, MountArgs};
use crate::error::{Error, Result};

pub(super) fn build(m: &MountArgs) -> Result<Built> {
    let (spec, uri) = (m.spec, m.spec.uri.as_str());
    let b = configured!(gcp::GoogleCloudStorageBuilder, gcp::GoogleConfigKey, m);
    let base = b
        .get_config_value(&gcp::GoogleConfigKey::BaseUrl)
        .unwrap_or_default();
    let identity = format!("gs|{}|endpoint={base}", redact_uri(uri));
    let store = b.build().map_err(|e| setup_error(spec, e))?;
    Ok(Built::plain(store, identity))
}

//! Google Cloud Storage (`gs://`).

use std::sync::Arc;

use object_store::gcp;
use object_store::ObjectStore;

use super::{client_defaults, redact_uri, setup_error, Backend};
use crate::config::{MountSpec, StoreSettings};
use crate::error::{Error, Result};

pub(super) fn build(
    spec: &MountSpec,
    settings: &StoreSettings,
    retry: object_store::RetryConfig,
) -> Result<Backend> {
    let uri = spec.uri.as_str();
    let b = configured!(
        gcp::GoogleCloudStorageBuilder,
        gcp::GoogleConfigKey,
        spec,
        settings,
        retry
    );
    let base = b
        .get_config_value(&gcp::GoogleConfigKey::BaseUrl)
        .unwrap_or_default();
    let identity = format!("gs|{}|endpoint={base}", redact_uri(uri));
    let store = Arc::new(b.build().map_err(|e| setup_error(spec, e))?);
    Ok(Backend {
        store: store as Arc<dyn ObjectStore>,
        identity,
        markers: None,
        read_only: None,
    })
}

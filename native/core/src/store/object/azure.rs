//! Azure Blob Storage (`az://`, `azure://`, `abfs://`, `abfss://`, `adl://`).

use object_store::azure;

use super::{client_defaults, redact_uri, setup_error, Built, MountArgs};
use crate::error::{Error, Result};

pub(super) fn build(m: &MountArgs) -> Result<Built> {
    let (spec, uri) = (m.spec, m.spec.uri.as_str());
    let b = configured!(azure::MicrosoftAzureBuilder, azure::AzureConfigKey, m);
    let value = |k| b.get_config_value(&k).unwrap_or_default();
    // az://container/path, azure://container/path and
    // abfs://container@account.dfs.core.windows.net/path name a container of the account the
    // options (or the URI) give, on the endpoint they give.
    let identity = format!(
        "azure|{}|account={}|endpoint={}|emulator={}",
        redact_uri(uri),
        value(azure::AzureConfigKey::AccountName),
        value(azure::AzureConfigKey::Endpoint),
        value(azure::AzureConfigKey::UseEmulator),
    );
    let store = b.build().map_err(|e| setup_error(spec, e))?;
    Ok(Built::plain(store, identity))
}

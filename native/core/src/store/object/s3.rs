//! S3 and S3-compatible servers (`s3://`, `s3a://`): the client, built from the mount's options
//! and what `fs.s3a.*` gives them (`s3a`), and S3A's directory markers (`markers`).

use std::sync::Arc;

use object_store::aws;
use object_store::list::PaginatedListStore;
use object_store::path::Path as OsPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use super::markers::S3Markers;
use super::{
    client_defaults, redact_uri, setup_error, Backend, Built, Limit, MountArgs, ObjectStoreUfs,
};
use crate::config::MountSpec;
use crate::error::{Error, Result};

pub(super) fn build(m: &MountArgs) -> Result<Built> {
    let (spec, uri) = (m.spec, m.spec.uri.as_str());
    // s3:// and s3a:// name the same objects; the bucket is the host.
    let bucket_uri = redact_uri(&uri.replacen("s3a://", "s3://", 1));
    let b = configured!(aws::AmazonS3Builder, aws::AmazonS3ConfigKey, m);
    check_s3_values(spec, &b)?;
    let value = |k| b.get_config_value(&k).unwrap_or_default();
    let endpoint = value(aws::AmazonS3ConfigKey::Endpoint);
    // AWS's bucket names are global; on another endpoint (an S3-compatible server) a bucket's
    // name may be per account (tenant), so its access key counts.
    let account = if endpoint.is_empty() {
        String::new()
    } else {
        value(aws::AmazonS3ConfigKey::AccessKeyId)
    };
    let identity = format!("s3|{bucket_uri}|endpoint={endpoint}|account={account}");
    let s3 = b.clone().build().map_err(|e| setup_error(spec, e))?;
    let markers =
        S3Markers::new(&b, s3.clone(), m.settings.max_retries).map_err(|e| setup_error(spec, e))?;
    let s3 = Arc::new(s3);
    Ok(Built {
        store: s3.clone() as Arc<dyn ObjectStore>,
        paged: Some(s3 as Arc<dyn PaginatedListStore>),
        identity,
        backend: Arc::new(S3 {
            markers: Arc::new(markers),
        }),
    })
}

/// S3: a directory made by `mkdirs` persists as S3A's marker `dir/`, which `delete` and
/// `rename` keep in step with the directory.
struct S3 {
    markers: Arc<S3Markers>,
}

impl Backend for S3 {
    fn writes_dir_markers(&self) -> bool {
        true
    }

    fn mkdir(&self, objects: &ObjectStoreUfs, key: &str) -> Result<()> {
        // Only the directory's own marker: its parents are implied by the key.
        let loc = objects.location(key)?;
        objects.limit.block(
            &format!("a directory marker write for '{key}'"),
            self.markers.put(loc),
        )?
    }

    /// The listed empty objects that are only directory markers (`d/` with no object `d`): a
    /// listing shows both as the location `d`, so each is told apart by a HEAD of `d`.
    fn markers_among(&self, objects: &ObjectStoreUfs, metas: &[&ObjectMeta]) -> Result<Vec<bool>> {
        let heads: Vec<_> = metas
            .iter()
            .map(|m| {
                let store = objects.store.clone();
                let loc = m.location.clone();
                let empty = m.size == 0;
                let limit = objects.limit.clone();
                async move {
                    if !empty {
                        return Ok(false);
                    }
                    let what = format!("a status request for '{loc}'");
                    match limit.wait(&what, store.head(&loc)).await? {
                        Ok(_) => Ok(false),
                        Err(object_store::Error::NotFound { .. }) => Ok(true),
                        Err(e) => Err(Error::from(e)),
                    }
                }
            })
            .collect();
        crate::runtime::block_on(futures::future::try_join_all(heads))?
    }

    fn put_markers(&self, limit: &Limit, dirs: &[OsPath]) -> Result<()> {
        for dst in dirs {
            let what = format!("a directory marker write for '{dst}'");
            limit.block(&what, self.markers.put(dst.clone()))??;
        }
        Ok(())
    }

    fn delete_markers(&self, limit: &Limit, mut dirs: Vec<OsPath>) -> Result<()> {
        // Deepest first, so a failure part-way leaves every remaining directory visible.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.as_ref().len()));
        for d in dirs {
            let what = format!("a directory marker delete for '{d}'");
            limit.block(&what, self.markers.delete(d))??;
        }
        Ok(())
    }
}

/// Refuses S3 settings with control characters, wherever they came from (the mount's options,
/// `fs.s3a.*`, the `AWS_*` environment): they would become HTTP headers and URLs, which the
/// client cannot build (it panicked on them). The value is never shown.
fn check_s3_values(spec: &MountSpec, b: &object_store::aws::AmazonS3Builder) -> Result<()> {
    use object_store::aws::AmazonS3ConfigKey as K;
    for key in [
        K::AccessKeyId,
        K::SecretAccessKey,
        K::Token,
        K::Region,
        K::DefaultRegion,
        K::Bucket,
        K::Endpoint,
        K::MetadataEndpoint,
        K::StsEndpoint,
        K::RoleArn,
        K::RoleSessionName,
        K::RequestPayer,
    ] {
        let bad = b
            .get_config_value(&key)
            .is_some_and(|v| v.chars().any(char::is_control));
        if bad {
            return Err(Error::config(format!(
                "mount '{}': the S3 setting {} (from shoal.mount.{}.option.*, fs.s3a.* or the \
                 AWS_* environment) contains a control character (the value is not shown)",
                spec.name,
                key.as_ref(),
                spec.name
            )));
        }
    }
    // Endpoints and the region become URLs and host names: a value the client cannot make a
    // request of panicked in it at the first request ("request valid: InvalidUri"). The
    // endpoint is a URL without secrets (they are masked if it carries user info).
    let refuse = |key: &K, why: String| {
        Err(Error::config(format!(
            "mount '{}': the S3 setting {} (from shoal.mount.{}.option.*, fs.s3a.* or the AWS_* \
             environment) {why}",
            spec.name,
            key.as_ref(),
            spec.name
        )))
    };
    for key in [K::Endpoint, K::MetadataEndpoint, K::StsEndpoint] {
        let Some(v) = b.get_config_value(&key).filter(|v| !v.is_empty()) else {
            continue;
        };
        let why = match super::s3a::http_endpoint(&v) {
            Err(why) => why,
            Ok((_, true)) if key == K::Endpoint && !allows_http(b) => format!(
                "'{}' is plain http, which the S3 client refuses unless \
                 shoal.mount.{}.option.aws_allow_http=true",
                redact_uri(&v),
                spec.name
            ),
            Ok(_) => continue,
        };
        return refuse(&key, why);
    }
    for key in [K::Region, K::DefaultRegion] {
        let Some(v) = b.get_config_value(&key) else {
            continue;
        };
        if !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return refuse(
                &key,
                format!("'{v}' is not a region name (letters, digits, '-', '_' and '.')"),
            );
        }
    }
    Ok(())
}

/// Whether the S3 client may use plain http: `aws_allow_http` says "true" (unknown, so
/// allowed, where the value is left to the environment).
fn allows_http(b: &object_store::aws::AmazonS3Builder) -> bool {
    use object_store::aws::AmazonS3ConfigKey as K;
    use object_store::ClientConfigKey as C;
    b.get_config_value(&K::Client(C::AllowHttp))
        .is_none_or(|v| v != "false")
}

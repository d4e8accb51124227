//! S3 directory markers: the zero-byte object `dir/` that S3A (and the S3 console) write for an
//! empty directory. object_store names objects by `Path`, which cannot end in `/`, so the
//! markers are written and deleted here with requests of our own, signed with the store's own
//! credentials, region and client settings, at the address object_store would use for a key
//! under the directory (so path-style and virtual-hosted buckets both work).
//!
//! Reading needs nothing of this module: object_store lists a marker `dir/` as the location
//! `dir`, so a listing of the prefix `dir/` that finds it shows that the directory exists.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::client::{HttpClient, HttpConnector, HttpRequestBody, ReqwestConnector};
use object_store::path::Path as OsPath;
use object_store::signer::Signer;
use object_store::{ClientConfigKey, ClientOptions};

use crate::error::{Error, ErrorKind, Result};

/// Writes and deletes `dir/` markers in one S3 bucket.
#[derive(Debug)]
pub(super) struct S3Markers {
    s3: AmazonS3,
    client: HttpClient,
    region: String,
    request_payer: bool,
    skip_signature: bool,
    max_retries: usize,
}

/// The client settings object_store's own requests use, copied from the store's builder.
const CLIENT_KEYS: &[ClientConfigKey] = &[
    ClientConfigKey::AllowHttp,
    ClientConfigKey::AllowInvalidCertificates,
    ClientConfigKey::ConnectTimeout,
    ClientConfigKey::Timeout,
    ClientConfigKey::ProxyUrl,
    ClientConfigKey::ProxyCaCertificate,
    ClientConfigKey::ProxyExcludes,
    ClientConfigKey::UserAgent,
];

impl S3Markers {
    pub(super) fn new(
        builder: &AmazonS3Builder,
        s3: AmazonS3,
        max_retries: usize,
    ) -> object_store::Result<Self> {
        let mut options = ClientOptions::new();
        for k in CLIENT_KEYS {
            if let Some(v) = builder.get_config_value(&AmazonS3ConfigKey::Client(*k)) {
                options = options.with_config(*k, v);
            }
        }
        let flag = |k: AmazonS3ConfigKey| {
            builder
                .get_config_value(&k)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        };
        Ok(S3Markers {
            client: ReqwestConnector::default().connect(&options)?,
            region: builder
                .get_config_value(&AmazonS3ConfigKey::Region)
                .unwrap_or_else(|| "us-east-1".to_string()),
            request_payer: flag(AmazonS3ConfigKey::RequestPayer),
            skip_signature: flag(AmazonS3ConfigKey::SkipSignature),
            s3,
            max_retries,
        })
    }

    /// The URL of the marker of the directory `dir` (a location, never the bucket root).
    async fn url(&self, dir: &OsPath) -> Result<url::Url> {
        // object_store's address of a child of `dir`, less the child's name and the signature.
        let probe = dir.clone().join("m");
        let mut url = self
            .s3
            .signed_url(http::Method::PUT, &probe, Duration::from_secs(60))
            .await?;
        url.set_query(None);
        let path = url.path().to_string();
        let Some(dir_path) = path.strip_suffix('m') else {
            return Err(Error::new(
                ErrorKind::Other,
                format!("unexpected object URL {path} for a directory marker"),
            ));
        };
        url.set_path(dir_path);
        Ok(url)
    }

    /// Sends one empty-bodied request for the marker of `dir`; `ok` says which statuses succeed.
    async fn send(&self, method: http::Method, dir: &OsPath, ok: &[u16]) -> Result<()> {
        let url = self.url(dir).await?;
        let mut attempt = 0;
        loop {
            let mut request = http::Request::builder()
                .method(method.clone())
                .uri(url.as_str())
                .header(http::header::CONTENT_LENGTH, "0")
                .body(HttpRequestBody::empty())
                .map_err(|e| Error::new(ErrorKind::Other, format!("marker request: {e}")))?;
            if !self.skip_signature {
                let credential = self.s3.credentials().get_credential().await?;
                AwsAuthorizer::new(&credential, "s3", &self.region)
                    .with_request_payer(self.request_payer)
                    .try_authorize(&mut request, None)?;
            }
            let failure = match self.client.execute(request).await {
                Ok(response) => {
                    let status = response.status();
                    if ok.contains(&status.as_u16()) {
                        return Ok(());
                    }
                    let body = response.into_body().bytes().await.unwrap_or_default();
                    let text = String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
                    let kind = match status.as_u16() {
                        401 | 403 => ErrorKind::PermissionDenied,
                        404 => ErrorKind::NotFound,
                        _ => ErrorKind::Other,
                    };
                    let e = Error::new(
                        kind,
                        format!("{method} directory marker {dir}/: HTTP {status}: {text}"),
                    );
                    if !status.is_server_error() {
                        return Err(e);
                    }
                    e
                }
                Err(e) => Error::new(
                    ErrorKind::Other,
                    format!("{method} directory marker {dir}/: {e}"),
                ),
            };
            if attempt >= self.max_retries {
                return Err(failure);
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
        }
    }

    /// Writes the marker `dir/`: an empty object, as S3A writes it.
    pub(super) fn put(self: &Arc<Self>, dir: OsPath) -> BoxFuture<'static, Result<()>> {
        let this = self.clone();
        async move { this.send(http::Method::PUT, &dir, &[200]).await }.boxed()
    }

    /// Deletes the marker `dir/`; one that is not there is no error.
    pub(super) fn delete(self: &Arc<Self>, dir: OsPath) -> BoxFuture<'static, Result<()>> {
        let this = self.clone();
        async move {
            this.send(http::Method::DELETE, &dir, &[200, 204, 404])
                .await
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker_url(builder: AmazonS3Builder, dir: &str) -> String {
        let builder = builder
            .with_bucket_name("bkt")
            .with_region("eu-west-1")
            .with_access_key_id("id")
            .with_secret_access_key("secret");
        let s3 = builder.clone().build().unwrap();
        let markers = Arc::new(S3Markers::new(&builder, s3, 0).unwrap());
        let dir = OsPath::parse(dir).unwrap();
        crate::runtime::block_on(async move { markers.url(&dir).await })
            .unwrap()
            .unwrap()
            .to_string()
    }

    #[test]
    fn marker_urls_are_the_directory_key_with_a_trailing_slash() {
        // Path-style, as S3-compatible servers are addressed.
        let path_style = AmazonS3Builder::new()
            .with_endpoint("http://127.0.0.1:9000")
            .with_allow_http(true);
        assert_eq!(
            marker_url(path_style.clone(), "p/d"),
            "http://127.0.0.1:9000/bkt/p/d/"
        );
        // Segments are encoded as object_store encodes every other key.
        assert_eq!(
            marker_url(path_style, "p/a b"),
            "http://127.0.0.1:9000/bkt/p/a%20b/"
        );
        // AWS, path-style (object_store's default) and virtual-hosted (S3A's).
        assert_eq!(
            marker_url(AmazonS3Builder::new(), "p/d"),
            "https://s3.eu-west-1.amazonaws.com/bkt/p/d/"
        );
        assert_eq!(
            marker_url(
                AmazonS3Builder::new().with_virtual_hosted_style_request(true),
                "p/d"
            ),
            "https://bkt.s3.eu-west-1.amazonaws.com/p/d/"
        );
    }
}

//! Hadoop S3A configuration for `s3://` and `s3a://` mounts: a cluster set up for S3A keeps its
//! `fs.s3a.*` keys, and Shoal's S3 mounts use them as store options, so no new secrets are needed.
//!
//! | S3A key | store option |
//! |---|---|
//! | `fs.s3a.access.key`, `fs.s3a.secret.key`, `fs.s3a.session.token` | `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token` |
//! | `fs.s3a.endpoint` (+ `fs.s3a.connection.ssl.enabled`, `fs.s3a.path.style.access`) | `aws_endpoint`, `aws_allow_http`, `aws_virtual_hosted_style_request` |
//! | `fs.s3a.endpoint.region` | `aws_region` |
//!
//! As in S3A, `fs.s3a.bucket.<bucket>.<key>` overrides `fs.s3a.<key>` for that bucket. A mount's
//! own `shoal.mount.<name>.option.*` wins, group by group: a mount that sets any credential
//! option takes no S3A credential, one that sets an endpoint takes nothing of S3A's endpoint
//! (nor its scheme or addressing style), one that sets a region takes no S3A region.
//!
//! An endpoint without a scheme gets `https://`, or `http://` where
//! `fs.s3a.connection.ssl.enabled` is `false`; an `http://` endpoint allows plain HTTP. Without
//! `fs.s3a.path.style.access=true`, requests are virtual-hosted (`<bucket>.<endpoint host>`), as
//! S3A sends them. Values are never put in messages: only key names, and endpoints.

use crate::config::MountSpec;
use crate::error::{Error, Result};

pub const PREFIX: &str = "fs.s3a.";

/// The groups of S3 store options, each taken whole from the mount or from S3A.
const CREDENTIALS: &[&str] = &["access_key_id", "secret_access_key", "session_token"];
const ENDPOINT: &[&str] = &["endpoint", "allow_http", "virtual_hosted_style_request"];
const REGION: &[&str] = &["region"];

/// The S3 option an object_store key name (any of its aliases) sets, for the keys S3A maps.
fn canonical(option: &str) -> Option<&'static str> {
    let k = option.to_ascii_lowercase();
    let k = k.strip_prefix("aws_").unwrap_or(&k);
    Some(match k {
        "access_key_id" => "access_key_id",
        "secret_access_key" => "secret_access_key",
        "session_token" | "token" => "session_token",
        "endpoint" | "endpoint_url" => "endpoint",
        "allow_http" => "allow_http",
        "virtual_hosted_style_request" => "virtual_hosted_style_request",
        "region" | "default_region" => "region",
        _ => return None,
    })
}

/// Where an S3A key is read for one bucket: the per-bucket key first, as S3A does.
struct BucketKeys<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    bucket: &'a str,
}

impl BucketKeys<'_> {
    /// The value and the key it came from; empty values count as unset.
    fn get(&self, suffix: &str) -> Option<(String, String)> {
        let per_bucket = format!("{PREFIX}bucket.{}.{suffix}", self.bucket);
        let base = format!("{PREFIX}{suffix}");
        [per_bucket, base].into_iter().find_map(|key| {
            let value = (self.get)(&key).filter(|v| !v.is_empty())?;
            Some((value, key))
        })
    }

    fn get_bool(&self, suffix: &str, default: bool) -> Result<bool> {
        match self.get(suffix) {
            None => Ok(default),
            Some((v, _)) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some((v, _)) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some((v, key)) => Err(Error::config(format!(
                "{key} must be true or false, not '{v}'"
            ))),
        }
    }
}

/// Adds to an `s3://` or `s3a://` mount's options what the S3A keys give it (`get` looks a key
/// up in the configuration), where the mount does not set that group itself. Other mounts are
/// left alone.
pub fn apply(get: &dyn Fn(&str) -> Option<String>, spec: &mut MountSpec) -> Result<()> {
    let Ok(url) = url::Url::parse(&spec.uri) else {
        return Ok(()); // the store reports a URI it cannot parse
    };
    if !matches!(url.scheme(), "s3" | "s3a") {
        return Ok(());
    }
    let Some(bucket) = url.host_str().filter(|b| !b.is_empty()) else {
        return Ok(());
    };
    let keys = BucketKeys { get, bucket };
    // Values become HTTP headers and URLs: control characters are refused, never shown.
    for suffix in [
        "access.key",
        "secret.key",
        "session.token",
        "endpoint",
        "endpoint.region",
    ] {
        if let Some((v, key)) = keys.get(suffix) {
            if v.chars().any(char::is_control) {
                return Err(Error::config(format!(
                    "{key} contains a control character (the value is not shown)"
                )));
            }
        }
    }
    let set_by_mount = |group: &[&str]| {
        spec.options
            .keys()
            .filter_map(|k| canonical(k))
            .any(|c| group.contains(&c))
    };
    let mut add: Vec<(&str, String)> = Vec::new();

    if !set_by_mount(CREDENTIALS) {
        for (suffix, option) in [
            ("access.key", "aws_access_key_id"),
            ("secret.key", "aws_secret_access_key"),
            ("session.token", "aws_session_token"),
        ] {
            if let Some((v, _)) = keys.get(suffix) {
                add.push((option, v));
            }
        }
    }

    if !set_by_mount(ENDPOINT) {
        if let Some((endpoint, key)) = keys.get("endpoint") {
            let ssl = keys.get_bool("connection.ssl.enabled", true)?;
            let path_style = keys.get_bool("path.style.access", false)?;
            let (url, http) = endpoint_url(&endpoint, ssl, bucket, path_style)
                .map_err(|why| Error::config(format!("{key}: {why}")))?;
            add.push(("aws_endpoint", url));
            add.push((
                "aws_virtual_hosted_style_request",
                (!path_style).to_string(),
            ));
            if http {
                add.push(("aws_allow_http", "true".to_string()));
            }
        }
    }

    if !set_by_mount(REGION) {
        if let Some((v, _)) = keys.get("endpoint.region") {
            add.push(("aws_region", v));
        }
    }

    for (k, v) in add {
        spec.options.insert(k.to_string(), v);
    }
    Ok(())
}

/// An http(s) URL with a host, as an S3 endpoint must be: the URL, and whether it is plain
/// http. The error says why not; it shows the value only where it parses, user info masked.
pub(super) fn http_endpoint(text: &str) -> std::result::Result<(url::Url, bool), String> {
    let url =
        url::Url::parse(text).map_err(|e| format!("is not a URL ({e}; the value is not shown)"))?;
    let shown = crate::store::redact_uri(text);
    let http = match url.scheme() {
        "http" => true,
        "https" => false,
        other => {
            return Err(format!(
                "'{shown}' has scheme '{other}'; expected http or https"
            ))
        }
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{shown}' names no host"));
    }
    Ok((url, http))
}

/// The endpoint URL object_store wants, and whether it is plain HTTP. Virtual-hosted requests
/// go to `<bucket>.<host>`; object_store takes such an endpoint as the bucket's own.
fn endpoint_url(
    endpoint: &str,
    ssl: bool,
    bucket: &str,
    path_style: bool,
) -> std::result::Result<(String, bool), String> {
    let text = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("{}://{endpoint}", if ssl { "https" } else { "http" })
    };
    let shown = crate::store::redact_uri(&text);
    let (mut url, http) = http_endpoint(&text).map_err(|why| format!("endpoint {why}"))?;
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(format!(
            "endpoint '{shown}' may not carry user information or a query"
        ));
    }
    let host = url.host_str().unwrap_or_default().to_string();
    if !path_style {
        url.set_host(Some(&format!("{bucket}.{host}")))
            .map_err(|e| format!("endpoint '{shown}' cannot take the bucket as a host ({e})"))?;
    }
    Ok((url.as_str().trim_end_matches('/').to_string(), http))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn options(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        let config = Config::from_pairs(pairs.iter().copied());
        let mounts = config.mounts().unwrap();
        assert_eq!(mounts.len(), 1);
        mounts.into_iter().next().unwrap().options
    }

    const MOUNT: [(&str, &str); 2] = [
        ("shoal.mount.d.path", "/d"),
        ("shoal.mount.d.uri", "s3a://bucket/prefix"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v = MOUNT.to_vec();
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn s3a_keys_become_store_options() {
        let o = options(&with(&[
            ("fs.s3a.access.key", "AK"),
            ("fs.s3a.secret.key", "SK"),
            ("fs.s3a.session.token", "TOKEN"),
            ("fs.s3a.endpoint", "minio.local:9000"),
            ("fs.s3a.path.style.access", "true"),
            ("fs.s3a.endpoint.region", "eu-west-1"),
            ("fs.s3a.connection.maximum", "96"),
        ]));
        assert_eq!(o["aws_access_key_id"], "AK");
        assert_eq!(o["aws_secret_access_key"], "SK");
        assert_eq!(o["aws_session_token"], "TOKEN");
        // No scheme and SSL on by default: https.
        assert_eq!(o["aws_endpoint"], "https://minio.local:9000");
        assert_eq!(o["aws_virtual_hosted_style_request"], "false");
        assert!(!o.contains_key("aws_allow_http"));
        assert_eq!(o["aws_region"], "eu-west-1");
        assert_eq!(o.len(), 6, "{o:?}");
    }

    #[test]
    fn endpoint_scheme_and_addressing() {
        // SSL off: http, and plain HTTP allowed.
        let o = options(&with(&[
            ("fs.s3a.endpoint", "127.0.0.1:9000"),
            ("fs.s3a.connection.ssl.enabled", "false"),
            ("fs.s3a.path.style.access", "true"),
        ]));
        assert_eq!(o["aws_endpoint"], "http://127.0.0.1:9000");
        assert_eq!(o["aws_allow_http"], "true");
        // An http:// endpoint is plain HTTP whatever ssl.enabled says.
        let o = options(&with(&[
            ("fs.s3a.endpoint", "http://s3.example.com/"),
            ("fs.s3a.path.style.access", "true"),
        ]));
        assert_eq!(o["aws_endpoint"], "http://s3.example.com");
        assert_eq!(o["aws_allow_http"], "true");
        // Virtual-hosted by default, as S3A: the bucket becomes part of the host.
        let o = options(&with(&[("fs.s3a.endpoint", "s3.eu-west-1.amazonaws.com")]));
        assert_eq!(
            o["aws_endpoint"],
            "https://bucket.s3.eu-west-1.amazonaws.com"
        );
        assert_eq!(o["aws_virtual_hosted_style_request"], "true");
    }

    #[test]
    fn per_bucket_keys_override_the_base_ones() {
        let o = options(&with(&[
            ("fs.s3a.access.key", "BASE"),
            ("fs.s3a.secret.key", "BASE-SECRET"),
            ("fs.s3a.bucket.bucket.access.key", "BUCKET"),
            ("fs.s3a.bucket.bucket.secret.key", "BUCKET-SECRET"),
            ("fs.s3a.bucket.other.endpoint", "other.example.com"),
            ("fs.s3a.bucket.bucket.endpoint.region", "ap-south-1"),
            ("fs.s3a.endpoint.region", "us-west-2"),
        ]));
        assert_eq!(o["aws_access_key_id"], "BUCKET");
        assert_eq!(o["aws_secret_access_key"], "BUCKET-SECRET");
        assert_eq!(o["aws_region"], "ap-south-1");
        // Another bucket's endpoint is not this one's.
        assert!(!o.contains_key("aws_endpoint"));
    }

    #[test]
    fn mount_options_win_group_by_group() {
        let o = options(&with(&[
            ("shoal.mount.d.option.access_key_id", "MOUNT"),
            ("shoal.mount.d.option.aws_secret_access_key", "MOUNT-SECRET"),
            ("shoal.mount.d.option.endpoint", "http://10.0.0.1:9000"),
            ("shoal.mount.d.option.aws_default_region", "us-east-2"),
            ("fs.s3a.access.key", "AK"),
            ("fs.s3a.secret.key", "SK"),
            ("fs.s3a.session.token", "TOKEN"),
            ("fs.s3a.endpoint", "minio.local:9000"),
            ("fs.s3a.path.style.access", "false"),
            ("fs.s3a.endpoint.region", "eu-west-1"),
        ]));
        // The mount's credentials are whole: no S3A token mixed into them.
        assert_eq!(o["access_key_id"], "MOUNT");
        assert!(!o.contains_key("aws_access_key_id"));
        assert!(!o.contains_key("aws_session_token"));
        // Its endpoint, with no S3A addressing style forced on it.
        assert_eq!(o["endpoint"], "http://10.0.0.1:9000");
        assert!(!o.contains_key("aws_endpoint"));
        assert!(!o.contains_key("aws_virtual_hosted_style_request"));
        assert!(!o.contains_key("aws_region"));
        assert_eq!(o.len(), 4, "{o:?}");
    }

    #[test]
    fn other_stores_are_left_alone() {
        for uri in ["gs://bucket/x", "file:///tmp", "az://c/x"] {
            let c = Config::from_pairs([
                ("shoal.mount.d.path", "/d"),
                ("shoal.mount.d.uri", uri),
                ("fs.s3a.access.key", "AK"),
                ("fs.s3a.endpoint", "minio.local"),
            ]);
            assert!(c.mounts().unwrap()[0].options.is_empty(), "{uri}");
        }
        // An s3:// mount without S3A keys gets nothing either.
        assert!(options(&MOUNT).is_empty());
    }

    #[test]
    fn bad_values_name_the_key_never_a_secret() {
        let cases = [
            (
                ("fs.s3a.path.style.access", "maybe"),
                "fs.s3a.path.style.access must be true or false",
            ),
            (
                ("fs.s3a.bucket.bucket.connection.ssl.enabled", "yes"),
                "fs.s3a.bucket.bucket.connection.ssl.enabled",
            ),
            (
                ("fs.s3a.endpoint", "ftp://host"),
                "fs.s3a.endpoint: endpoint 'ftp://host/' has scheme 'ftp'",
            ),
            (
                ("fs.s3a.endpoint", "http://user:S3CRET@host:1"),
                "may not carry user information",
            ),
            (("fs.s3a.endpoint", "https://"), "fs.s3a.endpoint"),
        ];
        for (pair, expect) in cases {
            let mut pairs = with(&[("fs.s3a.secret.key", "S3CRET"), pair]);
            if pair.0 != "fs.s3a.endpoint" {
                pairs.push(("fs.s3a.endpoint", "minio.local"));
            }
            let e = Config::from_pairs(pairs).mounts().unwrap_err();
            assert!(e.message().contains(expect), "{e} should say {expect}");
            assert!(!e.message().contains("S3CRET"), "secret leaked: {e}");
        }
    }
}

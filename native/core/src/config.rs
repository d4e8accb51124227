//! Configuration: the `shoal.*` key/value pairs a front end hands over (Hadoop configuration on
//! the JVM, a file or flags for the CLI), and the mount specifications parsed from them.
//!
//! Mount keys: `shoal.mount.<name>.path`, `.uri`, `.readonly`, `.option.<store key>`. Mount
//! names contain no dots. Unknown mount attributes are errors, so typos do not pass silently.
//! S3 mounts also take Hadoop S3A's `fs.s3a.*` keys (see `s3a`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

pub const MOUNT_PREFIX: &str = "shoal.mount.";

/// All configuration pairs, sorted by key.
#[derive(Clone, Default)]
pub struct Config {
    entries: BTreeMap<String, String>,
}

impl Config {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut c = Config::new();
        for (k, v) in pairs {
            c.set(k, v);
        }
        c
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries.insert(key.into(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|s| s.trim())
    }

    /// A boolean key; absent means `default`.
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(Error::config(format!(
                "{key} must be true or false, not '{v}'"
            ))),
        }
    }

    /// A size with an optional k/m/g/t suffix (powers of 1024); absent means `default`.
    pub fn get_size(&self, key: &str, default: u64) -> Result<u64> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) => parse_size(v).map_err(|e| Error::config(format!("{key}: {e}"))),
        }
    }

    /// A positive count; absent means `default`.
    pub fn get_usize(&self, key: &str, default: usize) -> Result<usize> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::config(format!("{key} must be a positive integer, not '{v}'"))
            }),
        }
    }

    /// A duration such as `500ms`, `30s`, `5m`, `1h` (a bare number is seconds).
    pub fn get_duration(&self, key: &str, default: Duration) -> Result<Duration> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) => parse_duration(v).map_err(|e| Error::config(format!("{key}: {e}"))),
        }
    }

    /// How store clients behave, from `shoal.store.*`.
    pub fn store_settings(&self) -> Result<StoreSettings> {
        let d = StoreSettings::default();
        Ok(StoreSettings {
            max_retries: match self.get("shoal.store.max.retries") {
                None | Some("") => d.max_retries,
                Some(v) => v.parse().map_err(|_| {
                    Error::config(format!(
                        "shoal.store.max.retries must be a whole number, not '{v}'"
                    ))
                })?,
            },
            retry_timeout: self.get_duration("shoal.store.retry.timeout", d.retry_timeout)?,
        })
    }

    /// The mounts this configuration declares, in name order.
    pub fn mounts(&self) -> Result<Vec<MountSpec>> {
        let mut specs: BTreeMap<&str, MountSpec> = BTreeMap::new();
        for (key, value) in &self.entries {
            let Some(rest) = key.strip_prefix(MOUNT_PREFIX) else {
                continue;
            };
            let Some((name, attr)) = rest.split_once('.') else {
                return Err(Error::config(format!(
                    "configuration key '{key}' names no mount attribute; \
                     expected {MOUNT_PREFIX}<name>.path|uri|readonly|option.<key>"
                )));
            };
            if name.is_empty() {
                return Err(Error::config(format!(
                    "configuration key '{key}' has an empty mount name"
                )));
            }
            let spec = specs.entry(name).or_insert_with(|| MountSpec {
                name: name.to_string(),
                ..MountSpec::default()
            });
            let value = value.trim();
            match attr {
                "path" => spec.path = value.to_string(),
                "uri" => spec.uri = value.to_string(),
                "readonly" => spec.readonly = self.get_bool(key, false)?,
                "immutable" => spec.immutable = self.get_bool(key, false)?,
                "cache" => spec.cache = Some(self.get_bool(key, true)?),
                "write" => {
                    spec.cache_writes = match value.to_ascii_lowercase().replace('_', "-").as_str()
                    {
                        "through" => false,
                        "cache-through" => true,
                        _ => {
                            return Err(Error::config(format!(
                                "{key}={value}: expected through (written data goes to the \
                                 store only) or cache-through (and into the node cache)"
                            )))
                        }
                    }
                }
                _ => match attr.strip_prefix("option.") {
                    Some(opt) if !opt.is_empty() => {
                        spec.options.insert(opt.to_string(), value.to_string());
                    }
                    _ => {
                        return Err(Error::config(format!(
                            "unknown mount attribute in '{key}'; expected path, uri, readonly, \
                             immutable, cache, write or option.<key> (mount names contain no \
                             dots)"
                        )))
                    }
                },
            }
        }
        let mut out = Vec::with_capacity(specs.len());
        for (name, mut spec) in specs {
            if spec.path.is_empty() {
                return Err(Error::config(format!(
                    "mount '{name}' has no {MOUNT_PREFIX}{name}.path"
                )));
            }
            if spec.uri.is_empty() {
                return Err(Error::config(format!(
                    "mount '{name}' has no {MOUNT_PREFIX}{name}.uri"
                )));
            }
            // s3:// and s3a:// mounts take what the mount does not set from fs.s3a.* keys.
            crate::s3a::apply(self, &mut spec)?;
            out.push(spec);
        }
        Ok(out)
    }
}

/// Never prints values: they may hold secrets.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.entries.keys()).finish()
    }
}

/// One mount as configured.
#[derive(Clone, Default)]
pub struct MountSpec {
    pub name: String,
    pub path: String,
    pub uri: String,
    pub readonly: bool,
    /// The data never changes: its metadata never expires from the metadata cache.
    pub immutable: bool,
    /// Whether reads are cached; unset means yes, except for `file://` mounts.
    pub cache: Option<bool>,
    /// Written files also land in the node cache (`write=cache-through`; default `through`).
    pub cache_writes: bool,
    /// Store options by object_store's key names, with those taken from `fs.s3a.*` for S3
    /// mounts; may hold secrets.
    pub options: BTreeMap<String, String>,
}

/// Never prints option values.
impl fmt::Debug for MountSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MountSpec")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("uri", &self.uri)
            .field("readonly", &self.readonly)
            .field("immutable", &self.immutable)
            .field("cache", &self.cache)
            .field("cache_writes", &self.cache_writes)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Settings shared by every store client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// Retries of a failed request (throttling, server errors, broken connections).
    pub max_retries: usize,
    /// No retry starts once this much time has passed since the first attempt.
    pub retry_timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            max_retries: 4,
            retry_timeout: Duration::from_secs(60),
        }
    }
}

/// Parses `250ms`, `30s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim().to_ascii_lowercase();
    let (num, unit) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t.as_str(), 1.0)
    };
    let bad = || format!("'{text}' is not a duration (use e.g. 500ms, 30s, 5m, 1h)");
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(n * unit))
}

/// Parses `512`, `64k`, `1.5g`, `200G`, `10mb`, `1t` (powers of 1024).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1u64 << 20),
        Some('g') => (&t[..t.len() - 1], 1u64 << 30),
        Some('t') => (&t[..t.len() - 1], 1u64 << 40),
        _ => (t, 1u64),
    };
    let bad = || format!("'{text}' is not a size (use a number with an optional k, m, g or t)");
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("200G").unwrap(), 200 << 30);
        assert_eq!(parse_size("1.5m").unwrap(), 3 << 19);
        assert_eq!(parse_size("10mb").unwrap(), 10 << 20);
        assert!(parse_size("-1").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("soon").is_err());
        let c = Config::from_pairs([("shoal.store.max.retries", "x")]);
        assert!(c
            .store_settings()
            .unwrap_err()
            .message()
            .contains("max.retries"));
    }

    #[test]
    fn mounts_parse_with_options() {
        let c = Config::from_pairs([
            ("shoal.mount.data.path", "/data"),
            ("shoal.mount.data.uri", "s3://bucket/prefix"),
            ("shoal.mount.data.option.aws_region", "us-east-1"),
            ("shoal.mount.data.readonly", "true"),
            ("shoal.other.key", "x"),
        ]);
        let m = c.mounts().unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "data");
        assert_eq!(m[0].path, "/data");
        assert!(m[0].readonly);
        assert_eq!(m[0].options["aws_region"], "us-east-1");
    }

    #[test]
    fn mount_errors_name_the_key() {
        let c = Config::from_pairs([("shoal.mount.data.path", "/data")]);
        let e = c.mounts().unwrap_err();
        assert!(e.message().contains("shoal.mount.data.uri"), "{e}");
        let c = Config::from_pairs([("shoal.mount.data.pth", "/data")]);
        assert!(c
            .mounts()
            .unwrap_err()
            .message()
            .contains("shoal.mount.data.pth"));
        let c = Config::from_pairs([
            ("shoal.mount.d.path", "/d"),
            ("shoal.mount.d.uri", "file:///tmp"),
            ("shoal.mount.d.readonly", "yes"),
        ]);
        assert!(c.mounts().unwrap_err().message().contains("true or false"));
    }

    #[test]
    fn debug_hides_secret_values() {
        let c = Config::from_pairs([
            ("shoal.mount.s.path", "/s"),
            ("shoal.mount.s.uri", "s3://b"),
            ("shoal.mount.s.option.aws_secret_access_key", "SECRET123"),
        ]);
        assert!(!format!("{c:?}").contains("SECRET123"));
        assert!(!format!("{:?}", c.mounts().unwrap()).contains("SECRET123"));
    }
}

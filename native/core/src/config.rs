//! Configuration: the `shoal.*` key/value pairs a front end hands over (Hadoop configuration on
//! the JVM, a file or flags for the CLI), and the mount specifications parsed from them.
//!
//! Mount keys: `shoal.mount.<name>.path`, `.uri`, `.readonly`, `.option.<store key>`. Mount
//! names contain no dots. Unknown mount attributes are errors, so typos do not pass silently;
//! other unknown `shoal.*` keys are warnings naming the closest known key (`keys`), since Spark
//! users pass many keys around. S3 mounts also take Hadoop S3A's `fs.s3a.*` keys (see `store::s3a`).
//!
//! Values: surrounding ASCII whitespace is ignored, and an empty value means the key is unset.
//! Sizes and durations have one grammar each (`parse_size`, `parse_duration`), the size grammar
//! shared with the JVM side (`io.shoal.conf.Sizes`, tested against `tests/vectors/sizes.txt`).
//! Every value outside its key's range (`keys::KEYS`) is an error naming the key.

pub mod keys;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};
use keys::Kind;

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

    /// The value of `key` without surrounding ASCII whitespace.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|s| trim_ascii(s))
    }

    /// The value of `key`, `None` when it is absent or empty.
    fn value(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A boolean key; absent means `default`.
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.value(key) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(Error::config(format!(
                "{key} must be true or false, not {}",
                shown(v)
            ))),
        }
    }

    /// A size (`parse_size`), within the key's range in `keys::KEYS`; absent means `default`.
    pub fn get_size(&self, key: &str, default: u64) -> Result<u64> {
        self.get_within(key, default, parse_size, fmt_size, |kind| match kind {
            Kind::Size { min, max } => Some((min, max)),
            _ => None,
        })
    }

    /// A value that `parse` reads, within the range `range` finds in the key's kind in
    /// `keys::KEYS` (any value for keys not in it), shown by `fmt` in the error; absent means
    /// `default`.
    fn get_within<T: PartialOrd + Copy, E: std::fmt::Display>(
        &self,
        key: &str,
        default: T,
        parse: impl Fn(&str) -> std::result::Result<T, E>,
        fmt: impl Fn(T) -> String,
        range: impl Fn(Kind) -> Option<(T, T)>,
    ) -> Result<T> {
        let Some(v) = self.value(key) else {
            return Ok(default);
        };
        let n = parse(v).map_err(|e| Error::config(format!("{key}: {e}")))?;
        if let Some((min, max)) = keys::lookup(key).and_then(|k| range(k.kind)) {
            if !(min..=max).contains(&n) {
                return Err(Error::config(format!(
                    "{key} must be between {} and {}, not {}",
                    fmt(min),
                    fmt(max),
                    shown(v)
                )));
            }
        }
        Ok(n)
    }

    /// A whole number within the key's range in `keys::KEYS` (at least 1 for keys not in it);
    /// absent means `default`.
    pub fn get_count(&self, key: &str, default: u64) -> Result<u64> {
        let Some(v) = self.value(key) else {
            return Ok(default);
        };
        let (min, max) = match keys::lookup(key).map(|k| k.kind) {
            Some(Kind::Count { min, max }) => (min, max),
            _ => (1, keys::MAX_SIZE),
        };
        let range = || {
            Error::config(format!(
                "{key} must be a whole number between {min} and {max}, not {}",
                shown(v)
            ))
        };
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(range());
        }
        match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(range()),
        }
    }

    /// `get_count` as a `usize`.
    pub fn get_usize(&self, key: &str, default: usize) -> Result<usize> {
        let n = self.get_count(key, default as u64)?;
        usize::try_from(n).map_err(|_| Error::config(format!("{key}: {n} is too large")))
    }

    /// A duration (`parse_duration`), within the key's range in `keys::KEYS`; absent means
    /// `default`.
    pub fn get_duration(&self, key: &str, default: Duration) -> Result<Duration> {
        self.get_within(
            key,
            default,
            parse_duration,
            fmt_duration,
            |kind| match kind {
                Kind::Duration { min, max } => Some((min, max)),
                _ => None,
            },
        )
    }

    /// How store clients behave, from `shoal.store.*`.
    pub fn store_settings(&self) -> Result<StoreSettings> {
        let d = StoreSettings::default();
        Ok(StoreSettings {
            max_retries: self.get_usize("shoal.store.max.retries", d.max_retries)?,
            retry_timeout: self.get_duration("shoal.store.retry.timeout", d.retry_timeout)?,
            timeout: self.get_duration("shoal.store.timeout", d.timeout)?,
        })
    }

    /// Checks every `shoal.*` value against the key table (`keys::KEYS`), whether or not this
    /// front end reads it, so that a bad value fails the same way everywhere. Returns the
    /// warnings about keys that are not in the table, each naming the closest known key. Mount
    /// keys are checked by `mounts`.
    pub fn check(&self) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        for (key, raw) in &self.entries {
            if !key.starts_with("shoal.") || key.starts_with(MOUNT_PREFIX) {
                continue;
            }
            let Some(spec) = keys::lookup(key) else {
                warnings.push(format!(
                    "unknown configuration key {} is ignored (the closest known key is {})",
                    shown_key(key),
                    keys::closest(key)
                ));
                continue;
            };
            match spec.kind {
                Kind::Size { .. } => {
                    self.get_size(key, 0)?;
                }
                Kind::Duration { .. } => {
                    self.get_duration(key, Duration::ZERO)?;
                }
                Kind::Count { .. } => {
                    self.get_count(key, 0)?;
                }
                Kind::Bool => {
                    self.get_bool(key, false)?;
                }
                Kind::Text => {
                    if let Some(c) = raw.chars().find(|c| bad_text_char(*c)) {
                        return Err(Error::config(format!(
                            "{key} contains the control character {:?}",
                            c
                        )));
                    }
                }
            }
        }
        Ok(warnings)
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
                    "configuration key {} names no mount attribute; \
                     expected {MOUNT_PREFIX}<name>.path|uri|readonly|option.<key>",
                    shown_key(key)
                )));
            };
            if name.is_empty() {
                return Err(Error::config(format!(
                    "configuration key {} has an empty mount name",
                    shown_key(key)
                )));
            }
            let spec = specs.entry(name).or_insert_with(|| MountSpec {
                name: name.to_string(),
                ..MountSpec::default()
            });
            let value = trim_ascii(value);
            match attr {
                "path" | "uri" => {
                    if let Some(c) = value.chars().find(|c| c.is_control()) {
                        return Err(Error::config(format!(
                            "{key} contains the control character {c:?}"
                        )));
                    }
                    if attr == "path" {
                        spec.path = value.to_string();
                    } else {
                        spec.uri = value.to_string();
                    }
                }
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
                                "{key}={}: expected through (written data goes to the \
                                 store only) or cache-through (and into the node cache)",
                                value.escape_debug()
                            )))
                        }
                    }
                }
                _ => match attr.strip_prefix("option.") {
                    Some(opt) if !opt.is_empty() => {
                        // Values become HTTP headers and URLs; never shown, they may be secret.
                        if value.chars().any(|c| c.is_control()) {
                            return Err(Error::config(format!(
                                "{key} contains a control character (the value is not shown)"
                            )));
                        }
                        spec.options.insert(opt.to_string(), value.to_string());
                    }
                    _ => {
                        return Err(Error::config(format!(
                            "unknown mount attribute in {}; expected path, uri, readonly, \
                             immutable, cache, write or option.<key> (mount names contain no \
                             dots; did you mean {}?)",
                            shown_key(key),
                            keys::closest(key)
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
            crate::store::s3a::apply(&|k| self.get(k).map(str::to_string), &mut spec)?;
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

#[cfg(test)]
impl MountSpec {
    /// A mount of `uri` with these store options, for tests.
    pub(crate) fn with_options(uri: &str, options: &[(&str, &str)]) -> MountSpec {
        MountSpec {
            uri: uri.into(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..MountSpec::default()
        }
    }
}

/// Never prints option values.
impl fmt::Debug for MountSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MountSpec")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("uri", &crate::store::redact_uri(&self.uri))
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
    /// `shoal.store.timeout`: the longest a store that does not answer holds one call (a
    /// request and its retries, or the wait for the next piece of a response). When it passes,
    /// the call fails with a "timed out" error and nothing else is asked of the store for it.
    pub timeout: Duration,
}

pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            max_retries: 4,
            retry_timeout: Duration::from_secs(60),
            timeout: DEFAULT_STORE_TIMEOUT,
        }
    }
}

/// `text` without the ASCII whitespace around it (space, tab, CR, LF, form feed), as the JVM
/// side trims it too.
pub fn trim_ascii(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// A value for an error message: quoted, with control characters escaped.
pub fn shown(value: &str) -> String {
    format!("'{}'", value.escape_debug())
}

fn shown_key(key: &str) -> String {
    format!("'{}'", key.escape_debug())
}

/// Characters no text value may hold: NUL and the other C0 controls except tab, CR and LF.
fn bad_text_char(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\r' | '\n')
}

/// Why a decimal number could not be taken.
enum Number {
    Malformed(&'static str),
    TooLarge,
}

/// `digits[.digits] × unit`, rounded down, exactly (no floating point): `None`-free errors say
/// what is wrong. At most 18 digits after the point.
fn decimal_times(num: &str, unit: u128) -> std::result::Result<u128, Number> {
    let (whole, fraction) = match num.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (num, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Number::Malformed("a number must start with a digit"));
    }
    let mut n: u128 = 0;
    for b in whole.bytes() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(b - b'0')))
            .ok_or(Number::TooLarge)?;
    }
    let mut total = n.checked_mul(unit).ok_or(Number::TooLarge)?;
    if let Some(f) = fraction {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Number::Malformed(
                "a decimal point must have digits after it",
            ));
        }
        if f.len() > 18 {
            return Err(Number::Malformed("at most 18 digits may follow the point"));
        }
        let digits: u128 = f.parse().map_err(|_| Number::Malformed("bad digits"))?;
        let scale = 10u128.pow(f.len() as u32);
        total = total
            .checked_add(digits * unit / scale)
            .ok_or(Number::TooLarge)?;
    }
    Ok(total)
}

/// Splits `text` (trimmed, lower-cased) into its number and its unit.
fn number_and_unit(text: &str) -> (String, String) {
    let t = trim_ascii(text).to_ascii_lowercase();
    let at = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(at);
    (num.to_string(), unit.to_string())
}

/// Parses a duration: a whole or decimal number (`30`, `1.5`) and a unit, `ms`, `s`, `m`, `h` or
/// `d` (a bare number is seconds), case-insensitive, no sign, no exponent. Exact to the
/// nanosecond (rounded down); at most 584 years (what `u64` nanoseconds hold).
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let bad = |why: &str| {
        format!(
            "{} is not a duration ({why}; use a number with a unit ms, s, m, h or d, e.g. \
             500ms, 30s, 1.5h)",
            shown(text)
        )
    };
    let (num, unit) = number_and_unit(text);
    let unit_ns: u128 = match unit.as_str() {
        "ms" => 1_000_000,
        "" | "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return Err(bad("unknown unit")),
    };
    let too_long = || format!("{} is too long (at most 584 years)", shown(text));
    let ns = match decimal_times(&num, unit_ns) {
        Ok(ns) => ns,
        Err(Number::Malformed(why)) => return Err(bad(why)),
        Err(Number::TooLarge) => return Err(too_long()),
    };
    let ns = u64::try_from(ns).map_err(|_| too_long())?;
    Ok(Duration::from_nanos(ns))
}

/// Parses a size: a whole or decimal number (`512`, `1.5`) and an optional unit, `b`, `k`, `m`,
/// `g`, `t` or `p` (powers of 1024), each but `b` optionally followed by `b` (`kb`, `gb`),
/// case-insensitive; no sign, no exponent, no space inside. A fraction is rounded down to whole
/// bytes. At most 2^63 - 1 bytes (a Java `long`). The JVM side (`io.shoal.conf.Sizes`)
/// implements the same grammar; `tests/vectors/sizes.txt` holds the cases both are tested on.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let bad = |why: &str| {
        format!(
            "{} is not a size ({why}; use a number with an optional unit k, m, g, t or p, \
             powers of 1024, e.g. 512, 64k, 1.5g, 200gb)",
            shown(text)
        )
    };
    let (num, unit) = number_and_unit(text);
    let shift = match unit.as_str() {
        "" | "b" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        "t" | "tb" => 40,
        "p" | "pb" => 50,
        _ => return Err(bad("unknown unit")),
    };
    let too_large = || {
        format!(
            "{} is too large (at most {} bytes)",
            shown(text),
            keys::MAX_SIZE
        )
    };
    match decimal_times(&num, 1u128 << shift) {
        Ok(n) if n <= u128::from(keys::MAX_SIZE) => Ok(n as u64),
        Ok(_) | Err(Number::TooLarge) => Err(too_large()),
        Err(Number::Malformed(why)) => Err(bad(why)),
    }
}

/// A size as the grammar writes it: `64m` when exact, else the bytes.
pub fn fmt_size(n: u64) -> String {
    for (shift, unit) in [(50, "p"), (40, "t"), (30, "g"), (20, "m"), (10, "k")] {
        if n != 0 && n.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// A duration as the grammar writes it: `30s`, `1d`, `250ms`, `1.5ms`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let sub_ms = d.subsec_nanos() % 1_000_000;
    if sub_ms != 0 {
        let fraction = format!("{sub_ms:06}");
        return format!("{ms}.{}ms", fraction.trim_end_matches('0'));
    }
    for (unit_ms, unit) in [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ] {
        if ms != 0 && ms.is_multiple_of(unit_ms) {
            return format!("{}{unit}", ms / unit_ms);
        }
    }
    format!("{ms}ms")
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
        let cases: [(&[(&str, &str)], &str); 3] = [
            (
                &[("shoal.mount.data.path", "/data")],
                "shoal.mount.data.uri",
            ),
            (&[("shoal.mount.data.pth", "/data")], "shoal.mount.data.pth"),
            (
                &[
                    ("shoal.mount.d.path", "/d"),
                    ("shoal.mount.d.uri", "file:///tmp"),
                    ("shoal.mount.d.readonly", "yes"),
                ],
                "true or false",
            ),
        ];
        for (pairs, says) in cases {
            let e = Config::from_pairs(pairs.iter().copied())
                .mounts()
                .unwrap_err();
            assert!(e.message().contains(says), "{e}");
        }
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

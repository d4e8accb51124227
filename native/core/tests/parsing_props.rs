//! Property tests of every parser that takes outside input: paths, URIs (mounts and stores),
//! sizes, durations, and whole configurations. No input may panic; where a value has a written
//! form, writing and parsing it again gives it back; normalising is idempotent. Fast: a few
//! seconds in all.

use std::time::Duration;

use proptest::prelude::*;
use shoal_core::config::{fmt_duration, fmt_size, parse_duration, parse_size, Config};
use shoal_core::mount::{Location, MountTable};
use shoal_core::store::redact_text;
use shoal_core::{path, ErrorKind};

/// Strings built from the characters parsers care about, and some they should not.
fn hostile() -> impl Strategy<Value = String> {
    let chars = prop::sample::select(vec![
        '0', '1', '5', '9', '.', '-', '+', 'e', 'E', 'k', 'K', 'm', 'g', 't', 'p', 'b', 's', 'h',
        'd', 'i', ' ', '\t', '\n', '\0', '\u{1}', '\u{7f}', '/', '\\', '%', '@', ':', '?', '&',
        '=', '#', '_', ',', '\u{a0}', '\u{212a}', '\u{664}', 'é', '😀',
    ]);
    prop_oneof![
        prop::collection::vec(chars, 0..24).prop_map(|v| v.into_iter().collect()),
        any::<String>(),
        "[0-9]{1,30}".prop_map(|s| s),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sizes_never_panic_and_round_trip(text in hostile()) {
        if let Ok(n) = parse_size(&text) {
            prop_assert!(n <= i64::MAX as u64);
            prop_assert_eq!(parse_size(&fmt_size(n)), Ok(n));
        }
    }

    #[test]
    fn written_sizes_parse_back(n in 0u64..=i64::MAX as u64, shift in 0u32..=50) {
        let n = n >> shift << shift;
        prop_assert_eq!(parse_size(&fmt_size(n)), Ok(n));
        prop_assert_eq!(parse_size(&n.to_string()), Ok(n));
    }

    #[test]
    fn durations_never_panic_and_round_trip(text in hostile()) {
        if let Ok(d) = parse_duration(&text) {
            prop_assert_eq!(parse_duration(&fmt_duration(d)), Ok(d));
        }
    }

    #[test]
    fn written_durations_parse_back(ns in 0u64..u64::MAX) {
        let d = Duration::from_nanos(ns);
        prop_assert_eq!(parse_duration(&fmt_duration(d)), Ok(d));
    }

    #[test]
    fn path_normalising_is_idempotent(p in hostile()) {
        let p = format!("/{p}");
        if let Ok(segs) = path::segments(&p) {
            let once = path::join(&segs);
            let twice = path::join(&path::segments(&once).unwrap());
            prop_assert_eq!(&once, &twice);
            if let Ok(flat) = path::resolve_dots(&segs, "the root", &p) {
                prop_assert!(!flat.contains(&".."));
                let again = path::resolve_dots(&flat, "the root", &p).unwrap();
                prop_assert_eq!(flat, again);
            }
        }
    }

    #[test]
    fn redaction_is_idempotent_and_hides_user_info(
        text in hostile(),
        user in "[a-zA-Z]{4,8}",
        pass in "[a-zA-Z0-9]{8,12}",
    ) {
        let once = redact_text(&text);
        prop_assert_eq!(redact_text(&once), once.clone());
        let url = format!("{text} http://{user}:{pass}@host:1/p?sig={pass}&x=1 {text}");
        let (user_info, signature) = (format!("{user}:{pass}"), format!("sig={pass}"));
        let redacted = redact_text(&url);
        prop_assert!(!redacted.contains(&user_info) && !redacted.contains(&signature));
    }
}

/// A mount table over `/data` and `/data/deep` and `/`-adjacent names, for `locate`.
fn table() -> MountTable {
    let config = Config::from_pairs([
        ("shoal.mount.a.path", "/data"),
        ("shoal.mount.a.uri", "file:///tmp"),
        ("shoal.mount.b.path", "/data/deep"),
        ("shoal.mount.b.uri", "file:///tmp"),
    ]);
    MountTable::from_specs(&config.mounts().unwrap(), &Default::default()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any path resolves to a key without `..`, empty or `.` segments, and resolving the
    /// resulting Shoal path again gives the same mount and key.
    #[test]
    fn locating_never_escapes_a_mount(p in hostile()) {
        let t = table();
        let p = format!("/data/{p}");
        if let Ok(Location::Mounted(r)) = t.locate(&p) {
            for seg in r.key.split('/').filter(|s| !r.key.is_empty() && !s.is_empty()) {
                prop_assert!(seg != ".." && seg != ".");
            }
            prop_assert!(!r.key.starts_with('/') && !r.key.ends_with('/') && !r.key.contains("//"));
            match t.locate(&r.path) {
                Ok(Location::Mounted(again)) => {
                    prop_assert_eq!(&again.key, &r.key);
                    prop_assert_eq!(&again.mount.name, &r.mount.name);
                }
                other => prop_assert!(false, "{} located again as {:?}", r.path, other),
            }
        }
    }
}

/// Store URIs and option values: building the store never panics, and neither does a request
/// to a port on 127.0.0.1 where nothing listens (no retries). Requests go only to loopback: an
/// S3 mount gets that endpoint unless the endpoint is what is being varied, and HTTP and HDFS
/// mounts are asked only when their host is 127.0.0.1.
fn uri() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec![
        "s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "http", "https", "hdfs", "file", "ftp",
        "",
    ]);
    let host = prop_oneof![
        Just("127.0.0.1:1".to_string()),
        Just("bucket".to_string()),
        hostile(),
    ];
    (scheme, host, hostile()).prop_map(|(s, h, rest)| format!("{s}://{h}/{rest}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn stores_from_any_uri_and_options_never_panic(
        uri in uri(),
        option in prop::sample::select(vec![
            "aws_session_token", "aws_secret_access_key", "aws_access_key_id", "aws_region",
            "aws_endpoint", "allow_http", "google_bearer_token", "azure_storage_account_key",
            "user", "timeout", "connect_timeout",
        ]),
        value in hostile(),
    ) {
        let cache = tempfile::tempdir().unwrap();
        let mut pairs = vec![
            ("shoal.mount.m.path".to_string(), "/m".to_string()),
            ("shoal.mount.m.uri".to_string(), uri.clone()),
            (format!("shoal.mount.m.option.{option}"), value),
            ("shoal.store.max.retries".to_string(), "0".to_string()),
            ("shoal.store.timeout".to_string(), "2s".to_string()),
            (
                "shoal.cache.dirs".to_string(),
                format!("{}:16m", cache.path().display()),
            ),
        ];
        let parsed = url::Url::parse(&uri).ok();
        let scheme = parsed.as_ref().map(|u| u.scheme().to_string()).unwrap_or_default();
        let loopback = parsed.as_ref().and_then(|u| u.host_str()) == Some("127.0.0.1");
        let s3 = scheme == "s3" || scheme == "s3a";
        if s3 && option != "aws_endpoint" {
            pairs.push(("shoal.mount.m.option.aws_endpoint".into(), "http://127.0.0.1:1".into()));
            pairs.push(("shoal.mount.m.option.aws_allow_http".into(), "true".into()));
        }
        let ask = (s3 && option != "aws_endpoint")
            || (loopback && ["http", "https", "hdfs"].contains(&scheme.as_str()));
        if let Ok(ns) = shoal_core::Namespace::new(&Config::from_pairs(pairs)) {
            if ask {
                for r in [ns.status("/m/x").map(|_| ()), ns.list("/m").map(|_| ())] {
                    if let Err(e) = r {
                        prop_assert_ne!(e.kind(), ErrorKind::Panic, "{}", e);
                    }
                }
            }
        }
    }

    /// Any value of any known key: a namespace or an error, never a panic.
    #[test]
    fn any_value_of_any_key_never_panics(
        key in prop::sample::select(
            shoal_core::config::keys::KEYS
                .iter()
                .map(|k| k.name)
                .filter(|k| *k != "shoal.cache.dirs" && *k != "shoal.runtime.threads")
                .collect::<Vec<_>>(),
        ),
        value in hostile(),
    ) {
        let cache = tempfile::tempdir().unwrap();
        let config = Config::from_pairs([
            ("shoal.mount.m.path".to_string(), "/m".to_string()),
            ("shoal.mount.m.uri".to_string(), "file:///tmp".to_string()),
            (
                "shoal.cache.dirs".to_string(),
                format!("{}:16m", cache.path().display()),
            ),
            (key.to_string(), value.clone()),
        ]);
        match shoal_core::Namespace::new(&config) {
            Ok(_) => {}
            Err(e) => {
                prop_assert!(e.message().contains(key), "{} for {}={:?}", e, key, value);
            }
        }
    }
}

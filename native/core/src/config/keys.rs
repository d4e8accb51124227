//! The one table of `shoal.*` keys: every key any front end reads, with the kind of value it
//! takes and the range it must lie in. The typed getters of `Config` enforce a key's range, and
//! `Config::check` finds keys that are not in the table (typos such as `shoal.cache.dir`) and
//! names the closest known key. Mount keys are `shoal.mount.<name>.<attribute>`; store options
//! (`shoal.mount.<name>.option.<key>`) are checked by the store that takes them.
//!
//! The README's configuration tables list the same keys, defaults and ranges; keep them in step.

use std::time::Duration;

/// What a key's value is, and the values it may take (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A size in the size grammar (`config::parse_size`).
    Size { min: u64, max: u64 },
    /// A duration in the duration grammar (`config::parse_duration`).
    Duration { min: Duration, max: Duration },
    /// A whole number.
    Count { min: u64, max: u64 },
    /// `true` or `false`.
    Bool,
    /// Free text, checked where it is used (paths, URIs, lists).
    Text,
}

/// One known key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
}

const fn size(name: &'static str, min: u64, max: u64) -> Key {
    Key {
        name,
        kind: Kind::Size { min, max },
    }
}

const fn secs(name: &'static str, min_ms: u64, max_s: u64) -> Key {
    Key {
        name,
        kind: Kind::Duration {
            min: Duration::from_millis(min_ms),
            max: Duration::from_secs(max_s),
        },
    }
}

const fn count(name: &'static str, min: u64, max: u64) -> Key {
    Key {
        name,
        kind: Kind::Count { min, max },
    }
}

const fn flag(name: &'static str) -> Key {
    Key {
        name,
        kind: Kind::Bool,
    }
}

const fn text(name: &'static str) -> Key {
    Key {
        name,
        kind: Kind::Text,
    }
}

/// The largest size any key takes: what a Java `long` holds, so both sides agree.
pub const MAX_SIZE: u64 = i64::MAX as u64;
const DAY: u64 = 86_400;
/// The largest buffer a Java array can hold, less the JVM's header room.
const JAVA_BUFFER_MAX: u64 = (i32::MAX - 64) as u64;

/// Every `shoal.*` key outside the mount keys.
pub const KEYS: &[Key] = &[
    // The node cache.
    flag("shoal.cache.enabled"),
    text("shoal.cache.dirs"),
    size("shoal.cache.memory.size", 0, MAX_SIZE),
    size("shoal.cache.page.size", 4 << 10, 64 << 20),
    size("shoal.cache.readahead.max", 0, MAX_SIZE),
    count("shoal.cache.readahead.pages", 1, 65_536),
    count("shoal.cache.open.pages", 0, 1 << 30),
    size("shoal.cache.pack.max.object", 0, 1 << 20),
    count("shoal.load.parallel", 1, 1024),
    // Prefetch across files (prefetch.rs).
    flag("shoal.prefetch.enabled"),
    count("shoal.prefetch.files", 0, 1 << 20),
    size("shoal.prefetch.max.bytes", 0, MAX_SIZE),
    text("shoal.prefetch.host"),
    // Parquet-aware reads (cache/parquet.rs).
    flag("shoal.parquet.enabled"),
    size("shoal.parquet.fetch.max", 0, MAX_SIZE),
    size("shoal.parquet.coalesce.max", 4 << 10, 1 << 30),
    size("shoal.parquet.footers.size", 0, MAX_SIZE),
    // The metadata cache.
    secs("shoal.metadata.ttl", 0, 365 * DAY),
    secs("shoal.metadata.negative.ttl", 0, 365 * DAY),
    size("shoal.metadata.max.size", 1 << 20, MAX_SIZE),
    // Deprecated: `shoal.metadata.max.size` wins; an entry is taken as 256 bytes.
    count("shoal.metadata.max.entries", 1, 1 << 32),
    count("shoal.metadata.relist.max.entries", 0, 1 << 32),
    // Held whole while a tree's listings are cut from it: bounded (about 300 bytes each).
    count("shoal.metadata.tree.max.entries", 0, 100_000),
    // Stores.
    secs("shoal.store.timeout", 1, DAY),
    count("shoal.store.max.retries", 0, 100),
    secs("shoal.store.retry.timeout", 0, DAY),
    // The process.
    count("shoal.runtime.threads", 1, 256),
    text("shoal.cluster.hosts"),
    // Read by the JVM side (io.shoal.hadoop.ShoalFileSystem) with the same size grammar.
    size("shoal.read.buffer.size", 1, JAVA_BUFFER_MAX),
    size("shoal.write.buffer.size", 1, JAVA_BUFFER_MAX),
    size("shoal.block.size", 1, MAX_SIZE),
    // Read by the Spark load job (io.shoal.spark.LoadInputFormat): how files form tasks.
    count("shoal.load.task.files", 1, 1 << 20),
    size("shoal.load.task.size", 1, MAX_SIZE),
    count("shoal.list.batch", 1, 1 << 20),
];

/// The attributes of `shoal.mount.<name>.<attribute>`, besides `option.<key>`.
pub const MOUNT_ATTRIBUTES: &[Key] = &[
    text("path"),
    text("uri"),
    flag("readonly"),
    flag("immutable"),
    flag("cache"),
    text("write"),
];

/// The table entry of a key outside the mounts.
pub fn lookup(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The known key closest to `unknown` by edit distance, mount keys included (spelled with the
/// mount name `unknown` has, when it has one).
pub fn closest(unknown: &str) -> String {
    let mut candidates: Vec<String> = KEYS.iter().map(|k| k.name.to_string()).collect();
    let mount = unknown
        .strip_prefix(super::MOUNT_PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .map(|(name, _)| name)
        .filter(|name| !name.is_empty())
        .unwrap_or("<name>");
    for a in MOUNT_ATTRIBUTES {
        candidates.push(format!("{}{mount}.{}", super::MOUNT_PREFIX, a.name));
    }
    candidates.push(format!("{}{mount}.option.<key>", super::MOUNT_PREFIX));
    candidates
        .into_iter()
        .min_by_key(|c| (edit_distance(unknown, c), c.len()))
        .unwrap_or_default()
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("shoal.cache.dir", "shoal.cache.dirs"), 1);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn closest_keys() {
        assert_eq!(closest("shoal.cache.dir"), "shoal.cache.dirs");
        assert_eq!(closest("shoal.metadata.tll"), "shoal.metadata.ttl");
        assert_eq!(closest("shoal.mount.data.pth"), "shoal.mount.data.path");
        assert_eq!(closest("shoal.store.timout"), "shoal.store.timeout");
    }

    #[test]
    fn names_are_unique_and_ranges_sane() {
        let mut names: Vec<_> = KEYS.iter().map(|k| k.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KEYS.len());
        for k in KEYS {
            assert!(k.name.starts_with("shoal."), "{}", k.name);
            match k.kind {
                Kind::Size { min, max } | Kind::Count { min, max } => {
                    assert!(min <= max && max <= MAX_SIZE, "{}", k.name)
                }
                Kind::Duration { min, max } => assert!(min <= max, "{}", k.name),
                Kind::Bool | Kind::Text => {}
            }
        }
    }

    /// Every `"shoal.…"` key named in the sources of the core, the CLI and the JVM side is in
    /// the table, so a key added without it warns nobody by mistake.
    #[test]
    fn every_key_the_sources_read_is_known() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        for dir in ["native/core/src", "native/cli/src", "jvm/src/main/java"] {
            collect(&root.join(dir), &mut files);
        }
        assert!(
            files.len() > 10,
            "no sources found under {}",
            root.display()
        );
        let mut unknown = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            // Tests name unknown keys on purpose.
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (i, _) in text.match_indices("\"shoal.") {
                let rest = &text[i + 1..];
                let end = rest.find('"').unwrap_or(rest.len());
                let key = &rest[..end];
                let literal_key = key.len() > "shoal.".len()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                    && !key.ends_with('.')
                    && !key.starts_with("shoal.mount.")
                    && !key.starts_with("shoal.test.")
                    && key != "shoal.native.library"
                    && key != "shoal.hosts";
                if literal_key && lookup(key).is_none() {
                    unknown.push(format!("{key} ({})", f.display()));
                }
            }
        }
        assert!(unknown.is_empty(), "keys missing from KEYS: {unknown:?}");
    }

    fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                collect(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs" || x == "java") {
                out.push(p);
            }
        }
    }
}

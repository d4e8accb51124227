//! Configuration files: Hadoop-style XML (`core-site.xml`, `shoal-site.xml`) and Java
//! properties, and the list of them in `$SHOAL_CONF`. Every front end outside the JVM (the
//! `shoal` command, its FUSE mount, the C API and the Python package) reads the same files the
//! same way; the JVM reads Hadoop configuration itself.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};

/// The environment variable naming configuration files, colon-separated; later files win.
pub const SHOAL_CONF_ENV: &str = "SHOAL_CONF";

/// The files `$SHOAL_CONF` names (none when it is unset or empty).
pub fn env_files() -> Vec<PathBuf> {
    std::env::var_os(SHOAL_CONF_ENV)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads one configuration file into `into`, by its content: XML when it starts with `<`,
/// else properties.
pub fn read_file(path: &Path, into: &mut Config) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "cannot read configuration file {}: {e}",
            path.display()
        ))
    })?;
    if text.trim_start().starts_with('<') {
        read_xml(&text, into).map_err(|e| {
            Error::config(format!(
                "configuration file {}: {}",
                path.display(),
                e.message()
            ))
        })
    } else {
        read_properties(&text, into);
        Ok(())
    }
}

/// `<configuration><property><name>k</name><value>v</value></property>...`
pub fn read_xml(text: &str, into: &mut Config) -> Result<()> {
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| Error::config(format!("not valid XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "configuration" {
        return Err(Error::config(format!(
            "the root element is <{}>, expected <configuration>",
            root.tag_name().name()
        )));
    }
    for prop in root.children().filter(|n| n.has_tag_name("property")) {
        let field = |name: &str| {
            prop.children()
                .find(|n| n.has_tag_name(name))
                .and_then(|n| n.text())
                .map(|t| t.trim().to_string())
        };
        match (field("name"), field("value")) {
            (Some(k), Some(v)) => into.set(k, v),
            (Some(k), None) => into.set(k, ""),
            (None, _) => return Err(Error::config("a <property> has no <name>")),
        }
    }
    Ok(())
}

/// `key=value` or `key: value` lines; `#` and `!` start comments.
pub fn read_properties(text: &str, into: &mut Config) {
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line
            .find(['=', ':'])
            .map(|i| (line[..i].trim(), line[i + 1..].trim()));
        match split {
            Some((k, v)) => into.set(k, v),
            None => into.set(line, ""),
        }
    }
}

/// A configuration as every front end outside the JVM builds it: the `files` in order (or,
/// when `files` is empty, those of `$SHOAL_CONF`), then the `pairs`, which win.
pub fn load<K: AsRef<str>, V: AsRef<str>>(
    files: &[PathBuf],
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Result<Config> {
    let mut config = Config::new();
    let env;
    let files = if files.is_empty() {
        env = env_files();
        &env
    } else {
        files
    };
    for f in files {
        read_file(f, &mut config)?;
    }
    for (k, v) in pairs {
        config.set(k.as_ref(), v.as_ref());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_and_properties() {
        let mut c = Config::new();
        read_xml(
            "<?xml version=\"1.0\"?><configuration>\
             <property><name>shoal.mount.a.path</name><value> /a </value></property>\
             <property><name>shoal.mount.a.uri</name><value>s3://b/p</value></property>\
             </configuration>",
            &mut c,
        )
        .unwrap();
        assert_eq!(c.get("shoal.mount.a.path"), Some("/a"));
        read_properties("# c\nshoal.mount.a.readonly = true\nshoal.x: 1\n", &mut c);
        assert_eq!(c.get("shoal.mount.a.readonly"), Some("true"));
        assert_eq!(c.get("shoal.x"), Some("1"));
        assert!(read_xml("<conf/>", &mut c)
            .unwrap_err()
            .message()
            .contains("<configuration>"));
        assert!(read_xml("<configuration>", &mut c).is_err());
    }

    #[test]
    fn files_then_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.properties");
        let b = dir.path().join("b.xml");
        std::fs::write(&a, "k1=a\nk2=a\n").unwrap();
        std::fs::write(
            &b,
            "<configuration><property><name>k2</name><value>b</value></property></configuration>",
        )
        .unwrap();
        let c = load(&[a, b], [("k3", "pair")]).unwrap();
        assert_eq!(c.get("k1"), Some("a"));
        assert_eq!(c.get("k2"), Some("b"));
        assert_eq!(c.get("k3"), Some("pair"));
        let missing = dir.path().join("missing.xml");
        let e = load(&[missing], [("k", "v")]).unwrap_err();
        assert!(e.message().contains("missing.xml"), "{e}");
    }
}

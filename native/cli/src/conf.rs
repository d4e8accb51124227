//! Where the CLI's configuration comes from: Hadoop-style XML files (`core-site.xml`,
//! `shoal-site.xml`), Java properties files, and `-D key=value` flags, later ones winning.
//! The same keys a Spark job uses are read: `shoal.*`, and Hadoop S3A's `fs.s3a.*` for S3 mounts.

use std::path::Path;

use shoal_core::{Config, Error, Result};

/// Reads one configuration file, by its content: XML when it starts with `<`, else properties.
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

/// Parses a `-D key=value` flag.
pub fn parse_define(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("'{text}' is not key=value")),
    }
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
        assert_eq!(parse_define("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_define("novalue").is_err());
    }
}

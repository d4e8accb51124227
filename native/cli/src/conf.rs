//! Where the CLI's configuration comes from: the files of `--conf` (or `$SHOAL_CONF`), read by
//! shoal-core's `conf_file`, then `-D key=value` flags, which win.

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
    fn defines() {
        assert_eq!(parse_define("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_define("novalue").is_err());
    }
}

//! Shoal paths: absolute, `/`-separated names in the one namespace over every mount.
//!
//! A path is split into segments; `.` and empty segments are dropped. `..` is kept as it is
//! here and resolved by the mount table, which rejects one that would climb out of its mount.

use crate::error::{Error, Result};

/// Splits an absolute Shoal path into its segments, dropping empty and `.` segments.
pub fn segments(path: &str) -> Result<Vec<&str>> {
    if !path.starts_with('/') {
        return Err(Error::invalid(format!(
            "Shoal path '{path}' is not absolute (it must start with '/')"
        )));
    }
    if path.contains('\0') {
        return Err(Error::invalid(format!(
            "Shoal path {path:?} contains a NUL character"
        )));
    }
    Ok(path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect())
}

/// Joins segments back into an absolute path (`/` for none).
pub fn join(segments: &[&str]) -> String {
    if segments.is_empty() {
        return "/".to_string();
    }
    let mut out = String::new();
    for s in segments {
        out.push('/');
        out.push_str(s);
    }
    out
}

/// Resolves `..` segments against the segments before them. Fails when one climbs above the
/// start; `what` names the boundary in the error (a mount, or the root).
pub fn resolve_dots<'a>(segs: &[&'a str], what: &str, path: &str) -> Result<Vec<&'a str>> {
    let mut out: Vec<&str> = Vec::with_capacity(segs.len());
    for s in segs {
        if *s == ".." {
            if out.pop().is_none() {
                return Err(Error::invalid(format!(
                    "path {path} escapes {what} through '..'"
                )));
            }
        } else {
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_drops_empty_and_dot() {
        assert_eq!(segments("/a//b/./c/").unwrap(), vec!["a", "b", "c"]);
        assert!(segments("/").unwrap().is_empty());
        assert_eq!(join(&["a", "b"]), "/a/b");
        assert_eq!(join(&[]), "/");
    }

    #[test]
    fn relative_and_nul_paths_are_rejected() {
        let e = segments("a/b").unwrap_err();
        assert!(e.message().contains("not absolute"), "{e}");
        assert!(segments("/a\0b").is_err());
    }

    #[test]
    fn dots_resolve_inside_and_fail_outside() {
        let s = segments("/x/y/../z").unwrap();
        assert_eq!(
            resolve_dots(&s, "the root", "/x/y/../z").unwrap(),
            vec!["x", "z"]
        );
        let s = segments("/x/../../z").unwrap();
        let e = resolve_dots(&s, "mount 'm'", "/x/../../z").unwrap_err();
        assert!(e.message().contains("escapes mount 'm'"), "{e}");
    }
}

//! Checks of a mount point before mounting: it must exist, be a directory, be empty, and not
//! be a mount point already (a live one, or one left behind by a FUSE process that died).

use std::path::{Path, PathBuf};

use shoal_core::{Error, ErrorKind, Result};

/// The canonical mount point, or an error that says what is wrong with it.
pub fn check_mount_point(path: &Path) -> Result<PathBuf> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::not_found(format!(
                "mount point {shown} does not exist (create the directory first)"
            )))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            return Err(Error::new(
                ErrorKind::Other,
                format!(
                    "mount point {shown} is busy: a FUSE file system that is no longer served \
                     is still mounted there (unmount it with `fusermount3 -u {shown}`)"
                ),
            ))
        }
        Err(e) => {
            return Err(Error::new(
                ErrorKind::Other,
                format!("mount point {shown}: {e}"),
            ))
        }
    };
    if !meta.is_dir() {
        return Err(Error::new(
            ErrorKind::NotADirectory,
            format!("mount point {shown} is not a directory"),
        ));
    }
    let canonical = path
        .canonicalize()
        .map_err(|e| Error::new(ErrorKind::Other, format!("mount point {shown}: {e}")))?;
    if is_mount_point(&canonical)? {
        return Err(Error::new(
            ErrorKind::Other,
            format!(
                "mount point {shown} is busy: something is mounted there already \
                 (see `findmnt {shown}`; unmount it first)"
            ),
        ));
    }
    let mut entries = std::fs::read_dir(&canonical)
        .map_err(|e| Error::new(ErrorKind::Other, format!("mount point {shown}: {e}")))?;
    if entries.next().is_some() {
        return Err(Error::new(
            ErrorKind::NotEmpty,
            format!(
                "mount point {shown} is not empty: mounting would hide its files \
                 (use an empty directory)"
            ),
        ));
    }
    Ok(canonical)
}

/// Whether `path` (canonical) is the mount point of a mount in this mount namespace.
fn is_mount_point(path: &Path) -> Result<bool> {
    let table = match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(t) => t,
        // Without /proc, compare devices with the parent directory instead.
        Err(_) => {
            use std::os::unix::fs::MetadataExt;
            let Some(parent) = path.parent() else {
                return Ok(true);
            };
            let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev());
            return Ok(matches!((dev(path), dev(parent)), (Ok(a), Ok(b)) if a != b));
        }
    };
    let want = path.to_string_lossy();
    Ok(table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape(mp) == want))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let e = check_mount_point(&missing).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().contains("does not exist"), "{e}");

        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let e = check_mount_point(&file).unwrap_err();
        assert!(e.message().contains("not a directory"), "{e}");

        let full = dir.path().join("full");
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join("a"), b"x").unwrap();
        let e = check_mount_point(&full).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotEmpty);
        assert!(e.message().contains("not empty"), "{e}");

        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert_eq!(
            check_mount_point(&empty).unwrap(),
            empty.canonicalize().unwrap()
        );

        // "/" is always a mount point.
        let e = check_mount_point(Path::new("/")).unwrap_err();
        assert!(e.message().contains("busy"), "{e}");
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/end\\"), "/end\\");
    }
}

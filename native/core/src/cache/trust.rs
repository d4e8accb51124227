//! Whether a cache directory may be trusted: it belongs to the user running Shoal and nobody
//! else can write in it, as ssh asks of its files. A directory another user could write in
//! could hold pages planted to be served as the data of a store.
//!
//! The directory itself must be owned by this user and writable by nobody else; every entry of
//! its layout directory (`v2`) too, and none may be a symbolic link. A directory on the way to
//! it that everyone may write without the sticky bit (which would let anyone swap the cache
//! directory for another) is refused too. Page files are opened without following symbolic
//! links and checked the same way when opened (`disk`).

use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// The user the process runs as.
pub fn euid() -> u32 {
    // Safety: geteuid has no failure mode.
    unsafe { libc::geteuid() }
}

/// Why an entry is not private to this user, if it is not: owned by another user, or
/// writable by its group or others.
pub fn not_private(meta: &Metadata) -> Option<String> {
    let me = euid();
    if meta.uid() != me {
        return Some(format!(
            "it belongs to user id {}, not to this process's user id {me}",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Some(format!(
            "its group or other users may write in it (mode {:o}; chmod go-w, or 700)",
            meta.mode() & 0o7777
        ));
    }
    None
}

/// Why a cache directory (canonical, so with no symbolic links left in it) must not be used.
pub fn check_dir(dir: &Path) -> Result<(), String> {
    for up in dir.ancestors().skip(1) {
        let m = std::fs::metadata(up).map_err(|e| format!("{}: {e}", up.display()))?;
        if m.mode() & 0o002 != 0 && m.mode() & 0o1000 == 0 {
            return Err(format!(
                "{} above it may be written by every user and has no sticky bit, so anyone \
                 could replace the cache directory",
                up.display()
            ));
        }
    }
    let m = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if !m.is_dir() {
        return Err("it is not a directory".into());
    }
    not_private(&m).map_or(Ok(()), Err)
}

/// Why an entry of the layout directory must not be used: a symbolic link, something other
/// than a file or a directory, or not private.
pub fn check_entry(path: &Path, meta: &Metadata) -> Result<(), String> {
    let t = meta.file_type();
    let what = if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_fifo() || t.is_socket() || t.is_block_device() || t.is_char_device() {
        Some("not a file or a directory")
    } else {
        None
    };
    if let Some(what) = what {
        return Err(format!("{} is {what}", path.display()));
    }
    match not_private(meta) {
        Some(why) => Err(format!("{}: {why}", path.display())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_directories_pass_and_others_do_not() {
        let top = tempfile::tempdir().unwrap();
        let d = top.path().join("c");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        let d = std::fs::canonicalize(&d).unwrap();
        check_dir(&d).unwrap();
        for mode in [0o777, 0o770, 0o702] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = check_dir(&d).unwrap_err();
            assert!(e.contains("may write"), "{mode:o}: {e}");
        }
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_dir(&d).unwrap();
        // Below a directory everyone may write without the sticky bit.
        std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_dir(&d).unwrap_err().contains("sticky"));
        std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        check_dir(&d).unwrap();
        // A link planted in a layout directory.
        let link = d.join("l");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        let m = std::fs::symlink_metadata(&link).unwrap();
        assert!(check_entry(&link, &m)
            .unwrap_err()
            .contains("symbolic link"));
    }
}

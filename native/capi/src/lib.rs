//! shoal-capi: the C API of Shoal, `libshoal.so` with the header `include/shoal.h`
//! (generated from this file by cbindgen). It converts between C and shoal-core and adds no
//! behaviour of its own; other languages (Python's `shoal` package) bind to it.
//!
//! Conventions, for every function:
//! - Handles (`shoal_fs`, `shoal_file`) are opaque and thread-safe: any number of threads may
//!   use one handle at once. Each is released exactly once, by its `*_close` function, after
//!   its last use. A file handle stays valid after the filesystem it came from is closed.
//! - Failure is a NULL pointer or a negative number. When `err` is not NULL, `*err` then
//!   receives a `shoal_error` (kind code and message) that the caller releases with
//!   `shoal_error_free`; on success `*err` is left untouched.
//! - Strings passed in are NUL-terminated UTF-8 and are only borrowed for the call. Every
//!   pointer the library returns is owned by the caller and released with the `*_free`
//!   function named in its documentation, except the static strings of `shoal_version` and
//!   `shoal_counter_name`.
//! - No Rust panic crosses the boundary: it becomes an error of kind `SHOAL_ERR_PANIC`.

use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use shoal_core::stats::COUNTER_NAMES;
use shoal_core::{Config, Error, ErrorKind, FileInfo, FileReader, Namespace};

/// Error kinds (`shoal_error.kind`); the same codes as shoal-core's `ErrorKind::code`.
pub const SHOAL_ERR_OTHER: i32 = 0;
pub const SHOAL_ERR_NOT_FOUND: i32 = 1;
pub const SHOAL_ERR_ALREADY_EXISTS: i32 = 2;
pub const SHOAL_ERR_NOT_A_DIRECTORY: i32 = 3;
pub const SHOAL_ERR_IS_A_DIRECTORY: i32 = 4;
pub const SHOAL_ERR_NOT_EMPTY: i32 = 5;
pub const SHOAL_ERR_READ_ONLY: i32 = 6;
pub const SHOAL_ERR_PERMISSION_DENIED: i32 = 7;
pub const SHOAL_ERR_PAST_EOF: i32 = 8;
pub const SHOAL_ERR_UNSUPPORTED: i32 = 9;
pub const SHOAL_ERR_INVALID_ARGUMENT: i32 = 10;
pub const SHOAL_ERR_PANIC: i32 = 11;
pub const SHOAL_ERR_TIMED_OUT: i32 = 12;
pub const SHOAL_ERR_CORRUPT: i32 = 13;
pub const SHOAL_ERR_CONFIG: i32 = 14;

/// `shoal_fs_open` flag: do not read the configuration files named by `$SHOAL_CONF`.
pub const SHOAL_OPEN_NO_ENV_CONF: u32 = 1;

/// An error: what kind of failure (`SHOAL_ERR_*`) and a message naming the path and the
/// cause. Released with `shoal_error_free`, which also releases `message`.
#[repr(C)]
pub struct ShoalError {
    pub kind: i32,
    /// NUL-terminated UTF-8, owned by the error.
    pub message: *mut c_char,
}

/// The status of a file or directory. Released with `shoal_file_info_free` (from
/// `shoal_stat`) or with its listing (from `shoal_list`, `shoal_list_files`).
#[repr(C)]
pub struct ShoalFileInfo {
    /// Absolute Shoal path, NUL-terminated UTF-8, owned by the info.
    pub path: *mut c_char,
    pub is_dir: bool,
    /// Length in bytes (0 for directories).
    pub len: u64,
    /// Modification time in milliseconds since the epoch; 0 when unknown.
    pub mtime_ms: i64,
    /// The store's ETag, or NULL when it has none; owned by the info.
    pub etag: *mut c_char,
}

/// Entries of a directory, sorted by path. Released with `shoal_listing_free`.
#[repr(C)]
pub struct ShoalListing {
    pub entries: *mut ShoalFileInfo,
    pub count: usize,
}

/// What `shoal_load` did.
#[repr(C)]
pub struct ShoalLoadSummary {
    /// Files under the path.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Bytes this call fetched from the store.
    pub fetched_bytes: u64,
    /// Bytes this node's cache held already.
    pub cached_bytes_before: u64,
}

/// An open filesystem: the namespace of one configuration (`shoal_fs` in C).
pub struct ShoalFs {
    ns: Arc<Namespace>,
}

/// An open file: positioned reads of one version of it (`shoal_file` in C).
pub struct ShoalFile {
    reader: FileReader,
}

fn set_error(err: *mut *mut ShoalError, e: Error) {
    if err.is_null() {
        return;
    }
    let message = CString::new(e.message().replace('\0', " "))
        .unwrap_or_else(|_| CString::from(c"error message unavailable"));
    let boxed = Box::new(ShoalError {
        kind: e.kind().code(),
        message: message.into_raw(),
    });
    // SAFETY: err is not NULL and points to writable storage for one pointer (the contract).
    unsafe { *err = Box::into_raw(boxed) };
}

/// Runs `f`, turning its error or panic into `*err` and `fallback`.
fn guard<T>(err: *mut *mut ShoalError, fallback: T, f: impl FnOnce() -> Result<T, Error>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_error(err, e);
            fallback
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            set_error(
                err,
                Error::new(ErrorKind::Panic, format!("panic in libshoal: {what}")),
            );
            fallback
        }
    }
}

/// Borrows a C string argument as UTF-8.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string that lives for the call.
unsafe fn text<'a>(s: *const c_char, what: &str) -> Result<&'a str, Error> {
    if s.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    CStr::from_ptr(s)
        .to_str()
        .map_err(|_| Error::invalid(format!("{what} is not valid UTF-8")))
}

/// # Safety
/// `p` is NULL or a live handle made by this library.
unsafe fn handle<'a, T>(p: *const T, what: &str) -> Result<&'a T, Error> {
    p.as_ref()
        .ok_or_else(|| Error::invalid(format!("{what} is NULL")))
}

fn c_string(s: &str) -> *mut c_char {
    CString::new(s.replace('\0', " "))
        .map(CString::into_raw)
        .unwrap_or(ptr::null_mut())
}

fn info_to_c(i: FileInfo) -> ShoalFileInfo {
    ShoalFileInfo {
        path: c_string(&i.path),
        is_dir: i.is_dir,
        len: i.len,
        mtime_ms: i.mtime_ms,
        etag: i.etag.as_deref().map(c_string).unwrap_or(ptr::null_mut()),
    }
}

/// # Safety
/// The pointers inside `i` were made by `info_to_c` and are released once.
unsafe fn free_info_fields(i: &mut ShoalFileInfo) {
    if !i.path.is_null() {
        drop(CString::from_raw(i.path));
        i.path = ptr::null_mut();
    }
    if !i.etag.is_null() {
        drop(CString::from_raw(i.etag));
        i.etag = ptr::null_mut();
    }
}

fn listing_to_c(entries: Vec<FileInfo>) -> *mut ShoalListing {
    let entries: Box<[ShoalFileInfo]> = entries.into_iter().map(info_to_c).collect();
    let count = entries.len();
    Box::into_raw(Box::new(ShoalListing {
        entries: Box::into_raw(entries) as *mut ShoalFileInfo,
        count,
    }))
}

/// A listing call: the entries `list` gives for `path`, as a C listing.
///
/// # Safety
/// As for `shoal_list`.
unsafe fn listing(
    fs: *const ShoalFs,
    path: *const c_char,
    err: *mut *mut ShoalError,
    list: impl FnOnce(&Namespace, &str) -> Result<Vec<FileInfo>, Error>,
) -> *mut ShoalListing {
    guard(err, ptr::null_mut(), || {
        let fs = handle(fs, "fs")?;
        Ok(listing_to_c(list(&fs.ns, text(path, "path")?)?))
    })
}

/// The library's version, a static string.
#[no_mangle]
pub extern "C" fn shoal_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// Opens the namespace of a configuration: `count` key/value pairs (`shoal.mount.<name>.path`,
/// `shoal.cache.dirs`, ...; the keys of the Spark and CLI configuration), over the files of
/// `$SHOAL_CONF` unless `flags` has `SHOAL_OPEN_NO_ENV_CONF`; the pairs win. `keys` and
/// `values` may be NULL when `count` is 0. Returns NULL on error. Release with
/// `shoal_fs_close`.
///
/// # Safety
/// `keys` and `values` point to `count` NUL-terminated strings each.
#[no_mangle]
pub unsafe extern "C" fn shoal_fs_open(
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
    flags: u32,
    err: *mut *mut ShoalError,
) -> *mut ShoalFs {
    guard(err, ptr::null_mut(), || {
        let mut pairs = Vec::with_capacity(count);
        if count > 0 && (keys.is_null() || values.is_null()) {
            return Err(Error::invalid("keys or values is NULL"));
        }
        for i in 0..count {
            let k = text(*keys.add(i), "a configuration key")?;
            let v = text(*values.add(i), &format!("the value of {k}"))?;
            pairs.push((k.to_string(), v.to_string()));
        }
        let config = if flags & SHOAL_OPEN_NO_ENV_CONF != 0 {
            Config::from_pairs(pairs)
        } else {
            shoal_core::conf_file::load(&[], pairs)?
        };
        let ns = Namespace::new(&config)?;
        Ok(Box::into_raw(Box::new(ShoalFs { ns: Arc::new(ns) })))
    })
}

/// Releases a filesystem; NULL is ignored. Files opened from it stay usable.
///
/// # Safety
/// `fs` is NULL or a handle from `shoal_fs_open` not yet closed, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn shoal_fs_close(fs: *mut ShoalFs) {
    if !fs.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(fs))));
    }
}

/// The status of a path. Returns NULL on error (`SHOAL_ERR_NOT_FOUND` when there is nothing
/// there). Release with `shoal_file_info_free`.
///
/// # Safety
/// `fs` is a live handle; `path` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn shoal_stat(
    fs: *const ShoalFs,
    path: *const c_char,
    err: *mut *mut ShoalError,
) -> *mut ShoalFileInfo {
    guard(err, ptr::null_mut(), || {
        let fs = handle(fs, "fs")?;
        let info = fs.ns.status(text(path, "path")?)?;
        Ok(Box::into_raw(Box::new(info_to_c(info))))
    })
}

/// Releases a status from `shoal_stat`; NULL is ignored.
///
/// # Safety
/// `info` is NULL or came from `shoal_stat` and is released once.
#[no_mangle]
pub unsafe extern "C" fn shoal_file_info_free(info: *mut ShoalFileInfo) {
    if !info.is_null() {
        let mut b = Box::from_raw(info);
        free_info_fields(&mut b);
    }
}

/// The entries of a directory (mount points below it included), or the file itself when
/// `path` is a file. Returns NULL on error. Release with `shoal_listing_free`.
///
/// # Safety
/// `fs` is a live handle; `path` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn shoal_list(
    fs: *const ShoalFs,
    path: *const c_char,
    err: *mut *mut ShoalError,
) -> *mut ShoalListing {
    listing(fs, path, err, Namespace::list)
}

/// Every file at or under `path` (the file itself when it is one), sorted by path: one flat
/// listing per mount, not a walk of every directory. Returns NULL on error. Release with
/// `shoal_listing_free`.
///
/// # Safety
/// `fs` is a live handle; `path` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn shoal_list_files(
    fs: *const ShoalFs,
    path: *const c_char,
    err: *mut *mut ShoalError,
) -> *mut ShoalListing {
    listing(fs, path, err, Namespace::walk_files)
}

/// Releases a listing and every entry in it; NULL is ignored.
///
/// # Safety
/// `listing` is NULL or came from `shoal_list` / `shoal_list_files` and is released once.
#[no_mangle]
pub unsafe extern "C" fn shoal_listing_free(listing: *mut ShoalListing) {
    if listing.is_null() {
        return;
    }
    let l = Box::from_raw(listing);
    if !l.entries.is_null() {
        let mut entries = Box::from_raw(ptr::slice_from_raw_parts_mut(l.entries, l.count));
        for e in entries.iter_mut() {
            free_info_fields(e);
        }
    }
}

/// Opens a file for positioned reads. Returns NULL on error (`SHOAL_ERR_IS_A_DIRECTORY` for a
/// directory). Release with `shoal_file_close`.
///
/// # Safety
/// `fs` is a live handle; `path` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn shoal_open(
    fs: *const ShoalFs,
    path: *const c_char,
    err: *mut *mut ShoalError,
) -> *mut ShoalFile {
    guard(err, ptr::null_mut(), || {
        let fs = handle(fs, "fs")?;
        let reader = fs.ns.open(text(path, "path")?, None)?;
        Ok(Box::into_raw(Box::new(ShoalFile { reader })))
    })
}

/// The length of an open file in bytes.
///
/// # Safety
/// `file` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn shoal_file_len(file: *const ShoalFile) -> u64 {
    file.as_ref().map_or(0, |f| f.reader.len())
}

/// Reads up to `len` bytes at `pos` into `buf`: all of them unless the file ends first.
/// Returns the bytes read, 0 at or past the end of the file, or -1 on error.
///
/// # Safety
/// `file` is a live handle; `buf` has room for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn shoal_pread(
    file: *const ShoalFile,
    pos: u64,
    buf: *mut u8,
    len: usize,
    err: *mut *mut ShoalError,
) -> i64 {
    guard(err, -1, || {
        let file = handle(file, "file")?;
        if len == 0 {
            return Ok(0);
        }
        if buf.is_null() {
            return Err(Error::invalid("buf is NULL"));
        }
        let len = len.min(i64::MAX as usize);
        let out = std::slice::from_raw_parts_mut(buf, len);
        Ok(file.reader.read_at(pos, out)? as i64)
    })
}

/// Closes a file; NULL is ignored.
///
/// # Safety
/// `file` is NULL or a live handle used by no other thread, not used again.
#[no_mangle]
pub unsafe extern "C" fn shoal_file_close(file: *mut ShoalFile) {
    if !file.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(file))));
    }
}

/// Brings every file at or under `path` into this node's cache (only what is missing).
/// Returns 0, or -1 on error (the first file that failed). `summary` may be NULL.
///
/// # Safety
/// `fs` is a live handle; `path` a NUL-terminated string; `summary` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn shoal_load(
    fs: *const ShoalFs,
    path: *const c_char,
    summary: *mut ShoalLoadSummary,
    err: *mut *mut ShoalError,
) -> c_int {
    guard(err, -1, || {
        let fs = handle(fs, "fs")?;
        let files = fs.ns.walk_files(text(path, "path")?)?;
        let mut s = ShoalLoadSummary {
            files: files.len() as u64,
            bytes: files.iter().map(|f| f.len).sum(),
            fetched_bytes: 0,
            cached_bytes_before: 0,
        };
        for f in files {
            s.cached_bytes_before += fs.ns.cached_bytes(&f.path, Some(f.clone()))?;
            s.fetched_bytes += fs.ns.load(&f.path, Some(f.clone()))?;
        }
        if let Some(out) = summary.as_mut() {
            *out = s;
        }
        Ok(0)
    })
}

/// Drops the pages of every file at or under `path` from this node's cache (the store is not
/// touched). Returns 0, or -1 on error. `freed_bytes` (may be NULL) receives the bytes freed
/// on disk.
///
/// # Safety
/// `fs` is a live handle; `path` a NUL-terminated string; `freed_bytes` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn shoal_free(
    fs: *const ShoalFs,
    path: *const c_char,
    freed_bytes: *mut u64,
    err: *mut *mut ShoalError,
) -> c_int {
    guard(err, -1, || {
        let fs = handle(fs, "fs")?;
        let mut freed = 0;
        for f in fs.ns.walk_files(text(path, "path")?)? {
            freed += fs.ns.free(&f.path.clone(), Some(f))?;
        }
        if let Some(out) = freed_bytes.as_mut() {
            *out = freed;
        }
        Ok(0)
    })
}

/// How many counters there are.
#[no_mangle]
pub extern "C" fn shoal_counter_count() -> usize {
    COUNTER_NAMES.len()
}

/// The name of counter `index` (`cache_hits`, `bytes_from_store`, ...), a static string;
/// NULL past the last one.
#[no_mangle]
pub extern "C" fn shoal_counter_name(index: usize) -> *const c_char {
    static NAMES: std::sync::OnceLock<Vec<CString>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        COUNTER_NAMES
            .iter()
            .map(|n| CString::new(*n).expect("counter names have no NUL"))
            .collect()
    });
    names.get(index).map_or(ptr::null(), |c| c.as_ptr())
}

fn copy_counters(values: &[u64], out: *mut u64, capacity: usize) -> usize {
    let n = values.len().min(capacity);
    if !out.is_null() {
        // SAFETY: out has room for `capacity` values (the contract) and n <= capacity.
        unsafe { ptr::copy_nonoverlapping(values.as_ptr(), out, n) };
    }
    n
}

/// Copies this filesystem's counters, in the order of `shoal_counter_name`, into `values`
/// (room for `capacity`); returns how many were written.
///
/// # Safety
/// `fs` is a live handle; `values` has room for `capacity` numbers.
#[no_mangle]
pub unsafe extern "C" fn shoal_fs_counters(
    fs: *const ShoalFs,
    values: *mut u64,
    capacity: usize,
) -> usize {
    match fs.as_ref() {
        Some(fs) => catch_unwind(AssertUnwindSafe(|| {
            copy_counters(&fs.ns.stats(), values, capacity)
        }))
        .unwrap_or(0),
        None => 0,
    }
}

/// Copies the counters of the whole process (every filesystem, every file), as
/// `shoal_fs_counters` does.
///
/// # Safety
/// `values` has room for `capacity` numbers.
#[no_mangle]
pub unsafe extern "C" fn shoal_process_counters(values: *mut u64, capacity: usize) -> usize {
    catch_unwind(|| copy_counters(&shoal_core::stats::process().snapshot(), values, capacity))
        .unwrap_or(0)
}

/// Releases an error and its message; NULL is ignored.
///
/// # Safety
/// `err` is NULL or an error this library returned, released once.
#[no_mangle]
pub unsafe extern "C" fn shoal_error_free(err: *mut ShoalError) {
    if err.is_null() {
        return;
    }
    let e = Box::from_raw(err);
    if !e.message.is_null() {
        drop(CString::from_raw(e.message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_match_the_core() {
        let kinds = [
            (ErrorKind::Other, SHOAL_ERR_OTHER),
            (ErrorKind::NotFound, SHOAL_ERR_NOT_FOUND),
            (ErrorKind::AlreadyExists, SHOAL_ERR_ALREADY_EXISTS),
            (ErrorKind::NotADirectory, SHOAL_ERR_NOT_A_DIRECTORY),
            (ErrorKind::IsADirectory, SHOAL_ERR_IS_A_DIRECTORY),
            (ErrorKind::NotEmpty, SHOAL_ERR_NOT_EMPTY),
            (ErrorKind::ReadOnly, SHOAL_ERR_READ_ONLY),
            (ErrorKind::PermissionDenied, SHOAL_ERR_PERMISSION_DENIED),
            (ErrorKind::PastEof, SHOAL_ERR_PAST_EOF),
            (ErrorKind::Unsupported, SHOAL_ERR_UNSUPPORTED),
            (ErrorKind::InvalidArgument, SHOAL_ERR_INVALID_ARGUMENT),
            (ErrorKind::Panic, SHOAL_ERR_PANIC),
            (ErrorKind::TimedOut, SHOAL_ERR_TIMED_OUT),
            (ErrorKind::Corrupt, SHOAL_ERR_CORRUPT),
            (ErrorKind::Config, SHOAL_ERR_CONFIG),
        ];
        for (kind, code) in kinds {
            assert_eq!(kind.code(), code, "{kind:?}");
        }
    }

    #[test]
    fn panics_become_errors() {
        let mut err: *mut ShoalError = ptr::null_mut();
        let v = guard(&mut err, -1, || -> Result<i32, Error> { panic!("boom") });
        assert_eq!(v, -1);
        assert!(!err.is_null());
        unsafe {
            assert_eq!((*err).kind, SHOAL_ERR_PANIC);
            let msg = CStr::from_ptr((*err).message).to_str().unwrap();
            assert!(msg.contains("boom"), "{msg}");
            shoal_error_free(err);
        }
    }
}

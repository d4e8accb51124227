//! shoal-jni: the JNI bridge between `io.shoal.jni.NativeMethods` and shoal-core.
//!
//! Every export has one shape, declared once by `export!`: the `extern "system"` function runs
//! its body, ordinary Rust returning `BridgeResult`, inside `EnvUnowned::with_env` (which
//! catches panics), and resolves the outcome with the one error policy, `ThrowMapped`.
//! This crate converts and nothing more; behaviour lives in shoal-core.
//!
//! Handles are `Box` pointers handed to Java as `long`; the Java owner frees each exactly once
//! through the matching `*Close`.

mod errors;
mod log;

use std::cell::RefCell;
use std::sync::Mutex;

use jni::objects::{JByteBuffer, JClass, JLongArray, JObject, JObjectArray, JString, JValue};
use jni::sys::{jboolean, jint, jlong};
use jni::{jni_sig, jni_str, Env, EnvUnowned};
use shoal_core::namespace::Listing;
use shoal_core::pread::AlignedBuf;
use shoal_core::{Cancel, Config, FileInfo, FileReader, FileWriter, Namespace};

use errors::{install_panic_hook, invalid, BridgeResult, ThrowMapped};

type Writer = Mutex<Option<FileWriter>>;

/// One export of `io.shoal.jni.NativeMethods`: `export! { fn name<'l>(|env|, arg: Type, ...) ->
/// Ret { body } }` defines `Java_io_shoal_jni_NativeMethods_name`, which runs `body` (ordinary
/// Rust returning `BridgeResult<Ret>`, with `env` the JNI environment) inside
/// `EnvUnowned::with_env`, which catches panics, and resolves its outcome with the bridge's one
/// error policy, `ThrowMapped`.
macro_rules! export {
    (
        $(#[$doc:meta])*
        fn $name:ident<$l:lifetime>(|$env:tt| $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty $body:block
    ) => {
        $(#[$doc])*
        #[allow(non_snake_case)]
        #[export_name = concat!("Java_io_shoal_jni_NativeMethods_", stringify!($name))]
        pub extern "system" fn $name<$l>(
            mut env: EnvUnowned<$l>,
            _class: JClass<$l>,
            $($arg: $ty),*
        ) -> $ret {
            env.with_env(|$env| -> BridgeResult<$ret> { $body })
                .resolve::<ThrowMapped>()
        }
    };
}

fn into_handle<T>(value: T) -> jlong {
    Box::into_raw(Box::new(value)) as jlong
}

/// Borrows the object behind a live handle.
///
/// # Safety
/// `handle` must be 0 or a pointer made by `into_handle::<T>` and not yet freed; the Java
/// owner guarantees this (it frees once, after every use).
unsafe fn borrow<'a, T>(handle: jlong, what: &str) -> BridgeResult<&'a T> {
    if handle == 0 {
        return Err(invalid(format!("{what} is closed")));
    }
    Ok(&*(handle as *const T))
}

/// Frees the object behind a handle; 0 is ignored.
///
/// # Safety
/// As for `borrow`, and the handle is not used again.
unsafe fn free<T>(handle: jlong) {
    if handle != 0 {
        drop(Box::from_raw(handle as *mut T));
    }
}

fn string(env: &Env<'_>, s: &JString<'_>, what: &str) -> BridgeResult<String> {
    if s.is_null() {
        return Err(invalid(format!("{what} is null")));
    }
    Ok(s.try_to_string(env)?)
}

fn opt_string(env: &Env<'_>, s: &JString<'_>) -> BridgeResult<Option<String>> {
    if s.is_null() {
        Ok(None)
    } else {
        Ok(Some(s.try_to_string(env)?))
    }
}

fn bool_of(b: bool) -> jboolean {
    b as jboolean
}

/// Checks `[off, off+len)` lies within an array or buffer of `cap` elements.
fn check_range(off: jint, len: jint, cap: usize) -> BridgeResult<(usize, usize)> {
    if off < 0 || len < 0 || off as usize + len as usize > cap {
        return Err(invalid(format!(
            "range offset {off} length {len} does not fit a buffer of {cap}"
        )));
    }
    Ok((off as usize, len as usize))
}

fn check_pos(pos: jlong) -> BridgeResult<u64> {
    if pos < 0 {
        return Err(shoal_core::Error::new(
            shoal_core::ErrorKind::PastEof,
            format!("negative position {pos}"),
        )
        .into());
    }
    Ok(pos as u64)
}

thread_local! {
    /// Per-thread staging buffer between the store and Java heap arrays. Page aligned, so that
    /// reads of page files into it copy at full speed (see `shoal_core::pread`).
    static SCRATCH: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::default());
}

fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let r = f(s.get(len));
        // Do not keep a huge buffer alive on every thread.
        if s.capacity() > 16 << 20 {
            s.clear();
        }
        r
    })
}

fn as_jbytes(b: &[u8]) -> &[i8] {
    // Safety: u8 and i8 have the same size and alignment.
    unsafe { std::slice::from_raw_parts(b.as_ptr() as *const i8, b.len()) }
}

fn as_jbytes_mut(b: &mut [u8]) -> &mut [i8] {
    // Safety: u8 and i8 have the same size and alignment.
    unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr() as *mut i8, b.len()) }
}

fn file_info<'l>(env: &mut Env<'l>, info: &FileInfo) -> BridgeResult<JObject<'l>> {
    let path = JString::from_str(env, &info.path)?;
    let etag = match &info.etag {
        Some(e) => JObject::from(JString::from_str(env, e)?),
        None => JObject::null(),
    };
    let version = match &info.version {
        Some(v) => JObject::from(JString::from_str(env, v)?),
        None => JObject::null(),
    };
    Ok(env.new_object(
        jni_str!("io/shoal/jni/NativeFileInfo"),
        jni_sig!("(Ljava/lang/String;ZJJLjava/lang/String;Ljava/lang/String;)V"),
        &[
            JValue::Object(&path),
            JValue::Bool(bool_of(info.is_dir)),
            JValue::Long(info.len as jlong),
            JValue::Long(info.mtime_ms),
            JValue::Object(&etag),
            JValue::Object(&version),
        ],
    )?)
}

// ---- filesystem -----------------------------------------------------------------------------

fn fs_open(
    env: &mut Env<'_>,
    keys: &JObjectArray<'_, JString<'_>>,
    values: &JObjectArray<'_, JString<'_>>,
) -> BridgeResult<jlong> {
    install_panic_hook();
    let n = keys.len(env)?;
    if values.len(env)? != n {
        return Err(invalid("configuration keys and values differ in number"));
    }
    let mut config = Config::new();
    for i in 0..n {
        let k = keys.get_element(env, i)?;
        let v = values.get_element(env, i)?;
        let key = string(env, &k, "configuration key")?;
        let value = opt_string(env, &v)?.unwrap_or_default();
        config.set(key, value);
    }
    Ok(into_handle(Namespace::new(&config)?))
}

export! {
    fn fsOpen<'l>(
        |env|,
        keys: JObjectArray<'l, JString<'l>>,
        values: JObjectArray<'l, JString<'l>>,
    ) -> jlong {
        fs_open(env, &keys, &values)
    }
}

export! {
    fn fsClose<'l>(|_|, fs: jlong) -> () {
        // Safety: the Java owner closes once.
        unsafe { free::<Namespace>(fs) };
        Ok(())
    }
}

export! {
    fn fsStatus<'l>(|env|, fs: jlong, path: JString<'l>) -> JObject<'l> {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        let info = ns.status(&string(env, &path, "path")?)?;
        file_info(env, &info)
    }
}

export! {
    fn fsList<'l>(|env|, fs: jlong, path: JString<'l>) -> JObjectArray<'l> {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        let infos = ns.list(&string(env, &path, "path")?)?;
        info_array(env, &infos)
    }
}

// ---- listings -------------------------------------------------------------------------------

/// A listing in progress, handed to Java batch by batch; one Java iterator uses it at a time.
type ListingHandle = Mutex<Listing>;

export! {
    /// Starts listing a directory (`recursive`: every file under it), reading its first page:
    /// a missing path fails here.
    fn listingOpen<'l>(|env|, fs: jlong, path: JString<'l>, recursive: jboolean) -> jlong {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        let path = string(env, &path, "path")?;
        let listing = if recursive as u8 != 0 {
            ns.walk_stream(&path)?
        } else {
            ns.list_stream(&path)?
        };
        Ok(into_handle::<ListingHandle>(Mutex::new(listing)))
    }
}

export! {
    /// The next batch of at most `max` entries; an empty array once the listing is over.
    fn listingNext<'l>(|env|, listing: jlong, max: jint) -> JObjectArray<'l> {
        let listing = unsafe { borrow::<ListingHandle>(listing, "listing")? };
        if max <= 0 {
            return Err(invalid(format!("batch size {max} is not positive")));
        }
        let batch = listing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_batch(max as usize)?;
        info_array(env, &batch)
    }
}

export! {
    fn listingClose<'l>(|_|, listing: jlong) -> () {
        // Safety: the Java owner closes once.
        unsafe { free::<ListingHandle>(listing) };
        Ok(())
    }
}

fn info_array<'l>(env: &mut Env<'l>, infos: &[FileInfo]) -> BridgeResult<JObjectArray<'l>> {
    object_array(
        env,
        jni_str!("io/shoal/jni/NativeFileInfo"),
        infos,
        file_info,
    )
}

/// A Java array of `class` with `make(item)` for each item; one local frame per element keeps
/// big arrays within the local reference table.
fn object_array<'l, T>(
    env: &mut Env<'l>,
    class: &jni::strings::JNIStr,
    items: &[T],
    make: impl for<'f> Fn(&mut Env<'f>, &T) -> BridgeResult<JObject<'f>>,
) -> BridgeResult<JObjectArray<'l>> {
    let array = env.new_object_array(items.len() as i32, class, JObject::null())?;
    for (i, item) in items.iter().enumerate() {
        env.with_local_frame(4, |env| -> BridgeResult<()> {
            let obj = make(env, item)?;
            array.set_element(env, i, &obj)?;
            Ok(())
        })?;
    }
    Ok(array)
}

export! {
    fn fsMkdirs<'l>(|env|, fs: jlong, path: JString<'l>) -> jboolean {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        ns.mkdirs(&string(env, &path, "path")?)?;
        Ok(bool_of(true))
    }
}

export! {
    fn fsEtagsAvailable<'l>(|env|, fs: jlong, path: JString<'l>) -> jboolean {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        Ok(bool_of(ns.etags_available(&string(env, &path, "path")?)?))
    }
}

export! {
    fn fsDelete<'l>(|env|, fs: jlong, path: JString<'l>, recursive: jboolean) -> jboolean {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        let done = ns.delete(&string(env, &path, "path")?, recursive as u8 != 0)?;
        Ok(bool_of(done))
    }
}

export! {
    fn fsRename<'l>(|env|, fs: jlong, src: JString<'l>, dst: JString<'l>) -> jboolean {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        let src = string(env, &src, "source path")?;
        let dst = string(env, &dst, "destination path")?;
        Ok(bool_of(ns.rename(&src, &dst)?))
    }
}

// ---- readers --------------------------------------------------------------------------------

/// The arguments of a call on one version of a file: the filesystem, the path, and the
/// version the caller names with the length, ETag and version of a status it has (a
/// listing's); `None` (ask the store) when the length is negative or the version null.
fn file_args<'a>(
    env: &Env<'_>,
    fs: jlong,
    path: &JString<'_>,
    length: jlong,
    etag: &JString<'_>,
    version: &JString<'_>,
) -> BridgeResult<(&'a Namespace, String, Option<FileInfo>)> {
    // Safety: a live handle, as for every call (see `borrow`).
    let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
    let path = string(env, path, "path")?;
    let version = opt_string(env, version)?;
    let known = match (length >= 0, version) {
        (true, Some(version)) => Some(FileInfo {
            path: path.clone(),
            is_dir: false,
            len: length as u64,
            mtime_ms: 0,
            etag: opt_string(env, etag)?,
            version: Some(version),
        }),
        _ => None,
    };
    Ok((ns, path, known))
}

export! {
    fn readerOpen<'l>(
        |env|,
        fs: jlong,
        path: JString<'l>,
        length: jlong,
        etag: JString<'l>,
        version: JString<'l>,
    ) -> JObject<'l> {
        let (ns, path, known) = file_args(env, fs, &path, length, &etag, &version)?;
        let reader = ns.open(&path, known)?;
        let (len, version) = (reader.len(), reader.version().map(str::to_string));
        let handle = into_handle(reader);
        let made = native_reader(env, handle, len, version.as_deref());
        if made.is_err() {
            // Safety: the handle was never given to Java.
            unsafe { free::<FileReader>(handle) };
        }
        made
    }
}

/// The `io.shoal.jni.NativeReader` that owns `handle`.
fn native_reader<'l>(
    env: &mut Env<'l>,
    handle: jlong,
    len: u64,
    version: Option<&str>,
) -> BridgeResult<JObject<'l>> {
    let version = match version {
        Some(v) => JObject::from(JString::from_str(env, v)?),
        None => JObject::null(),
    };
    Ok(env.new_object(
        jni_str!("io/shoal/jni/NativeReader"),
        jni_sig!("(JJLjava/lang/String;)V"),
        &[
            JValue::Long(handle),
            JValue::Long(len as jlong),
            JValue::Object(&version),
        ],
    )?)
}

export! {
    fn readerRead<'l>(
        |env|,
        reader: jlong,
        pos: jlong,
        buf: jni::objects::JByteArray<'l>,
        off: jint,
        len: jint,
    ) -> jint {
        let r = unsafe { borrow::<FileReader>(reader, "stream")? };
        if buf.is_null() {
            return Err(invalid("buffer is null"));
        }
        let (off, len) = check_range(off, len, buf.len(env)?)?;
        let pos = check_pos(pos)?;
        if len == 0 {
            return Ok(0);
        }
        if pos >= r.len() {
            return Ok(-1);
        }
        with_scratch(len, |scratch| -> BridgeResult<jint> {
            let n = r.read_at(pos, scratch)?;
            buf.set_region(env, off as i32, as_jbytes(&scratch[..n]))?;
            Ok(if n == 0 { -1 } else { n as jint })
        })
    }
}

export! {
    fn readerReadDirect<'l>(
        |env|,
        reader: jlong,
        pos: jlong,
        buf: JByteBuffer<'l>,
        off: jint,
        len: jint,
    ) -> jint {
        let r = unsafe { borrow::<FileReader>(reader, "stream")? };
        if buf.is_null() {
            return Err(invalid("buffer is null"));
        }
        let addr = env.get_direct_buffer_address(&buf)?;
        let cap = env.get_direct_buffer_capacity(&buf)?;
        let (off, len) = check_range(off, len, cap)?;
        let pos = check_pos(pos)?;
        if len == 0 {
            return Ok(0);
        }
        if pos >= r.len() {
            return Ok(-1);
        }
        // Safety: the range lies within the direct buffer, which the caller keeps alive.
        let out = unsafe { std::slice::from_raw_parts_mut(addr.add(off), len) };
        let n = r.read_at(pos, out)?;
        Ok(if n == 0 { -1 } else { n as jint })
    }
}

export! {
    fn readerClose<'l>(|_|, reader: jlong) -> () {
        unsafe { free::<FileReader>(reader) };
        Ok(())
    }
}

export! {
    fn readerPrefetch<'l>(
        |env|,
        reader: jlong,
        positions: JLongArray<'l>,
        lengths: JLongArray<'l>,
    ) -> () {
        let r = unsafe { borrow::<FileReader>(reader, "stream")? };
        let n = positions.len(env)?;
        if lengths.len(env)? != n {
            return Err(invalid("positions and lengths differ in number"));
        }
        let mut pos = vec![0i64; n];
        let mut len = vec![0i64; n];
        positions.get_region(env, 0, &mut pos)?;
        lengths.get_region(env, 0, &mut len)?;
        let mut ranges = Vec::with_capacity(n);
        for (p, l) in pos.into_iter().zip(len) {
            ranges.push((check_pos(p)?, check_pos(l)?));
        }
        Ok(r.fetch_ranges(&ranges)?)
    }
}

/// The three per-file cache operations the Spark jobs run on each node, by path and version
/// (as for `readerOpen`): no reader is opened for them.
macro_rules! fs_file_op {
    ($export:ident, $op:ident) => {
        export! {
            fn $export<'l>(
                |env|,
                fs: jlong,
                path: JString<'l>,
                length: jlong,
                etag: JString<'l>,
                version: JString<'l>,
            ) -> jlong {
                let (ns, path, known) = file_args(env, fs, &path, length, &etag, &version)?;
                Ok(ns.$op(&path, known)? as jlong)
            }
        }
    };
}

fs_file_op!(fsLoad, load);
fs_file_op!(fsLoadFooter, load_footer);
fs_file_op!(fsFree, free);
fs_file_op!(fsCachedBytes, cached_bytes);

// ---- many files in one call (the Spark jobs' tasks) ----------------------------------------

/// How often `fsFiles` asks its Java batch whether it was cancelled.
const CANCEL_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Whether `fsFiles`'s Java batch says it was cancelled (`NativeFs.Batch.cancelled`).
fn asked_to_cancel(env: &mut Env<'_>, batch: &JObject<'_>) -> BridgeResult<bool> {
    Ok(env
        .call_method(batch, jni_str!("cancelled"), jni_sig!("()Z"), &[])?
        .z()?)
}

/// `fsFiles`'s operations, as `io.shoal.jni.NativeFs.FileOp` numbers them.
const FILES_LOAD: jint = 0;
const FILES_LOAD_FOOTERS: jint = 1;
const FILES_FREE: jint = 2;
const FILES_CACHED: jint = 3;

/// One file of a batch: the length, ETag and version of a listed status (the current version
/// when the version is null).
fn batch_file(
    env: &mut Env<'_>,
    arrays: [&JObjectArray<'_, JString<'_>>; 3],
    len: jlong,
    i: usize,
) -> BridgeResult<FileInfo> {
    env.with_local_frame(4, |env| -> BridgeResult<FileInfo> {
        let [paths, etags, versions] = arrays;
        let (p, e, v) = (
            paths.get_element(env, i)?,
            etags.get_element(env, i)?,
            versions.get_element(env, i)?,
        );
        let path = string(env, &p, "path")?;
        let version = opt_string(env, &v)?;
        if len < 0 && version.is_some() {
            return Err(invalid(format!("negative length {len} for {path}")));
        }
        Ok(FileInfo {
            path,
            is_dir: false,
            len: len.max(0) as u64,
            mtime_ms: 0,
            etag: opt_string(env, &e)?,
            version,
        })
    })
}

export! {
    /// Runs one cache operation over many files, in parallel as the core does it (`op`: 0 load,
    /// 1 load footers, 2 free, 3 cached bytes), and calls `batch.done(index, a, b, errorCode,
    /// errorMessage)` on this (Java) thread as each file finishes: `a, b` are the bytes cached
    /// before and fetched (loads), cached before and freed (free), or cached and 0 (cached
    /// bytes). A file that fails gets its error's kind code and message; the others go on.
    ///
    /// `batch.cancelled()` is asked every `CANCEL_POLL` on this thread while the call runs:
    /// once it answers true (or a callback throws), the call starts no more work, lets the
    /// page fetches in flight finish and reports every file not done with a "cancelled"
    /// error (`shoal_core::cancel`), then returns.
    fn fsFiles<'l>(
        |env|,
        fs: jlong,
        op: jint,
        paths: JObjectArray<'l, JString<'l>>,
        lengths: JLongArray<'l>,
        etags: JObjectArray<'l, JString<'l>>,
        versions: JObjectArray<'l, JString<'l>>,
        batch: JObject<'l>,
    ) -> () {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        if !(FILES_LOAD..=FILES_CACHED).contains(&op) {
            return Err(invalid(format!("unknown file operation {op}")));
        }
        if batch.is_null() {
            return Err(invalid("batch is null"));
        }
        let n = paths.len(env)?;
        if lengths.len(env)? != n || etags.len(env)? != n || versions.len(env)? != n {
            return Err(invalid("paths, lengths, ETags and versions differ in number"));
        }
        let mut lens = vec![0i64; n];
        lengths.get_region(env, 0, &mut lens)?;
        let mut files = Vec::with_capacity(n);
        for (i, len) in lens.into_iter().enumerate() {
            files.push(batch_file(env, [&paths, &etags, &versions], len, i)?);
        }
        type Done = (usize, shoal_core::Result<(u64, u64)>);
        let (tx, rx) = std::sync::mpsc::channel::<Done>();
        let cancel = Cancel::new();
        if asked_to_cancel(env, &batch)? {
            cancel.cancel();
        }
        std::thread::scope(|s| -> BridgeResult<()> {
            let files = &files;
            let cancel = &cancel;
            let worker = std::thread::Builder::new()
                .name("shoal-files".into())
                .spawn_scoped(s, move || {
                    let send = |i, r| {
                        let _ = tx.send((i, r));
                    };
                    match op {
                        FILES_LOAD => ns.load_files(files, cancel, |i, r| {
                            send(i, r.map(|l| (l.cached_before, l.fetched)))
                        }),
                        FILES_LOAD_FOOTERS => ns.load_footers(files, cancel, |i, r| {
                            send(i, r.map(|l| (l.cached_before, l.fetched)))
                        }),
                        FILES_FREE => ns.free_files(files, cancel, send),
                        _ => ns.cached_files(files, cancel, |i, r| send(i, r.map(|n| (n, 0)))),
                    }
                })
                .map_err(|e| invalid(format!("cannot start a thread: {e}")))?;
            // Every callback runs here, on the Java thread; after one fails (its exception
            // pending), the batch is cancelled and the rest are drained unseen.
            let mut failed: Option<errors::BridgeError> = None;
            let mut asked = std::time::Instant::now();
            loop {
                if failed.is_none()
                    && !cancel.is_cancelled()
                    && asked.elapsed() >= CANCEL_POLL
                {
                    asked = std::time::Instant::now();
                    match asked_to_cancel(env, &batch) {
                        Ok(false) => {}
                        Ok(true) => cancel.cancel(),
                        Err(e) => {
                            cancel.cancel();
                            failed = Some(e);
                        }
                    }
                }
                let (i, r) = match rx.recv_timeout(CANCEL_POLL) {
                    Ok(done) => done,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                };
                if failed.is_some() {
                    continue;
                }
                let (a, b, code, message) = match r {
                    Ok((a, b)) => (a, b, 0, None),
                    Err(e) => (0, 0, e.kind().code(), Some(e.message().to_string())),
                };
                let called = env.with_local_frame(4, |env| -> BridgeResult<()> {
                    let message = match message {
                        Some(m) => JObject::from(JString::from_str(env, &m)?),
                        None => JObject::null(),
                    };
                    env.call_method(
                        &batch,
                        jni_str!("done"),
                        jni_sig!("(IJJILjava/lang/String;)V"),
                        &[
                            JValue::Int(i as jint),
                            JValue::Long(a as jlong),
                            JValue::Long(b as jlong),
                            JValue::Int(code),
                            JValue::Object(&message),
                        ],
                    )?;
                    Ok(())
                });
                if let Err(e) = called {
                    cancel.cancel();
                    failed = Some(e);
                }
            }
            if let Err(panic) = worker.join() {
                // Caught by `with_env`, as a panic on this thread is.
                std::panic::resume_unwind(panic);
            }
            failed.map_or(Ok(()), Err)
        })
    }
}

export! {
    fn readerStats<'l>(|env|, reader: jlong) -> JLongArray<'l> {
        let r = unsafe { borrow::<FileReader>(reader, "stream")? };
        long_array(env, &r.stats())
    }
}

export! {
    /// Panics with `message`: the proof, for tests and for operators checking a deployment, that a
    /// panic in native code reaches Java as an exception and leaves the JVM running.
    fn panicForTest<'l>(|env|, message: JString<'l>) -> () {
        install_panic_hook();
        let message = string(env, &message, "message")?;
        panic!("{message}");
    }
}

// ---- logging --------------------------------------------------------------------------------

export! {
    /// Sets the most verbose native level forwarded to the JVM's log (0 off ... 5 trace) and
    /// installs the forwarding, once. Called on a Java thread by `io.shoal.jni.NativeLog`.
    fn logInit<'l>(|_|, level: jint) -> () {
        install_panic_hook();
        log::init(level.clamp(0, 5) as u8);
        Ok(())
    }
}

export! {
    /// Waits up to `timeout_ms` for native log events and returns them as flat triples: level
    /// (`1` error ... `5` trace), target, message.
    fn logPoll<'l>(|env|, timeout_ms: jlong) -> JObjectArray<'l> {
        let wait = std::time::Duration::from_millis(timeout_ms.clamp(0, 60_000) as u64);
        let entries = log::poll(wait);
        let mut flat = Vec::with_capacity(entries.len() * 3);
        for (level, target, message) in entries {
            flat.push(level.to_string());
            flat.push(target);
            flat.push(message);
        }
        string_array(env, &flat)
    }
}

// ---- placement ------------------------------------------------------------------------------

export! {
    fn clusterSetHosts<'l>(|env|, hosts: JObjectArray<'l, JString<'l>>) -> () {
        let n = hosts.len(env)?;
        let mut list = Vec::with_capacity(n);
        for i in 0..n {
            let h = hosts.get_element(env, i)?;
            list.push(string(env, &h, "host name")?);
        }
        shoal_core::placement::set_live_hosts(&list);
        Ok(())
    }
}

export! {
    fn fsBlockOwners<'l>(
        |env|,
        fs: jlong,
        path: JString<'l>,
        length: jlong,
        block_size: jlong,
    ) -> JObjectArray<'l> {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        let path = string(env, &path, "path")?;
        if length < 0 || block_size <= 0 {
            return Err(invalid(format!(
                "bad length {length} or block size {block_size}"
            )));
        }
        let owners = ns.block_owners(&path, length as u64, block_size as u64);
        string_array(env, &owners)
    }
}

fn string_array<'l, S: AsRef<str>>(
    env: &mut Env<'l>,
    items: &[S],
) -> BridgeResult<JObjectArray<'l>> {
    object_array(env, jni_str!("java/lang/String"), items, |env, item| {
        Ok(JString::from_str(env, item.as_ref())?.into())
    })
}

// ---- statistics -----------------------------------------------------------------------------

fn long_array<'l>(env: &mut Env<'l>, values: &[u64]) -> BridgeResult<JLongArray<'l>> {
    let array = JLongArray::new(env, values.len())?;
    let v: Vec<i64> = values.iter().map(|v| *v as i64).collect();
    array.set_region(env, 0, &v)?;
    Ok(array)
}

export! {
    fn statsNames<'l>(|env|) -> JObjectArray<'l> {
        string_array(env, shoal_core::stats::COUNTER_NAMES)
    }
}

export! {
    fn fsStats<'l>(|env|, fs: jlong) -> JLongArray<'l> {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        long_array(env, &ns.stats())
    }
}

export! {
    fn processStats<'l>(|env|) -> JLongArray<'l> {
        long_array(env, &shoal_core::stats::process().snapshot())
    }
}

export! {
    fn fsCacheUsage<'l>(|env|, fs: jlong) -> JLongArray<'l> {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        let (used, capacity) = ns.cache_usage();
        long_array(env, &[used, capacity])
    }
}

// ---- writers --------------------------------------------------------------------------------

export! {
    fn writerOpen<'l>(|env|, fs: jlong, path: JString<'l>, overwrite: jboolean) -> jlong {
        let ns = unsafe { borrow::<Namespace>(fs, "filesystem")? };
        let w = ns.create(&string(env, &path, "path")?, overwrite as u8 != 0)?;
        Ok(into_handle::<Writer>(Mutex::new(Some(w))))
    }
}

export! {
    fn writerWrite<'l>(
        |env|,
        writer: jlong,
        buf: jni::objects::JByteArray<'l>,
        off: jint,
        len: jint,
    ) -> () {
        let w = unsafe { borrow::<Writer>(writer, "output stream")? };
        if buf.is_null() {
            return Err(invalid("buffer is null"));
        }
        let (off, len) = check_range(off, len, buf.len(env)?)?;
        if len == 0 {
            return Ok(());
        }
        let mut guard = w.lock().unwrap_or_else(|p| p.into_inner());
        let Some(fw) = guard.as_mut() else {
            return Err(invalid("output stream is closed"));
        };
        with_scratch(len, |scratch| -> BridgeResult<()> {
            buf.get_region(env, off as i32, as_jbytes_mut(scratch))?;
            fw.write(scratch)?;
            Ok(())
        })
    }
}

export! {
    fn writerClose<'l>(|_|, writer: jlong) -> () {
        if writer == 0 {
            return Ok(());
        }
        // Safety: the Java owner closes once; the writer is freed whatever the outcome.
        let w = unsafe { Box::from_raw(writer as *mut Writer) };
        let fw = w.into_inner().unwrap_or_else(|p| p.into_inner());
        match fw {
            Some(fw) => Ok(fw.close()?),
            None => Ok(()),
        }
    }
}

export! {
    fn writerAbort<'l>(|_|, writer: jlong) -> () {
        if writer == 0 {
            return Ok(());
        }
        let w = unsafe { Box::from_raw(writer as *mut Writer) };
        if let Some(fw) = w.into_inner().unwrap_or_else(|p| p.into_inner()) {
            fw.abort();
        }
        Ok(())
    }
}

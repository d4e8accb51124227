//! The bridge from the JVM's side, in this process: a Java VM started with `-Xcheck:jni` loads
//! `libshoal_jni.so` the way the jar does (`NativeLibrary.load`, `java.library.path`) and calls
//! `io.shoal.jni.NativeMethods` as the Java classes do: open a filesystem over a local mount,
//! status, list, open a reader (length and version in one call), read, load, free, a missing
//! file (a `FileNotFoundException`), a panic (an `IOException`, the JVM still running). Whatever
//! the JVM prints on its standard output (where its JNI checks report misuse) is captured, and
//! any warning fails the test. Every native method `NativeMethods.java` declares must be
//! exported by the library.
//!
//! Needs a JDK (`JAVA_HOME`, else the `javac` on `PATH`) and Spark 3.5's jars for Hadoop's and
//! SLF4J's classes (`scripts/setup.sh` installs them; `SHOAL_TEST_HADOOP_JARS` overrides).

use std::ffi::{c_void, CString};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use jni::objects::{JByteArray, JObject, JObjectArray, JString, JValue};
use jni::sys::{jint, JavaVMInitArgs, JavaVMOption, JNI_FALSE, JNI_OK, JNI_VERSION_1_8};
use jni::{jni_sig, jni_str, Env, JavaVM};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The JDK: `JAVA_HOME`, else the one whose `javac` is on `PATH`.
fn jdk() -> PathBuf {
    if let Some(h) = std::env::var_os("JAVA_HOME") {
        return PathBuf::from(h);
    }
    let out = Command::new("sh")
        .args(["-c", "readlink -f \"$(command -v javac)\""])
        .output()
        .expect("sh");
    let javac = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    javac
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .filter(|p| p.join("bin/javac").exists())
        .expect("a JDK: set JAVA_HOME or put javac on PATH")
}

/// Every jar of Spark 3.5 (Hadoop and SLF4J among them).
fn hadoop_jars() -> Vec<PathBuf> {
    let dir = std::env::var_os("SHOAL_TEST_HADOOP_JARS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools/spark35/lib/python3.11/site-packages/pyspark/jars"));
    let jars: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jar"))
        .collect();
    assert!(!jars.is_empty(), "no jars in {}", dir.display());
    jars
}

/// The directory of the `libshoal_jni.so` cargo built with this test: beside the test binary
/// (`target/<profile>/deps`; the copy one level up is refreshed only by builds that ask for it).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().to_path_buf();
    assert!(
        dir.join("libshoal_jni.so").exists(),
        "no libshoal_jni.so in {}",
        dir.display()
    );
    dir
}

/// The names of the native methods `NativeMethods.java` declares.
fn declared_natives() -> Vec<String> {
    let text =
        std::fs::read_to_string(repo().join("jvm/src/main/java/io/shoal/jni/NativeMethods.java"))
            .unwrap();
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    joined
        .split(" static native ")
        .skip(1)
        .map(|rest| {
            let head = rest.split('(').next().unwrap();
            head.split_whitespace().last().unwrap().to_string()
        })
        .collect()
}

/// Compiles the `io.shoal.jni` classes into `out`.
fn compile_classes(jdk: &Path, classpath: &str, out: &Path) {
    let dir = repo().join("jvm/src/main/java/io/shoal/jni");
    let sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "java"))
        .collect();
    let status = Command::new(jdk.join("bin/javac"))
        .args(["-nowarn", "-d"])
        .arg(out)
        .args(["-cp", classpath])
        .args(&sources)
        .status()
        .expect("javac");
    assert!(status.success(), "javac failed");
}

/// Starts a JVM in this process (one per process) through `JNI_CreateJavaVM` of its libjvm.
fn start_jvm(jdk: &Path, options: &[String]) -> JavaVM {
    type CreateJavaVm = unsafe extern "system" fn(
        *mut *mut jni::sys::JavaVM,
        *mut *mut c_void,
        *mut c_void,
    ) -> jint;
    let libjvm = CString::new(jdk.join("lib/server/libjvm.so").to_str().unwrap()).unwrap();
    // Safety: plain dlopen/dlsym of the JDK's libjvm; the symbol has the JNI signature.
    let create: CreateJavaVm = unsafe {
        let lib = libc::dlopen(libjvm.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
        assert!(!lib.is_null(), "cannot load {libjvm:?}");
        let sym = libc::dlsym(lib, c"JNI_CreateJavaVM".as_ptr());
        assert!(!sym.is_null(), "no JNI_CreateJavaVM in {libjvm:?}");
        std::mem::transmute::<*mut c_void, CreateJavaVm>(sym)
    };
    let strings: Vec<CString> = options
        .iter()
        .map(|o| CString::new(o.as_str()).unwrap())
        .collect();
    let mut opts: Vec<JavaVMOption> = strings
        .iter()
        .map(|s| JavaVMOption {
            optionString: s.as_ptr() as *mut _,
            extraInfo: std::ptr::null_mut(),
        })
        .collect();
    let mut args = JavaVMInitArgs {
        version: JNI_VERSION_1_8,
        nOptions: opts.len() as jint,
        options: opts.as_mut_ptr(),
        ignoreUnrecognized: JNI_FALSE,
    };
    let mut vm: *mut jni::sys::JavaVM = std::ptr::null_mut();
    let mut env: *mut c_void = std::ptr::null_mut();
    // Safety: the arguments outlive the call, as JNI_CreateJavaVM requires.
    let r = unsafe { create(&mut vm, &mut env, &mut args as *mut _ as *mut c_void) };
    assert_eq!(r, JNI_OK, "JNI_CreateJavaVM failed");
    // Safety: a live VM just created.
    unsafe { JavaVM::from_raw(vm) }
}

/// The class name of the exception a call left pending, which is cleared.
fn take_exception(env: &mut Env<'_>) -> String {
    let t = env.exception_occurred().expect("an exception is pending");
    env.exception_clear();
    let class = env.get_object_class(&t).unwrap();
    let name = env
        .call_method(
            &class,
            jni_str!("getName"),
            jni_sig!("()Ljava/lang/String;"),
            &[],
        )
        .unwrap()
        .l()
        .unwrap();
    env.cast_local::<JString>(name)
        .unwrap()
        .try_to_string(env)
        .unwrap()
}

fn strings<'l>(env: &mut Env<'l>, items: &[&str]) -> JObjectArray<'l> {
    let array = env
        .new_object_array(
            items.len() as i32,
            jni_str!("java/lang/String"),
            JObject::null(),
        )
        .unwrap();
    for (i, s) in items.iter().enumerate() {
        let s = env.new_string(s).unwrap();
        array.set_element(env, i, &s).unwrap();
    }
    array
}

const NM: &jni::strings::JNIStr = jni_str!("io/shoal/jni/NativeMethods");

/// `NativeMethods.<name>(fs, path, -1, null, null)`: a per-file cache operation on the current
/// version of a file.
fn file_op(
    env: &mut Env<'_>,
    name: &jni::strings::JNIStr,
    fs: i64,
    path: &JString<'_>,
) -> jni::errors::Result<i64> {
    let null = JObject::null();
    env.call_static_method(
        NM,
        name,
        jni_sig!("(JLjava/lang/String;JLjava/lang/String;Ljava/lang/String;)J"),
        &[
            JValue::Long(fs),
            JValue::Object(path),
            JValue::Long(-1),
            JValue::Object(&null),
            JValue::Object(&null),
        ],
    )?
    .j()
}

/// `NativeMethods.<name>(fs, path)`, of signature `sig`: the filesystem's calls on a path that
/// answer with an object.
fn fs_path_call<'l, 'sig, 'args>(
    env: &mut Env<'l>,
    name: &jni::strings::JNIStr,
    sig: impl AsRef<jni::signature::MethodSignature<'sig, 'args>>,
    fs: i64,
    path: &JString<'_>,
) -> jni::errors::Result<JObject<'l>> {
    env.call_static_method(NM, name, sig, &[JValue::Long(fs), JValue::Object(path)])?
        .l()
}

fn exercise(env: &mut Env<'_>, data: &Path, cache: &Path) -> jni::errors::Result<()> {
    env.call_static_method(
        jni_str!("io/shoal/jni/NativeLibrary"),
        jni_str!("load"),
        jni_sig!("()V"),
        &[],
    )?;
    let uri = format!("file://{}", data.display());
    let dirs = format!("{}:64m", cache.display());
    let keys = strings(
        env,
        &[
            "shoal.mount.d.path",
            "shoal.mount.d.uri",
            "shoal.mount.d.cache",
            "shoal.cache.dirs",
            "shoal.cache.page.size",
            // The file is listed, then opened: a prefetch would fetch all of it, and `fsLoad`
            // below is to fetch what the reader left.
            "shoal.prefetch.enabled",
        ],
    );
    let values = strings(env, &["/d", &uri, "true", &dirs, "64k", "false"]);
    let fs = env
        .call_static_method(
            NM,
            jni_str!("fsOpen"),
            jni_sig!("([Ljava/lang/String;[Ljava/lang/String;)J"),
            &[JValue::Object(&keys), JValue::Object(&values)],
        )?
        .j()?;
    assert_ne!(fs, 0);
    let path = env.new_string("/d/f.bin")?;

    let info = fs_path_call(
        env,
        jni_str!("fsStatus"),
        jni_sig!("(JLjava/lang/String;)Lio/shoal/jni/NativeFileInfo;"),
        fs,
        &path,
    )?;
    let len = env
        .get_field(&info, jni_str!("length"), jni_sig!("J"))?
        .j()?;
    assert_eq!(len, 200_000);
    let dir = env.new_string("/d")?;
    let listing = fs_path_call(
        env,
        jni_str!("fsList"),
        jni_sig!("(JLjava/lang/String;)[Lio/shoal/jni/NativeFileInfo;"),
        fs,
        &dir,
    )?;
    let listing = env.cast_local::<JObjectArray>(listing)?;
    assert_eq!(listing.len(env)?, 1);

    // One call: the reader, its length and its version.
    let null = JObject::null();
    let reader = env
        .call_static_method(NM, jni_str!("readerOpen"), jni_sig!("(JLjava/lang/String;JLjava/lang/String;Ljava/lang/String;)Lio/shoal/jni/NativeReader;"), &[JValue::Long(fs), JValue::Object(&path), JValue::Long(-1), JValue::Object(&null), JValue::Object(&null)])?
        .l()?;
    let rlen = env
        .call_method(&reader, jni_str!("length"), jni_sig!("()J"), &[])?
        .j()?;
    assert_eq!(rlen, 200_000);
    let version = env
        .call_method(
            &reader,
            jni_str!("version"),
            jni_sig!("()Ljava/lang/String;"),
            &[],
        )?
        .l()?;
    assert!(!version.is_null());
    let handle = env
        .get_field(
            &reader,
            jni_str!("handle"),
            jni_sig!("Ljava/util/concurrent/atomic/AtomicLong;"),
        )?
        .l()?;
    let handle = env
        .call_method(&handle, jni_str!("get"), jni_sig!("()J"), &[])?
        .j()?;
    let buf = JByteArray::new(env, 1000)?;
    let n = env
        .call_static_method(
            NM,
            jni_str!("readerRead"),
            jni_sig!("(JJ[BII)I"),
            &[
                JValue::Long(handle),
                JValue::Long(70_000),
                JValue::Object(&buf),
                JValue::Int(0),
                JValue::Int(1000),
            ],
        )?
        .i()?;
    assert_eq!(n, 1000);
    let mut got = vec![0i8; 1000];
    buf.get_region(env, 0, &mut got)?;
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, b)| *b as u8 == ((70_000 + i) % 251) as u8));
    env.call_static_method(
        NM,
        jni_str!("readerClose"),
        jni_sig!("(J)V"),
        &[JValue::Long(handle)],
    )?;

    // Load and free by path, no reader.
    let fetched = file_op(env, jni_str!("fsLoad"), fs, &path)?;
    assert!(fetched > 0 && fetched < 200_000, "{fetched}");
    assert_eq!(file_op(env, jni_str!("fsCachedBytes"), fs, &path)?, 200_000);
    let freed = file_op(env, jni_str!("fsFree"), fs, &path)?;
    assert!(freed > 0);

    // Errors arrive as the exceptions Hadoop expects; a panic as an IOException.
    let missing = env.new_string("/d/missing")?;
    let r = env.call_static_method(
        NM,
        jni_str!("fsStatus"),
        jni_sig!("(JLjava/lang/String;)Lio/shoal/jni/NativeFileInfo;"),
        &[JValue::Long(fs), JValue::Object(&missing)],
    );
    assert!(r.is_err());
    assert_eq!(take_exception(env), "java.io.FileNotFoundException");
    let msg = env.new_string("a test panic")?;
    let r = env.call_static_method(
        NM,
        jni_str!("panicForTest"),
        jni_sig!("(Ljava/lang/String;)V"),
        &[JValue::Object(&msg)],
    );
    assert!(r.is_err());
    assert_eq!(take_exception(env), "java.io.IOException");

    env.call_static_method(
        NM,
        jni_str!("fsClose"),
        jni_sig!("(J)V"),
        &[JValue::Long(fs)],
    )?;
    Ok(())
}

#[test]
fn a_jvm_with_xcheck_jni_drives_the_bridge() {
    let jdk = jdk();
    let jars = hadoop_jars();
    let tmp = tempfile::tempdir().unwrap();
    let classes = tmp.path().join("classes");
    let jar_path = jars
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    compile_classes(&jdk, &jar_path, &classes);
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let bytes: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
    std::fs::write(data.join("f.bin"), bytes).unwrap();
    let lib_dir = library_dir();

    // Every declared native method is exported.
    let lib = CString::new(lib_dir.join("libshoal_jni.so").to_str().unwrap()).unwrap();
    // Safety: dlopen/dlsym of the library cargo built.
    let handle = unsafe { libc::dlopen(lib.as_ptr(), libc::RTLD_NOW) };
    assert!(!handle.is_null());
    let natives = declared_natives();
    assert!(natives.len() > 20, "{natives:?}");
    for name in &natives {
        let sym = CString::new(format!("Java_io_shoal_jni_NativeMethods_{name}")).unwrap();
        // Safety: as above.
        let found = unsafe { libc::dlsym(handle, sym.as_ptr()) };
        assert!(!found.is_null(), "NativeMethods.{name} is not exported");
    }

    // The JVM's standard output (its JNI checks' reports) goes to a file while it runs.
    let out_path = tmp.path().join("jvm-stdout.txt");
    let out_file = std::fs::File::create(&out_path).unwrap();
    // Safety: plain descriptor juggling; stdout is restored below.
    let saved = unsafe { libc::dup(1) };
    assert!(saved >= 0);
    unsafe { libc::dup2(out_file.as_raw_fd(), 1) };
    let vm = start_jvm(
        &jdk,
        &[
            "-Xcheck:jni".to_string(),
            format!("-Djava.class.path={}:{jar_path}", classes.display()),
            format!("-Djava.library.path={}", lib_dir.display()),
            "-Xmx256m".to_string(),
        ],
    );
    let result = vm.attach_current_thread(|env| exercise(env, &data, &tmp.path().join("cache")));
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::dup2(saved, 1);
        libc::close(saved);
    }
    let printed = std::fs::read_to_string(&out_path).unwrap();
    result.unwrap_or_else(|e| panic!("{e}; the JVM printed:\n{printed}"));
    assert!(
        !printed.contains("WARNING") && !printed.contains("FATAL"),
        "the JVM's JNI checks reported:\n{printed}"
    );
}

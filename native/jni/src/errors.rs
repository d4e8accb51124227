//! The bridge's one error policy: core errors become the Java exception their kind maps to
//! (through `io.shoal.jni.NativeErrors.create`, the single mapping table), a Java exception
//! already pending is left to propagate as itself, and a panic becomes an `IOException`
//! carrying the panic message and backtrace. Nothing aborts the JVM.

use std::cell::RefCell;
use std::sync::Once;

use jni::errors::ErrorPolicy;
use jni::objects::{JString, JThrowable, JValue};
use jni::{jni_sig, jni_str, Env};
use shoal_core::ErrorKind;

/// What an exported function can fail with.
#[derive(Debug)]
pub enum BridgeError {
    Core(shoal_core::Error),
    Jni(jni::errors::Error),
}

impl From<shoal_core::Error> for BridgeError {
    fn from(e: shoal_core::Error) -> Self {
        BridgeError::Core(e)
    }
}

impl From<jni::errors::Error> for BridgeError {
    fn from(e: jni::errors::Error) -> Self {
        BridgeError::Jni(e)
    }
}

impl std::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BridgeError::Core(e) => write!(f, "{e}"),
            BridgeError::Jni(e) => write!(f, "JNI error: {e}"),
        }
    }
}

impl std::error::Error for BridgeError {}

pub type BridgeResult<T> = Result<T, BridgeError>;

/// Shorthand for an argument error raised by the bridge itself.
pub fn invalid(msg: impl Into<String>) -> BridgeError {
    BridgeError::Core(shoal_core::Error::invalid(msg))
}

thread_local! {
    static LAST_PANIC_BACKTRACE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records the backtrace of a panic on this thread so the exception can carry it, then lets
/// the previous hook run (which prints it to stderr, the executor's log).
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let bt = std::backtrace::Backtrace::force_capture().to_string();
            LAST_PANIC_BACKTRACE.with(|b| *b.borrow_mut() = Some(bt));
            previous(info);
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Throws the exception `NativeErrors.create(code, message)` returns.
fn throw_kind(env: &mut Env<'_>, kind: ErrorKind, message: &str) -> jni::errors::Result<()> {
    let msg = JString::from_str(env, message)?;
    let throwable = env
        .call_static_method(
            jni_str!("io/shoal/jni/NativeErrors"),
            jni_str!("create"),
            jni_sig!("(ILjava/lang/String;)Ljava/lang/Throwable;"),
            &[JValue::Int(kind.code()), JValue::Object(&msg)],
        )?
        .l()?;
    let throwable = env.cast_local::<JThrowable>(throwable)?;
    match env.throw(throwable) {
        Ok(()) | Err(jni::errors::Error::JavaException) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The error policy every exported function resolves with.
pub struct ThrowMapped;

impl<T: Default> ErrorPolicy<T, BridgeError> for ThrowMapped {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut Self::Captures<'unowned_env_local, 'native_method>,
        err: BridgeError,
    ) -> jni::errors::Result<T> {
        if env.exception_check() {
            // A Java exception raised during the call propagates as itself.
            return Ok(T::default());
        }
        match err {
            BridgeError::Core(e) => throw_kind(env, e.kind(), e.message())?,
            BridgeError::Jni(e) => throw_kind(env, ErrorKind::Other, &format!("JNI error: {e}"))?,
        }
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut Self::Captures<'unowned_env_local, 'native_method>,
        payload: Box<dyn std::any::Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        let mut msg = panic_message(payload.as_ref());
        if let Some(bt) = LAST_PANIC_BACKTRACE.with(|b| b.borrow_mut().take()) {
            msg.push_str("\nnative backtrace:\n");
            msg.push_str(&bt);
        }
        // Dropping a payload can itself panic; leak it rather than unwind here.
        std::mem::forget(payload);
        if env.exception_check() {
            env.exception_clear();
        }
        throw_kind(env, ErrorKind::Panic, &msg)?;
        Ok(T::default())
    }
}

#[cfg(test)]
mod tests {
    use shoal_core::ErrorKind;

    /// `NOT_A_DIRECTORY` for `NotADirectory`: the Java constant of a kind.
    fn java_name(kind: ErrorKind) -> String {
        let mut out = String::new();
        for (i, c) in format!("{kind:?}").chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    /// Java (`NativeErrors.java`) and Rust (`ErrorKind::code`) agree on every kind's code, and
    /// Java has no code Rust lacks.
    #[test]
    fn java_and_rust_agree_on_every_error_kind_code() {
        let java = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../jvm/src/main/java/io/shoal/jni/NativeErrors.java"
        ))
        .unwrap();
        let mut codes = std::collections::BTreeMap::new();
        for line in java.lines() {
            let Some(rest) = line.trim().strip_prefix("public static final int ") else {
                continue;
            };
            let (name, value) = rest.trim_end_matches(';').split_once(" = ").unwrap();
            codes.insert(name.to_string(), value.parse::<i32>().unwrap());
        }
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(kind.code(), i as i32, "{kind:?}: codes follow ALL's order");
            assert_eq!(
                codes.remove(&java_name(*kind)),
                Some(kind.code()),
                "{kind:?} in NativeErrors.java"
            );
        }
        assert!(codes.is_empty(), "Java kinds Rust does not have: {codes:?}");
    }
}

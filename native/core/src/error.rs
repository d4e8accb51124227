//! Errors of the core: a kind that front ends map to their own error family (Java exceptions,
//! CLI exit codes, errno for FUSE) and a message that names the Shoal path involved.

use std::sync::Arc;

/// What went wrong, independent of the store. `code()` is shared with the JVM side
/// (`io.shoal.jni.NativeErrors`); keep the two in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Other,
    NotFound,
    AlreadyExists,
    NotADirectory,
    IsADirectory,
    NotEmpty,
    ReadOnly,
    PermissionDenied,
    PastEof,
    Unsupported,
    InvalidArgument,
    Panic,
    TimedOut,
    Corrupt,
    Config,
}

impl ErrorKind {
    /// Every kind, in the order of their codes.
    pub const ALL: [ErrorKind; 15] = [
        ErrorKind::Other,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::NotADirectory,
        ErrorKind::IsADirectory,
        ErrorKind::NotEmpty,
        ErrorKind::ReadOnly,
        ErrorKind::PermissionDenied,
        ErrorKind::PastEof,
        ErrorKind::Unsupported,
        ErrorKind::InvalidArgument,
        ErrorKind::Panic,
        ErrorKind::TimedOut,
        ErrorKind::Corrupt,
        ErrorKind::Config,
    ];

    pub fn code(self) -> i32 {
        match self {
            ErrorKind::Other => 0,
            ErrorKind::NotFound => 1,
            ErrorKind::AlreadyExists => 2,
            ErrorKind::NotADirectory => 3,
            ErrorKind::IsADirectory => 4,
            ErrorKind::NotEmpty => 5,
            ErrorKind::ReadOnly => 6,
            ErrorKind::PermissionDenied => 7,
            ErrorKind::PastEof => 8,
            ErrorKind::Unsupported => 9,
            ErrorKind::InvalidArgument => 10,
            ErrorKind::Panic => 11,
            ErrorKind::TimedOut => 12,
            ErrorKind::Corrupt => 13,
            ErrorKind::Config => 14,
        }
    }
}

/// What caused an error, when it came from another library (an I/O error, a store client's).
pub type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A core error: its kind, a message for people, and the error that caused it, if any. Errors
/// that crossed a store's redaction (`store::redact`) carry no source: its text may hold a
/// secret of the mount.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Source>,
}

/// Two errors are equal when their kinds and messages are.
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// This error, caused by `source`.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Puts the operation and the Shoal path in front of the message.
    pub fn context(self, op: &str, path: &str) -> Self {
        Error {
            kind: self.kind,
            message: format!("{op} {path}: {}", self.message),
            source: self.source,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match e.kind() {
            Io::NotFound => ErrorKind::NotFound,
            Io::AlreadyExists => ErrorKind::AlreadyExists,
            Io::PermissionDenied => ErrorKind::PermissionDenied,
            Io::UnexpectedEof => ErrorKind::PastEof,
            Io::TimedOut => ErrorKind::TimedOut,
            Io::Unsupported => ErrorKind::Unsupported,
            Io::InvalidInput => ErrorKind::InvalidArgument,
            Io::NotADirectory => ErrorKind::NotADirectory,
            Io::IsADirectory => ErrorKind::IsADirectory,
            Io::DirectoryNotEmpty => ErrorKind::NotEmpty,
            _ => ErrorKind::Other,
        };
        Error::new(kind, e.to_string()).with_source(e)
    }
}

/// Whether an object_store error's text reports an HTTP 401 or 403 answer.
fn refused_by_status(text: &str) -> bool {
    ["401", "403"]
        .iter()
        .any(|code| text.contains(&format!("non-2xx status code: {code} ")))
}

/// Whether an error, or any error it was caused by, is a timeout: an HTTP request that timed
/// out in the store client, or an I/O timeout.
pub(crate) fn caused_by_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(h) = e.downcast_ref::<object_store::client::HttpError>() {
            if h.kind() == object_store::client::HttpErrorKind::Timeout {
                return true;
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        next = e.source();
    }
    false
}

impl From<object_store::Error> for Error {
    /// Classified by variant (and, for timeouts, by the errors beneath it); the message has
    /// the user info and secret query parameters of any URL in it redacted
    /// (`store::redact_text`).
    fn from(e: object_store::Error) -> Self {
        use object_store::Error as Os;
        let kind = match &e {
            Os::NotFound { .. } => ErrorKind::NotFound,
            Os::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Os::Precondition { .. } => ErrorKind::Corrupt,
            Os::NotSupported { .. } | Os::NotImplemented { .. } => ErrorKind::Unsupported,
            Os::PermissionDenied { .. } | Os::Unauthenticated { .. } => ErrorKind::PermissionDenied,
            Os::InvalidPath { .. } => ErrorKind::InvalidArgument,
            Os::UnknownConfigurationKey { .. } => ErrorKind::Config,
            // object_store reports a refused listing (and other requests it does not classify)
            // as a generic error; the HTTP status is only in its text.
            _ if refused_by_status(&e.to_string()) => ErrorKind::PermissionDenied,
            _ if caused_by_timeout(&e) => ErrorKind::TimedOut,
            _ => ErrorKind::Other,
        };
        let message = match &e {
            Os::Precondition { .. } => {
                format!("the object changed in the store while it was being read ({e})")
            }
            _ if kind == ErrorKind::TimedOut => format!("timed out: {e}"),
            _ => e.to_string(),
        };
        // Not kept as the source: its text is not redacted.
        Error::new(kind, crate::store::redact_text(&message))
    }
}

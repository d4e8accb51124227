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

/// Whether a store refused the request's credentials (HTTP 401 or 403), from the error's
/// structure: object_store's `PermissionDenied` and `Unauthenticated` variants (which it makes
/// from the status of a request on one object: HEAD, GET, PUT, copy, delete), or an I/O
/// permission error beneath it.
///
/// One case is left that only text tells: a request object_store does not map by status (a
/// listing, a credential's token request) comes as `Error::Generic`, whose source chain ends in
/// object_store's `RetryError` and its `RequestError::Status { status, .. }`. Both types are
/// private to object_store (`client::retry` is `pub(crate)`, so `downcast_ref` cannot name them,
/// and `RetryError::status()` cannot be reached), and the status lives only in the Display of
/// that last error: `Server returned non-2xx status code: 403 Forbidden: <body>`. So only that
/// one error, the end of the chain, is read, and only its fixed prefix and status; never the
/// whole message, whose URL or body could hold anything.
fn refused(e: &object_store::Error) -> bool {
    use object_store::Error as Os;
    if matches!(e, Os::PermissionDenied { .. } | Os::Unauthenticated { .. }) {
        return true;
    }
    let mut last: &(dyn std::error::Error + 'static) = e;
    loop {
        if let Some(io) = last.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied {
                return true;
            }
        }
        match last.source() {
            Some(next) => last = next,
            None => break,
        }
    }
    refused_status(&last.to_string())
}

/// Whether the text of object_store's `RequestError::Status` (the end of a `Generic` error's
/// chain) gives the status 401 or 403 (see `refused`).
fn refused_status(last: &str) -> bool {
    let Some(rest) = last.strip_prefix("Server returned non-2xx status code: ") else {
        return false;
    };
    matches!(rest.split(' ').next(), Some("401" | "403"))
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
            Os::InvalidPath { .. } => ErrorKind::InvalidArgument,
            Os::UnknownConfigurationKey { .. } => ErrorKind::Config,
            _ if refused(&e) => ErrorKind::PermissionDenied,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_by_variant_and_by_the_status_at_the_end_of_the_chain() {
        let kind = |e: object_store::Error| Error::from(e).kind();
        let io = |k| Box::new(std::io::Error::new(k, "x")) as Box<_>;
        let path = || "p".to_string();
        assert_eq!(
            kind(object_store::Error::PermissionDenied {
                path: path(),
                source: io(std::io::ErrorKind::Other)
            }),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(object_store::Error::Unauthenticated {
                path: path(),
                source: io(std::io::ErrorKind::Other)
            }),
            ErrorKind::PermissionDenied
        );
        // An I/O permission error beneath a generic one.
        assert_eq!(
            kind(object_store::Error::Generic {
                store: "t",
                source: io(std::io::ErrorKind::PermissionDenied)
            }),
            ErrorKind::PermissionDenied
        );
        // The status, read only from the last error of the chain, and only from its prefix.
        assert!(refused_status(
            "Server returned non-2xx status code: 403 Forbidden: <Error/>"
        ));
        assert!(refused_status(
            "Server returned non-2xx status code: 401 Unauthorized: "
        ));
        assert!(!refused_status(
            "Server returned non-2xx status code: 500 Internal Server Error: 403 "
        ));
        assert!(!refused_status(
            "Error performing GET http://h/non-2xx status code: 403 in 1ms"
        ));
        assert_eq!(
            kind(object_store::Error::Generic {
                store: "t",
                source: "Error performing list non-2xx status code: 403 Forbidden".into()
            }),
            ErrorKind::Other
        );
    }
}

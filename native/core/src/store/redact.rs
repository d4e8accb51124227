//! Secrets out of messages. Store clients put request URLs in their errors, and an endpoint may
//! carry user info (`http://user:secret@host`) or a signed query (`?X-Amz-Signature=…`,
//! `?sig=…`). Every message that leaves a store goes through here:
//!
//! - `redact_uri`: a URI for messages, without user info and query;
//! - `redact_text`: user info of every URL in a text, and the values of query parameters whose
//!   names look secret (`sig`, `signature`, `token`, `secret`, `key`, `password`, `credential`);
//! - `Redacting`: a store whose errors have both done, and every secret the mount was configured
//!   with (credential options, user info of its URI and endpoints) replaced by `***`.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::{Entry, Fetched, ListPages, StoreWriter, TreeListings, UnderStore};
use crate::config::MountSpec;
use crate::error::{Error, Result};

/// What replaces a secret.
pub const MASK: &str = "***";

/// A URI for messages: user info (which may hold a secret) and the query are dropped.
pub fn redact_uri(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "<unparseable uri>".to_string(),
    }
}

/// Whether a query parameter's name says its value is a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "sig",
        "token",
        "secret",
        "key",
        "password",
        "passwd",
        "credential",
        "auth",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Where a URL written in free text ends.
fn url_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | ',')
}

/// `text` with the user info of every URL in it (`scheme://user:secret@host`, and the bare
/// `user:secret@host` some clients log) and the values of secret query parameters replaced by
/// `***`.
pub fn redact_text(text: &str) -> String {
    // User info: between "://" and the last '@' of the authority.
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || url_end(c))
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(MASK);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    // Query parameters: `?name=value` or `&name=value`, the value running to the next '&',
    // '#' or the end of the URL.
    let text = out;
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find(['?', '&']) {
        let (before, after) = rest.split_at(i + 1);
        out.push_str(before);
        let name_end = after
            .find(|c: char| c == '=' || c == '&' || c == '#' || url_end(c))
            .unwrap_or(after.len());
        let name = &after[..name_end];
        if after[name_end..].starts_with('=') && secret_name(name) {
            out.push_str(name);
            out.push('=');
            let value = &after[name_end + 1..];
            let value_end = value
                .find(|c: char| c == '&' || c == '#' || url_end(c))
                .unwrap_or(value.len());
            out.push_str(MASK);
            rest = &value[value_end..];
        } else {
            out.push_str(name);
            rest = &after[name_end..];
        }
    }
    out.push_str(rest);
    bare_user_info(&out)
}

/// Masks `user:secret` in words of the form `user:secret@host` that are not URLs.
fn bare_user_info(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start = 0;
    let flush = |out: &mut String, word: &str| match word.rfind('@') {
        Some(at) if word[..at].contains(':') && !word[..at].contains("://") && at > 0 => {
            out.push_str(MASK);
            out.push_str(&word[at..]);
        }
        _ => out.push_str(word),
    };
    for (i, c) in text.char_indices() {
        if url_end(c) || matches!(c, '(' | '[' | '{' | ';') {
            flush(&mut out, &text[word_start..i]);
            out.push(c);
            word_start = i + c.len_utf8();
        }
    }
    flush(&mut out, &text[word_start..]);
    out
}

/// Secrets of every mount built in this process, for `scrub_log`.
static KNOWN: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

fn remember(secrets: &[String]) {
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    let before = known.len();
    known.extend(secrets.iter().cloned());
    if known.len() != before {
        known.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        known.dedup();
    }
}

/// A log line with URLs redacted and every secret of every mount this process has built
/// masked: for what the front ends print of the events of the core and of its libraries (an
/// HTTP client logs its connection pool by host, user info and all).
pub fn scrub_log(text: &str) -> String {
    let known = KNOWN.read().unwrap_or_else(|p| p.into_inner());
    scrub(&known, text)
}

/// Whether a store option holds a credential, by its key name: secrets, tokens, passwords,
/// SAS signatures and keys (`azure_storage_account_key`), but not key ids (an access key id
/// is no secret, and masking it could garble names that contain it).
fn secret_option(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["secret", "token", "password", "sas", "signature"]
        .iter()
        .any(|s| k.contains(s))
        || k.ends_with("key")
}

/// The secrets of a mount's configuration: credential option values, and the password in the
/// user info of its URI and of any option value that is a URL (an endpoint), as written and
/// percent-decoded. (User info in URLs is masked whole wherever a URL is written.)
/// Values shorter than 4 characters are left out: masking them would garble every message.
pub fn secrets_of(spec: &MountSpec) -> Vec<String> {
    let mut out = Vec::new();
    let mut user_info = |text: &str| {
        if let Some(password) = url::Url::parse(text)
            .ok()
            .and_then(|u| u.password().map(str::to_string))
        {
            if let Ok(decoded) = percent_decode(&password) {
                out.push(decoded);
            }
            out.push(password);
        }
    };
    user_info(&spec.uri);
    for v in spec.options.values() {
        user_info(v);
    }
    for (k, v) in &spec.options {
        if secret_option(k) {
            out.push(v.clone());
        }
    }
    out.retain(|s| s.chars().count() >= 4);
    out.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    out.dedup();
    out
}

fn percent_decode(text: &str) -> std::result::Result<String, ()> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// `message` with URLs redacted and each of `secrets` masked.
pub fn scrub(secrets: &[String], message: &str) -> String {
    let mut m = redact_text(message);
    for s in secrets {
        if m.contains(s.as_str()) {
            m = m.replace(s.as_str(), MASK);
        }
    }
    m
}

fn scrub_error(secrets: &[String], e: Error) -> Error {
    let message = scrub(secrets, e.message());
    Error::new(e.kind(), message)
}

/// A store whose every error is scrubbed of its mount's secrets.
pub struct Redacting {
    inner: Arc<dyn UnderStore>,
    secrets: Arc<Vec<String>>,
}

impl Redacting {
    pub fn new(inner: Arc<dyn UnderStore>, spec: &MountSpec) -> Self {
        let secrets = secrets_of(spec);
        remember(&secrets);
        Redacting {
            inner,
            secrets: Arc::new(secrets),
        }
    }

    fn scrub<T>(&self, r: Result<T>) -> Result<T> {
        r.map_err(|e| scrub_error(&self.secrets, e))
    }

    fn scrubbing(&self, pages: Box<dyn ListPages>) -> Box<dyn ListPages> {
        Box::new(RedactingPages {
            inner: pages,
            secrets: self.secrets.clone(),
        })
    }
}

/// The pages of a listing, every error scrubbed of the mount's secrets.
struct RedactingPages {
    inner: Box<dyn ListPages>,
    secrets: Arc<Vec<String>>,
}

impl ListPages for RedactingPages {
    fn next_page(&mut self) -> Result<Option<Vec<Entry>>> {
        self.inner
            .next_page()
            .map_err(|e| scrub_error(&self.secrets, e))
    }
}

debug_shows!(Redacting, "Store", |r| { "uri": r.inner.describe() });

/// Implements each listed `UnderStore` method as the inner store's, its error scrubbed.
macro_rules! scrubbed {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(
            fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.scrub(self.inner.$name($($arg),*))
            }
        )*
    };
}

impl UnderStore for Redacting {
    scrubbed! {
        fn stat(&self, key: &str) -> Result<Option<Entry>>;
        fn list(&self, key: &str) -> Result<Vec<Entry>>;
        fn list_files(&self, key: &str) -> Result<Vec<Entry>>;
        fn list_tree(&self, key: &str, max_entries: usize) -> Result<Option<TreeListings>>;
        fn stat_tree(&self, key: &str) -> Result<Option<(Option<Entry>, Option<TreeListings>)>>;
        fn read_at(
            &self, key: &str, expect: &Entry, pos: u64, out: &mut [u8]
        ) -> Result<(usize, Option<String>)>;
        fn etags_available(&self, key: &str) -> Result<bool>;
        fn mkdirs(&self, key: &str) -> Result<()>;
        fn delete(&self, entry: &Entry) -> Result<()>;
        fn rename(&self, from: &Entry, to: &str) -> Result<()>;
    }

    fn describe(&self) -> String {
        scrub(&self.secrets, &self.inner.describe())
    }

    fn identity(&self) -> String {
        self.inner.identity()
    }

    fn list_pages(&self, key: &str) -> Result<Option<Box<dyn ListPages>>> {
        let pages = self.scrub(self.inner.list_pages(key))?;
        Ok(pages.map(|p| self.scrubbing(p)))
    }

    fn list_files_pages(&self, key: &str) -> Result<Option<Box<dyn ListPages>>> {
        let pages = self.scrub(self.inner.list_files_pages(key))?;
        Ok(pages.map(|p| self.scrubbing(p)))
    }

    fn fetch_range(
        &self,
        key: &str,
        expect: &Entry,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'static, Result<Fetched>> {
        let secrets = self.secrets.clone();
        self.inner
            .fetch_range(key, expect, range)
            .map(move |r| r.map_err(|e| scrub_error(&secrets, e)))
            .boxed()
    }

    fn writer(&self, key: &str) -> Result<Box<dyn StoreWriter>> {
        let inner = self.scrub(self.inner.writer(key))?;
        Ok(Box::new(RedactingWriter {
            inner,
            secrets: self.secrets.clone(),
        }))
    }

    fn writes_dir_markers(&self) -> bool {
        self.inner.writes_dir_markers()
    }

    fn read_only(&self) -> Option<&'static str> {
        self.inner.read_only()
    }
}

struct RedactingWriter {
    inner: Box<dyn StoreWriter>,
    secrets: Arc<Vec<String>>,
}

impl StoreWriter for RedactingWriter {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.inner
            .write(data)
            .map_err(|e| scrub_error(&self.secrets, e))
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let secrets = self.secrets;
        self.inner.commit().map_err(|e| scrub_error(&secrets, e))
    }

    fn abort(self: Box<Self>) {
        self.inner.abort()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_credentials() {
        let r = redact_uri("s3://AKIA:secret@bucket/p?sig=abc");
        assert!(
            !r.contains("secret") && !r.contains("sig=abc") && !r.contains("AKIA"),
            "{r}"
        );
        assert!(r.contains("bucket/p"));
    }

    #[test]
    fn text_loses_user_info_and_secret_parameters() {
        let t = redact_text(
            "Error performing HEAD http://user:pa55word@127.0.0.1:9/b/k?X-Amz-Signature=abc&\
             prefix=p in 3ms: (http://only-user@host) and https://h/x?sig=zzz#f done",
        );
        for secret in ["pa55word", "user:", "abc", "only-user", "zzz"] {
            assert!(!t.contains(secret), "{secret} in {t}");
        }
        assert!(t.contains("http://***@127.0.0.1:9/b/k"), "{t}");
        assert!(t.contains("X-Amz-Signature=***&prefix=p in 3ms"), "{t}");
        assert!(t.contains("https://h/x?sig=***#f done"), "{t}");
        // Nothing to redact: unchanged.
        let plain = "GET http://127.0.0.1:9/b/k?list-type=2&prefix=a%2Fb failed at 12:30 \
                     for me@example.com (key: value)";
        assert_eq!(redact_text(plain), plain);
        // A client's connection pool key: user info without a scheme.
        let t = redact_text(r#"checkout for ("http", user:pa55word@127.0.0.1:9)"#);
        assert_eq!(t, r#"checkout for ("http", ***@127.0.0.1:9)"#);
    }

    #[test]
    fn secrets_of_a_mount() {
        let spec = MountSpec::with_options(
            "s3://bkt/p",
            &[
                ("aws_endpoint", "http://me:s%40cret@127.0.0.1:1"),
                ("aws_secret_access_key", "SECRETKEY"),
                ("aws_session_token", "TOKENVALUE"),
                ("aws_region", "us-east-1"),
                ("aws_allow_http", "true"),
            ],
        );
        let s = secrets_of(&spec);
        for want in ["SECRETKEY", "TOKENVALUE", "s%40cret", "s@cret"] {
            assert!(s.iter().any(|x| x == want), "{want} not in {s:?}");
        }
        assert!(!s.iter().any(|x| x == "us-east-1" || x == "true"), "{s:?}");
        assert!(secret_option("azure_storage_account_key") && secret_option("SAS_TOKEN"));
        assert!(!secret_option("aws_access_key_id") && !secret_option("aws_region"));
        let m = scrub(&s, "bad token TOKENVALUE for s@cret at http://me:x@h/");
        assert_eq!(m, "bad token *** for *** at http://***@h/");
    }
}

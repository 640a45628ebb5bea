//! Validated names: the key namespace and queue names.
//!
//! Both end up inside Redis keys (`<ns>:{<queue>}:…`), where braces would break the Cluster
//! hash tag that keeps one queue's keys in one slot. Every constructor, setter and option
//! that takes a namespace or queue name goes through these types, so the rules live here
//! and nowhere else.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The namespace used by Go asynq and by redisq unless configured otherwise.
pub const DEFAULT_NAMESPACE: &str = "asynq";

/// A key namespace (the `asynq` in `asynq:{default}:pending`): non-empty, no `{` or `}`.
///
/// ```
/// use redisq::Namespace;
/// let ns: Namespace = "billing".parse()?;
/// assert_eq!(ns.as_str(), "billing");
/// assert!(Namespace::new("").is_err());
/// assert_eq!(Namespace::default().as_str(), "asynq");
/// # Ok::<(), redisq::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(String);

impl Namespace {
    /// Validates a namespace. Errors with [`Error::is_invalid_option`].
    pub fn new(name: impl Into<String>) -> Result<Namespace> {
        let name = name.into();
        if name.trim().is_empty() || name.contains(['{', '}']) {
            return Err(Error::invalid_option(format!(
                "invalid key namespace {name:?}: it must be non-empty and contain no braces"
            )));
        }
        Ok(Namespace(name))
    }

    /// The namespace as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Namespace(DEFAULT_NAMESPACE.to_string())
    }
}

/// A queue name: non-blank after trimming, no `{` or `}`. Surrounding whitespace is trimmed,
/// as asynq does.
///
/// Public APIs take queue names as `&str`/`String` (as asynq does) and validate them with this
/// type; use it directly to check a name before use.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueName(String);

impl QueueName {
    /// Validates a queue name. Errors with [`Error::is_invalid_option`].
    pub fn new(name: impl AsRef<str>) -> Result<QueueName> {
        let q = name.as_ref().trim();
        if q.is_empty() {
            return Err(Error::invalid_option("queue name cannot be empty"));
        }
        if q.contains(['{', '}']) {
            return Err(Error::invalid_option(format!(
                "queue name {q:?} must not contain '{{' or '}}': they would break its Redis Cluster hash tag"
            )));
        }
        Ok(QueueName(q.to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

macro_rules! name_impls {
    ($t:ident) => {
        impl FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<$t> {
                $t::new(s)
            }
        }

        impl TryFrom<&str> for $t {
            type Error = Error;
            fn try_from(s: &str) -> Result<$t> {
                $t::new(s)
            }
        }

        impl TryFrom<String> for $t {
            type Error = Error;
            fn try_from(s: String) -> Result<$t> {
                $t::new(s)
            }
        }

        impl Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

name_impls!(Namespace);

impl From<Namespace> for String {
    fn from(n: Namespace) -> String {
        n.0
    }
}
name_impls!(QueueName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert_eq!(Namespace::new("app").unwrap(), "app");
        for bad in ["", "  ", "a{b", "}"] {
            assert!(
                Namespace::new(bad).unwrap_err().is_invalid_option(),
                "{bad:?}"
            );
        }
        assert_eq!("x".parse::<Namespace>().unwrap().as_str(), "x");
    }

    #[test]
    fn queue_names_are_trimmed_and_checked() {
        assert_eq!(QueueName::new(" critical ").unwrap(), "critical");
        for bad in ["", " ", "a{b}", "{"] {
            assert!(
                QueueName::new(bad).unwrap_err().is_invalid_option(),
                "{bad:?}"
            );
        }
    }
}

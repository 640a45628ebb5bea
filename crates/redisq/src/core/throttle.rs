//! Fleet-wide rate and concurrency limits: the public value types and the set of limits as
//! stored in Redis (`<ns>:redisq:limits`, one field per limit).
//!
//! Field names are `rate:queue:<q>`, `rate:type:<t>`, `concurrency:queue:<q>` and
//! `concurrency:type:<t>`; a rate is stored as `<n>/<period in ms>`, a concurrency as `<n>`.
//! The prefix before the name is fixed, so names may contain `:`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// The longest period a rate limit may have (a year): longer ones are almost certainly a
/// mistake, and the period must fit the microsecond arithmetic of the limiter.
const MAX_PERIOD: Duration = Duration::from_secs(366 * 24 * 3600);

/// A rate limit: at most `n` tasks start in any window of `per`, across every server sharing
/// the Redis.
///
/// Starts are spread evenly (one every `per / n`), like GCRA, rather than allowed in bursts
/// of `n`. Build with [`RateLimit::new`] (or [`RateLimit::per_second`],
/// [`RateLimit::per_minute`]); an invalid limit (`n` = 0, a period under 1 ms or over a
/// year) is rejected where it is used: by [`crate::Server::new`] for a [`crate::Config`],
/// by the [`crate::Inspector`] setters.
///
/// ```
/// use std::time::Duration;
/// use redisq::RateLimit;
///
/// let limit = RateLimit::new(50, Duration::from_secs(1));
/// assert_eq!(limit, RateLimit::per_second(50));
/// assert_eq!(limit.to_string(), "50/1s");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateLimit {
    n: u32,
    per: Duration,
}

impl RateLimit {
    /// At most `n` starts in any window of `per`.
    pub fn new(n: u32, per: Duration) -> Self {
        RateLimit { n, per }
    }

    /// At most `n` starts per second.
    pub fn per_second(n: u32) -> Self {
        RateLimit::new(n, Duration::from_secs(1))
    }

    /// At most `n` starts per minute.
    pub fn per_minute(n: u32) -> Self {
        RateLimit::new(n, Duration::from_secs(60))
    }

    /// How many tasks may start per window.
    pub fn n(&self) -> u32 {
        self.n
    }

    /// The window.
    pub fn per(&self) -> Duration {
        self.per
    }

    /// Checks the limit; the error says what is wrong with it.
    pub(crate) fn validate(&self, what: &str) -> Result<()> {
        if self.n == 0 {
            return Err(Error::invalid_option(format!(
                "{what}: a rate limit needs n >= 1 (got 0)"
            )));
        }
        if self.per < Duration::from_millis(1) {
            return Err(Error::invalid_option(format!(
                "{what}: a rate limit's period must be at least 1ms (got {:?})",
                self.per
            )));
        }
        if self.per > MAX_PERIOD {
            return Err(Error::invalid_option(format!(
                "{what}: a rate limit's period must be at most a year (got {:?})",
                self.per
            )));
        }
        Ok(())
    }

    /// The stored form, `<n>/<period in ms>`.
    fn encode(&self) -> String {
        format!("{}/{}", self.n, self.per.as_millis())
    }

    fn decode(s: &str) -> Option<RateLimit> {
        let (n, ms) = s.split_once('/')?;
        let r = RateLimit::new(
            n.trim().parse().ok()?,
            Duration::from_millis(ms.trim().parse().ok()?),
        );
        r.validate("").ok().map(|_| r)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.n)?;
        let ms = self.per.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// What a limit applies to: every task of a queue, or every task of a type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LimitTarget {
    /// The tasks of one queue.
    Queue(String),
    /// The tasks of one type (in each queue: see the limits guide for Cluster).
    TaskType(String),
}

impl LimitTarget {
    /// The tasks of queue `name`.
    pub fn queue(name: impl Into<String>) -> Self {
        LimitTarget::Queue(name.into())
    }

    /// The tasks of type `name`.
    pub fn task_type(name: impl Into<String>) -> Self {
        LimitTarget::TaskType(name.into())
    }

    /// The queue or type name.
    pub fn name(&self) -> &str {
        match self {
            LimitTarget::Queue(n) | LimitTarget::TaskType(n) => n,
        }
    }

    /// Checks the name; the error says what is wrong with it.
    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            LimitTarget::Queue(q) => crate::core::names::QueueName::new(q).map(|_| ()),
            LimitTarget::TaskType(t) if t.is_empty() => Err(Error::invalid_option(
                "a type limit needs a non-empty task type",
            )),
            LimitTarget::TaskType(_) => Ok(()),
        }
    }

    fn field(&self, kind: &str) -> String {
        match self {
            LimitTarget::Queue(q) => format!("{kind}:queue:{q}"),
            LimitTarget::TaskType(t) => format!("{kind}:type:{t}"),
        }
    }
}

impl fmt::Display for LimitTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitTarget::Queue(q) => write!(f, "queue {q:?}"),
            LimitTarget::TaskType(t) => write!(f, "task type {t:?}"),
        }
    }
}

/// The limits set on one queue or task type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limit {
    /// What the limits apply to.
    pub target: LimitTarget,
    /// The rate limit, if any.
    pub rate: Option<RateLimit>,
    /// The most tasks active at once, if limited.
    pub concurrency: Option<u32>,
}

/// The rate and concurrency limit of one target (either may be absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) rate: Option<RateLimit>,
    pub(crate) concurrency: Option<u32>,
}

impl Entry {
    fn is_empty(&self) -> bool {
        self.rate.is_none() && self.concurrency.is_none()
    }
}

/// A set of limits: what a server's config asks for, or what Redis holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LimitSet {
    pub(crate) queues: BTreeMap<String, Entry>,
    pub(crate) types: BTreeMap<String, Entry>,
}

/// One stored field: its name and value.
pub(crate) type Field = (String, String);

impl LimitSet {
    pub(crate) fn is_empty(&self) -> bool {
        self.queues.is_empty() && self.types.is_empty()
    }

    fn entry_mut(&mut self, target: &LimitTarget) -> &mut Entry {
        match target {
            LimitTarget::Queue(q) => self.queues.entry(q.clone()).or_default(),
            LimitTarget::TaskType(t) => self.types.entry(t.clone()).or_default(),
        }
    }

    pub(crate) fn set_rate(&mut self, target: LimitTarget, rate: RateLimit) {
        self.entry_mut(&target).rate = Some(rate);
    }

    pub(crate) fn set_concurrency(&mut self, target: LimitTarget, n: u32) {
        self.entry_mut(&target).concurrency = Some(n);
    }

    /// The limits of queue `q`, if any.
    pub(crate) fn queue(&self, q: &str) -> Entry {
        self.queues.get(q).copied().unwrap_or_default()
    }

    /// Checks every limit.
    pub(crate) fn validate(&self) -> Result<()> {
        for (target, e) in self.iter() {
            target.validate()?;
            if let Some(r) = e.rate {
                r.validate(&format!("the rate limit of {target}"))?;
            }
            if e.concurrency == Some(0) {
                return Err(Error::invalid_option(format!(
                    "the concurrency limit of {target} must be at least 1 (got 0)"
                )));
            }
        }
        Ok(())
    }

    fn iter(&self) -> impl Iterator<Item = (LimitTarget, &Entry)> {
        let q = self
            .queues
            .iter()
            .map(|(n, e)| (LimitTarget::Queue(n.clone()), e));
        let t = self
            .types
            .iter()
            .map(|(n, e)| (LimitTarget::TaskType(n.clone()), e));
        q.chain(t).filter(|(_, e)| !e.is_empty())
    }

    /// The public listing, queues first, each sorted by name.
    pub(crate) fn to_list(&self) -> Vec<Limit> {
        self.iter()
            .map(|(target, e)| Limit {
                target,
                rate: e.rate,
                concurrency: e.concurrency,
            })
            .collect()
    }

    /// The hash fields of these limits.
    pub(crate) fn fields(&self) -> Vec<Field> {
        let mut out = Vec::new();
        for (target, e) in self.iter() {
            if let Some(r) = e.rate {
                out.push((rate_field(&target), r.encode()));
            }
            if let Some(n) = e.concurrency {
                out.push((concurrency_field(&target), n.to_string()));
            }
        }
        out
    }

    /// Reads the stored fields. Fields it does not understand are returned apart, so the
    /// caller can warn about them; they are otherwise ignored.
    pub(crate) fn from_fields(fields: impl IntoIterator<Item = Field>) -> (LimitSet, Vec<Field>) {
        let mut set = LimitSet::default();
        let mut bad = Vec::new();
        for (k, v) in fields {
            let parsed = (|| {
                let (kind, rest) = k.split_once(':')?;
                let target = if let Some(q) = rest.strip_prefix("queue:") {
                    LimitTarget::queue(q)
                } else {
                    LimitTarget::task_type(rest.strip_prefix("type:")?)
                };
                match kind {
                    "rate" => set.set_rate(target, RateLimit::decode(&v)?),
                    "concurrency" => {
                        let n: u32 = v.trim().parse().ok().filter(|n| *n > 0)?;
                        set.set_concurrency(target, n);
                    }
                    _ => return None,
                }
                Some(())
            })();
            if parsed.is_none() {
                bad.push((k, v));
            }
        }
        (set, bad)
    }
}

/// The hash field of a target's rate limit.
pub(crate) fn rate_field(target: &LimitTarget) -> String {
    target.field("rate")
}

/// The hash field of a target's concurrency limit.
pub(crate) fn concurrency_field(target: &LimitTarget) -> String {
    target.field("concurrency")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut s = LimitSet::default();
        s.set_rate(LimitTarget::queue("q:1"), RateLimit::per_second(50));
        s.set_concurrency(LimitTarget::queue("q:1"), 3);
        s.set_rate(
            LimitTarget::task_type("email:send"),
            RateLimit::new(7, Duration::from_millis(1500)),
        );
        s.set_concurrency(LimitTarget::task_type("img"), 2);
        let (back, bad) = LimitSet::from_fields(s.fields());
        assert!(bad.is_empty());
        assert_eq!(back, s);
        assert_eq!(back.to_list().len(), 3);
    }

    #[test]
    fn bad_fields_are_reported() {
        let (set, bad) = LimitSet::from_fields([
            ("rate:queue:a".to_string(), "0/1000".to_string()),
            ("rate:queue:b".to_string(), "x".to_string()),
            ("concurrency:type:t".to_string(), "0".to_string()),
            ("other".to_string(), "1".to_string()),
        ]);
        assert!(set.is_empty());
        assert_eq!(bad.len(), 4);
    }

    #[test]
    fn invalid_limits_are_rejected() {
        for r in [
            RateLimit::new(0, Duration::from_secs(1)),
            RateLimit::new(1, Duration::ZERO),
            RateLimit::new(1, Duration::from_secs(400 * 24 * 3600)),
        ] {
            let e = r.validate("x").expect_err("invalid");
            assert!(e.is_invalid_option(), "{e}");
        }
        let mut s = LimitSet::default();
        s.set_concurrency(LimitTarget::task_type("t"), 0);
        assert!(s.validate().is_err());
        let mut s = LimitSet::default();
        s.set_concurrency(LimitTarget::task_type(""), 1);
        assert!(s.validate().is_err());
    }
}

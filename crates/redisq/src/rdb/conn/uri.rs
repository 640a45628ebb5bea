//! `parse_redis_uri`: Redis connection URIs in the formats asynq's `ParseRedisURI` accepts.
//!
//! The parser is hand-written and small. It first splits a URI into its parts (scheme,
//! userinfo, host part, path, query; see [`RawUri`]) and then hands them to one builder per
//! scheme. Every problem is reported as an [`Error::invalid_uri`] error whose message names the
//! problem and the offending part. Passwords are never echoed in messages.

use std::borrow::Cow;
use std::net::Ipv6Addr;

use percent_encoding::percent_decode_str;

use super::options::{RedisAddr, RedisClientOpt, RedisConnOpt, RedisFailoverClientOpt, TlsConfig};
use crate::error::{Error, Result};

/// Default port of a Redis server.
const DEFAULT_REDIS_PORT: u16 = 6379;
/// Default port of a Redis Sentinel.
const DEFAULT_SENTINEL_PORT: u16 = 26379;
/// The schemes [`parse_redis_uri`] understands, for error messages.
const SUPPORTED_SCHEMES: &str = "redis, rediss, redis-socket, redis-sentinel";

/// Parses a Redis URI into connection settings, like asynq's `ParseRedisURI`.
///
/// Supported formats (the scheme is case-insensitive):
///
/// ```text
/// redis://[[user]:password@]host[:port][/dbnumber]
/// rediss://[[user]:password@]host[:port][/dbnumber]
/// redis-socket://[[user]:password@]/path/to/redis.sock[?db=dbnumber]
/// redis-sentinel://[[user]:password@]host1[:port][,host2[:port]]…[/dbnumber][?master=name]
/// ```
///
/// - `redis` and `rediss` give a [`RedisConnOpt::Standalone`] server over TCP; the port
///   defaults to 6379. `rediss` turns on TLS, verified against the system roots and the host
///   name. The database is the first segment of the path (`redis://host/3`); an empty path
///   means database 0 and further segments are ignored.
/// - `redis-socket` gives a [`RedisConnOpt::Standalone`] server on the unix socket named by the
///   URL path (`redis-socket:///var/run/redis.sock`); the database comes from the `db` query
///   parameter.
/// - `redis-sentinel` gives a [`RedisConnOpt::Sentinel`] master found through the listed
///   sentinels (default port 26379) under the name in the `master` query parameter (empty when
///   absent, as in asynq). The user name and password of the URI are the **sentinels'**
///   credentials (`sentinel_username` / `sentinel_password`), not the master's; set the
///   master's on the returned options if it needs them. The database comes from the path.
///
/// IPv6 addresses go in brackets (`redis://[::1]:6380`). The user name, password, path and
/// query values are percent-decoded, so a password containing reserved characters such as
/// `@`, `/`, `?`, `#` or `%` must be percent-encoded (`p%40ss` is `p@ss`). Unknown query
/// parameters are ignored, as in asynq. An empty user name or password counts as absent.
///
/// Differences from asynq, all deliberate:
///
/// - The user name is honoured (`redis://user:pass@host` sets `username`), because Redis 6
///   ACL users are common; asynq drops it.
/// - `redis-sentinel` reads the database from the path; asynq always uses database 0.
/// - Malformed input that asynq passes on to the connection (an empty host, a port of 0 or
///   above 65535, a negative database, an empty sentinel in the list, a `://`-less URI) is
///   rejected here with a clear message.
/// - A `redis-socket` URI may name no host or `localhost` before the path
///   (`redis-socket://localhost/tmp/redis.sock`); any other host is rejected, because asynq
///   would silently drop it and use only the rest of the path (`redis-socket://tmp/r.sock`
///   would mean `/r.sock`).
///
/// # Errors
///
/// An error for which [`Error::is_invalid_uri`] holds when the URI is malformed or uses an
/// unsupported scheme.
///
/// # Examples
///
/// ```
/// use redisq::{parse_redis_uri, RedisAddr, RedisConnOpt};
///
/// let opt = parse_redis_uri("redis://:s3cret@localhost:6380/2").unwrap();
/// let RedisConnOpt::Standalone(opt) = opt else { panic!("expected a standalone server") };
/// assert_eq!(opt.addr, RedisAddr::tcp("localhost", 6380));
/// assert_eq!(opt.password.as_deref(), Some("s3cret"));
/// assert_eq!(opt.db, 2);
///
/// let err = parse_redis_uri("http://localhost").unwrap_err();
/// assert!(err.is_invalid_uri());
/// ```
pub fn parse_redis_uri(uri: &str) -> Result<RedisConnOpt> {
    let raw = RawUri::split(uri)?;
    match raw.scheme.as_str() {
        "redis" => build_tcp(&raw, false),
        "rediss" => build_tcp(&raw, true),
        "redis-socket" => build_socket(&raw),
        "redis-sentinel" => build_sentinel(&raw),
        // `split` only lets through schemes made of harmless characters, so echoing is safe.
        other => Err(invalid(format!(
            "unsupported uri scheme {other:?} (supported: {SUPPORTED_SCHEMES})"
        ))),
    }
}

/// An invalid-URI error with the common prefix.
fn invalid(message: impl AsRef<str>) -> Error {
    Error::invalid_uri(format!("invalid redis uri: {}", message.as_ref()))
}

/// A URI split into its parts, nothing decoded yet.
///
/// `scheme://[userinfo@]hostpart[/path][?query][#fragment]`
#[derive(Debug)]
struct RawUri<'a> {
    /// The scheme, lowercased.
    scheme: String,
    /// Everything before the last `@` of the authority, if there is an `@`.
    userinfo: Option<&'a str>,
    /// The authority without the userinfo: `host[:port]`, or a comma-separated list of those.
    hostpart: &'a str,
    /// The path, starting with `/`, or empty.
    path: &'a str,
    /// The query without the `?`, if there is a `?`.
    query: Option<&'a str>,
    /// Whether host, port and database values may be shown in error messages. They are hidden
    /// when an `@` follows the authority while the authority has none: then a password with an
    /// unencoded `/`, `?` or `#` has probably been cut, and the "host", "port" or "database"
    /// is really a piece of it.
    show_hostpart: bool,
}

impl<'a> RawUri<'a> {
    fn split(uri: &'a str) -> Result<Self> {
        if uri.is_empty() {
            return Err(invalid("empty uri"));
        }
        // Like Go's url.Parse, refuse control characters (which also covers NUL and newlines
        // picked up from environment variables or files).
        if let Some(pos) = uri.find(|c: char| c.is_ascii_control()) {
            return Err(invalid(format!(
                "control character at byte {pos} of the uri"
            )));
        }
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Err(invalid(
                "missing \"://\" after the scheme (expected e.g. redis://localhost:6379)",
            ));
        };
        if scheme.is_empty() {
            return Err(invalid(format!(
                "missing uri scheme before \"://\" (supported: {SUPPORTED_SCHEMES})"
            )));
        }
        if !is_valid_scheme(scheme) {
            // Not echoed: without a proper scheme we cannot tell what this text is.
            return Err(invalid(format!(
                "malformed uri scheme before \"://\" (supported: {SUPPORTED_SCHEMES})"
            )));
        }

        // Go's url.Parse drops the fragment, then splits off the query, then ends the
        // authority at the first '/'.
        let (rest, fragment) = match rest.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (rest, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        // A password may itself contain '@'; the host part follows the last one.
        let (userinfo, hostpart) = match authority.rsplit_once('@') {
            Some((userinfo, hostpart)) => (Some(userinfo), hostpart),
            None => (None, authority),
        };
        let at_after_authority = [Some(path), query, fragment]
            .into_iter()
            .flatten()
            .any(|part| part.contains('@'));

        Ok(RawUri {
            scheme: scheme.to_ascii_lowercase(),
            userinfo,
            hostpart,
            path,
            query,
            show_hostpart: userinfo.is_some() || !at_after_authority,
        })
    }

    /// `value` quoted for an error message about the host part or the database, or a
    /// placeholder when it may be a piece of a password.
    fn show<'v>(&self, value: &'v str) -> Cow<'v, str> {
        if self.show_hostpart {
            Cow::Owned(format!("{value:?}"))
        } else {
            Cow::Borrowed(
                "(value hidden: it may be part of a password; percent-encode '/', '?', '#' \
                 and '@' in user names and passwords)",
            )
        }
    }

    /// The decoded user name and password; empty ones count as absent.
    fn credentials(&self) -> Result<Credentials> {
        let Some(userinfo) = self.userinfo else {
            return Ok(Credentials::default());
        };
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        let username = percent_decode(user, "user name")?;
        let password = password
            .map(|p| percent_decode(p, "password"))
            .transpose()?;
        Ok(Credentials {
            username: Some(username).filter(|u| !u.is_empty()),
            password: password.filter(|p| !p.is_empty()),
        })
    }

    /// The decoded value of the first query parameter called `name`, if any. Parameters whose
    /// name cannot be decoded are skipped, like Go's `url.Values` does.
    fn query_param(&self, name: &str) -> Result<Option<String>> {
        let Some(query) = self.query else {
            return Ok(None);
        };
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match query_decode(key, "query parameter name") {
                Ok(key) if key == name => {
                    let what = format!("query parameter `{name}`");
                    return query_decode(value, &what).map(Some);
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// The database number from the first segment of the path; 0 when there is none.
    fn db_from_path(&self) -> Result<i64> {
        let path = percent_decode(self.path, "path")?;
        match path.trim_matches('/').split('/').next() {
            Some(first) if !first.is_empty() => parse_db(self, first, "first segment of the path"),
            _ => Ok(0),
        }
    }
}

/// The user name and password of a URI.
#[derive(Debug, Default)]
struct Credentials {
    username: Option<String>,
    password: Option<String>,
}

/// `redis://` and `rediss://`: one server over TCP.
fn build_tcp(raw: &RawUri<'_>, tls: bool) -> Result<RedisConnOpt> {
    let (host, port) = parse_host_port(raw, raw.hostpart, DEFAULT_REDIS_PORT)?;
    let db = raw.db_from_path()?;
    let creds = raw.credentials()?;
    let mut opt = RedisClientOpt::with_addr(RedisAddr::tcp(host, port)).db(db);
    opt.username = creds.username;
    opt.password = creds.password;
    if tls {
        // The server name checked against the certificate is the host of the address.
        opt = opt.tls(TlsConfig::new());
    }
    Ok(RedisConnOpt::Standalone(opt))
}

/// `redis-socket://`: one server on a unix socket.
fn build_socket(raw: &RawUri<'_>) -> Result<RedisConnOpt> {
    let host = raw.hostpart;
    if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
        return Err(invalid(format!(
            "unexpected host {} in a redis-socket uri; the socket path follows \"://\" \
             directly, as in redis-socket:///var/run/redis.sock",
            raw.show(host)
        )));
    }
    let path = percent_decode(raw.path, "socket path")?;
    if path.trim_matches('/').is_empty() {
        return Err(invalid(
            "missing socket path (expected e.g. redis-socket:///var/run/redis.sock)",
        ));
    }
    let db = match raw.query_param("db")? {
        Some(db) if !db.is_empty() => parse_db(raw, &db, "query parameter `db`")?,
        _ => 0,
    };
    let creds = raw.credentials()?;
    let mut opt = RedisClientOpt::with_addr(RedisAddr::unix(path)).db(db);
    opt.username = creds.username;
    opt.password = creds.password;
    Ok(RedisConnOpt::Standalone(opt))
}

/// `redis-sentinel://`: a master found through sentinels.
fn build_sentinel(raw: &RawUri<'_>) -> Result<RedisConnOpt> {
    if raw.hostpart.is_empty() {
        return Err(invalid(
            "missing sentinel hosts (expected e.g. redis-sentinel://host1:26379,host2:26379\
             ?master=mymaster)",
        ));
    }
    let mut addrs = Vec::new();
    for (index, item) in raw.hostpart.split(',').enumerate() {
        if item.is_empty() {
            return Err(invalid(format!(
                "empty host at position {} of the sentinel list",
                index + 1
            )));
        }
        let (host, port) = parse_host_port(raw, item, DEFAULT_SENTINEL_PORT)?;
        addrs.push(RedisAddr::tcp(host, port));
    }
    let db = raw.db_from_path()?;
    let master = raw.query_param("master")?.unwrap_or_default();
    let creds = raw.credentials()?;

    let mut opt = RedisFailoverClientOpt::new(master, std::iter::empty::<&str>()).db(db);
    opt.sentinel_addrs = addrs;
    opt.sentinel_username = creds.username;
    opt.sentinel_password = creds.password;
    Ok(RedisConnOpt::Sentinel(opt))
}

/// Parses `host[:port]` or `[ipv6][:port]` into a decoded host and a port.
fn parse_host_port(raw: &RawUri<'_>, s: &str, default_port: u16) -> Result<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((literal, after)) = rest.split_once(']') else {
            return Err(invalid(format!(
                "missing ']' after the IPv6 address in host {}",
                raw.show(s)
            )));
        };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => {
                    return Err(invalid(format!(
                        "unexpected characters after the IPv6 address in host {}",
                        raw.show(s)
                    )));
                }
            },
        };
        (parse_ipv6_literal(raw, literal)?, port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        };
        if port.is_some_and(|p| p.contains(':')) {
            return Err(invalid(format!(
                "too many ':' in host {}; IPv6 addresses must be enclosed in brackets, \
                 as in redis://[::1]:6379",
                raw.show(s)
            )));
        }
        (parse_reg_name(raw, host)?, port)
    };
    let port = match port {
        None => default_port,
        Some(port) => parse_port(raw, port)?,
    };
    Ok((host, port))
}

/// A host name or IPv4 address: checked for stray characters, then percent-decoded.
fn parse_reg_name(raw: &RawUri<'_>, host: &str) -> Result<String> {
    if host.is_empty() {
        return Err(invalid("missing host"));
    }
    if let Some(c) = host.chars().find(|&c| !is_host_char(c)) {
        return Err(invalid(format!(
            "invalid character {c:?} in host {}",
            raw.show(host)
        )));
    }
    let decoded = percent_decode(host, "host")?;
    if decoded.is_empty() {
        return Err(invalid("missing host"));
    }
    // Escapes must not smuggle in what the raw check keeps out ("%2F", "%20", "%00", ...).
    if let Some(c) = decoded.chars().find(|&c| c == '%' || !is_host_char(c)) {
        return Err(invalid(format!(
            "invalid character {c:?} in host {} after percent-decoding",
            raw.show(host)
        )));
    }
    Ok(decoded)
}

/// The inside of `[...]`: an IPv6 address with an optional zone (`fe80::1%25eth0`).
fn parse_ipv6_literal(raw: &RawUri<'_>, literal: &str) -> Result<String> {
    if literal.is_empty() {
        return Err(invalid("missing IPv6 address between '[' and ']'"));
    }
    let decoded = percent_decode(literal, "IPv6 address")?;
    let (addr, zone) = match decoded.split_once('%') {
        Some((addr, zone)) => (addr, Some(zone)),
        None => (decoded.as_str(), None),
    };
    let zone_ok = zone.is_none_or(|z| {
        !z.is_empty()
            && z.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
    });
    if addr.parse::<Ipv6Addr>().is_err() || !zone_ok {
        return Err(invalid(format!(
            "invalid IPv6 address {} in brackets",
            raw.show(literal)
        )));
    }
    Ok(decoded)
}

/// A TCP port: decimal digits only, 1 to 65535.
fn parse_port(raw: &RawUri<'_>, port: &str) -> Result<u16> {
    if port.is_empty() {
        return Err(invalid("missing port number after ':'"));
    }
    let value = if port.bytes().all(|b| b.is_ascii_digit()) {
        port.parse::<u16>().ok().filter(|&p| p != 0)
    } else {
        None
    };
    value.ok_or_else(|| {
        invalid(format!(
            "invalid port {}: must be a number from 1 to 65535",
            raw.show(port)
        ))
    })
}

/// A database number: a non-negative integer (asynq uses `strconv.Atoi`, which also takes a
/// leading `+`). The value is shown in errors only when it cannot be a piece of a password
/// (see [`RawUri::show`]).
fn parse_db(raw: &RawUri<'_>, s: &str, origin: &str) -> Result<i64> {
    match s.parse::<i64>() {
        Ok(db) if db >= 0 => Ok(db),
        Ok(_) => Err(invalid(format!(
            "database number {} in the {origin} must not be negative",
            raw.show(s)
        ))),
        Err(_) => Err(invalid(format!(
            "database number {} in the {origin} is not an integer",
            raw.show(s)
        ))),
    }
}

/// Characters allowed in a host name as written in a URI (RFC 3986 reg-name plus non-ASCII
/// for internationalised names; `,` excluded since it separates sentinels).
fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.'
                | '_'
                | '~'
                | '!'
                | '$'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | '+'
                | ';'
                | '='
                | '%'
        )
        || !c.is_ascii()
}

/// A scheme as RFC 3986 spells it: a letter, then letters, digits, `+`, `-` or `.`.
fn is_valid_scheme(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Strict percent-decoding: every `%` must start a two-hex-digit escape and the result must
/// be UTF-8. `what` names the part for the error message; the value itself is not echoed
/// (it may be a password).
fn percent_decode(s: &str, what: &str) -> Result<String> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' {
            let escape_ok = matches!(
                (bytes.get(i + 1), bytes.get(i + 2)),
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit()
            );
            if !escape_ok {
                return Err(invalid(format!(
                    "invalid percent-encoding in the {what}: '%' must be followed by two hex \
                     digits (write '%25' for a literal '%')"
                )));
            }
        }
    }
    percent_decode_str(s)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| {
            invalid(format!(
                "invalid percent-encoding in the {what}: it does not decode to UTF-8"
            ))
        })
}

/// Decoding of a query name or value: `+` is a space, then percent-decoding.
fn query_decode(s: &str, what: &str) -> Result<String> {
    if s.contains('+') {
        percent_decode(&s.replace('+', " "), what)
    } else {
        percent_decode(s, what)
    }
}

#[cfg(test)]
#[path = "uri_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "uri_prop_tests.rs"]
mod prop_tests;

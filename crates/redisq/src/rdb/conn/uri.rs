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
    /// Whether host and port values may be shown in error messages. They are hidden when an
    /// `@` follows the authority while the authority has none: then a password with an
    /// unencoded `/`, `?` or `#` has probably been cut, and the "host" or "port" is really a
    /// piece of it.
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

    /// `value` quoted for an error message about the host part, or a placeholder when it may
    /// be a piece of a password.
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
            Some(first) if !first.is_empty() => parse_db(first, "first segment of the path"),
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
        Some(db) if !db.is_empty() => parse_db(&db, "query parameter `db`")?,
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
/// leading `+`).
fn parse_db(s: &str, origin: &str) -> Result<i64> {
    match s.parse::<i64>() {
        Ok(db) if db >= 0 => Ok(db),
        Ok(_) => Err(invalid(format!(
            "database number {s:?} in the {origin} must not be negative"
        ))),
        Err(_) => Err(invalid(format!(
            "database number {s:?} in the {origin} is not an integer"
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
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn standalone(uri: &str) -> RedisClientOpt {
        match parse_redis_uri(uri) {
            Ok(RedisConnOpt::Standalone(opt)) => opt,
            other => panic!("{uri}: expected a standalone option, got {other:?}"),
        }
    }

    fn sentinel(uri: &str) -> RedisFailoverClientOpt {
        match parse_redis_uri(uri) {
            Ok(RedisConnOpt::Sentinel(opt)) => opt,
            other => panic!("{uri}: expected a sentinel option, got {other:?}"),
        }
    }

    /// Asserts that `uri` is rejected as an invalid URI and returns the message.
    fn error(uri: &str) -> String {
        match parse_redis_uri(uri) {
            Ok(opt) => panic!("{uri:?}: expected an error, got {opt:?}"),
            Err(err) => {
                assert!(err.is_invalid_uri(), "{uri:?}: wrong kind: {err:?}");
                err.to_string()
            }
        }
    }

    /// Asserts that `uri` is rejected with a message containing `fragment`.
    #[track_caller]
    fn assert_error(uri: &str, fragment: &str) {
        let message = error(uri);
        assert!(
            message.contains(fragment),
            "{uri:?}: message {message:?} lacks {fragment:?}"
        );
        assert!(message.starts_with("invalid redis uri: "), "{message}");
    }

    fn tcp(host: &str, port: u16) -> RedisAddr {
        RedisAddr::tcp(host, port)
    }

    // ---- redis:// ----

    #[test]
    fn redis_host_only() {
        let opt = standalone("redis://localhost");
        assert_eq!(opt, RedisClientOpt::with_addr(tcp("localhost", 6379)));
        assert_eq!(opt.username, None);
        assert_eq!(opt.password, None);
        assert_eq!(opt.db, 0);
        assert_eq!(opt.tls, None);
    }

    #[test]
    fn redis_host_port_db() {
        let opt = standalone("redis://localhost:6380/3");
        assert_eq!(opt.addr, tcp("localhost", 6380));
        assert_eq!(opt.db, 3);
        assert_eq!(opt.password, None);
    }

    #[test]
    fn redis_password_and_db() {
        let opt = standalone("redis://:mypassword@127.0.0.1:6379/15");
        assert_eq!(opt.addr, tcp("127.0.0.1", 6379));
        assert_eq!(opt.username, None);
        assert_eq!(opt.password.as_deref(), Some("mypassword"));
        assert_eq!(opt.db, 15);
    }

    #[test]
    fn redis_username_is_honoured() {
        let opt = standalone("redis://user:pass@host");
        assert_eq!(opt.addr, tcp("host", 6379));
        assert_eq!(opt.username.as_deref(), Some("user"));
        assert_eq!(opt.password.as_deref(), Some("pass"));

        let opt = standalone("redis://alice@host:7000");
        assert_eq!(opt.username.as_deref(), Some("alice"));
        assert_eq!(opt.password, None);
        assert_eq!(opt.addr, tcp("host", 7000));
    }

    #[test]
    fn redis_empty_credentials_count_as_absent() {
        let opt = standalone("redis://:@host");
        assert_eq!((opt.username, opt.password), (None, None));
        let opt = standalone("redis://@host");
        assert_eq!((opt.username, opt.password), (None, None));
        let opt = standalone("redis://user:@host");
        assert_eq!(opt.username.as_deref(), Some("user"));
        assert_eq!(opt.password, None);
    }

    #[test]
    fn redis_percent_encoded_credentials() {
        let opt = standalone("redis://:p%40ss@host");
        assert_eq!(opt.password.as_deref(), Some("p@ss"));

        let opt = standalone("redis://us%3Aer:a%2Fb%3Fc%23d%25e%3A@host/1");
        assert_eq!(opt.username.as_deref(), Some("us:er"));
        assert_eq!(opt.password.as_deref(), Some("a/b?c#d%e:"));
        assert_eq!(opt.db, 1);

        // UTF-8 and '+' (not a space outside the query).
        let opt = standalone("redis://:%C3%A9t%C3%A9+x@host");
        assert_eq!(opt.password.as_deref(), Some("été+x"));
    }

    #[test]
    fn redis_unencoded_at_in_password_uses_last_at() {
        let opt = standalone("redis://:p@ss@host:6390");
        assert_eq!(opt.password.as_deref(), Some("p@ss"));
        assert_eq!(opt.addr, tcp("host", 6390));
    }

    #[test]
    fn redis_password_may_contain_colon() {
        let opt = standalone("redis://user:a:b:c@host");
        assert_eq!(opt.username.as_deref(), Some("user"));
        assert_eq!(opt.password.as_deref(), Some("a:b:c"));
    }

    #[test]
    fn redis_path_forms() {
        assert_eq!(standalone("redis://host/").db, 0);
        assert_eq!(standalone("redis://host").db, 0);
        assert_eq!(standalone("redis://host/7/ignored/segments").db, 7);
        assert_eq!(standalone("redis://host//5").db, 5); // like asynq's Trim of '/'
        assert_eq!(standalone("redis://host/+2").db, 2); // strconv.Atoi accepts '+'
        assert_eq!(standalone("redis://host/%31%32").db, 12); // the path is decoded
        assert_eq!(standalone("redis://host/0").db, 0);
    }

    #[test]
    fn redis_scheme_is_case_insensitive() {
        let opt = standalone("REDIS://Host:1234/2");
        assert_eq!(opt.addr, tcp("Host", 1234));
        assert_eq!(opt.db, 2);
        assert!(standalone("ReDiSs://host").tls.is_some());
    }

    #[test]
    fn redis_query_and_fragment_are_ignored() {
        let opt = standalone("redis://host:6379/2?dial_timeout=3s&foo=bar#frag");
        assert_eq!(opt.addr, tcp("host", 6379));
        assert_eq!(opt.db, 2);
        let opt = standalone("redis://host?db=9");
        assert_eq!(opt.db, 0, "asynq reads the redis:// db only from the path");
    }

    #[test]
    fn redis_ipv6() {
        let opt = standalone("redis://[::1]:6380");
        assert_eq!(opt.addr, tcp("::1", 6380));
        assert_eq!(opt.addr.to_string(), "[::1]:6380");

        let opt = standalone("redis://:pw@[2001:db8::10]/4");
        assert_eq!(opt.addr, tcp("2001:db8::10", 6379));
        assert_eq!(opt.password.as_deref(), Some("pw"));
        assert_eq!(opt.db, 4);

        let opt = standalone("redis://[fe80::1%25eth0]:7000");
        assert_eq!(opt.addr, tcp("fe80::1%eth0", 7000));

        let opt = standalone("redis://[::ffff:192.0.2.1]");
        assert_eq!(opt.addr, tcp("::ffff:192.0.2.1", 6379));
    }

    #[test]
    fn redis_port_bounds() {
        assert_eq!(standalone("redis://h:1").addr, tcp("h", 1));
        assert_eq!(standalone("redis://h:65535").addr, tcp("h", 65535));
        assert_eq!(standalone("redis://h:06379").addr, tcp("h", 6379));
    }

    #[test]
    fn redis_host_forms() {
        assert_eq!(
            standalone("redis://my-redis.example.com").addr,
            tcp("my-redis.example.com", 6379)
        );
        assert_eq!(
            standalone("redis://10.0.0.5:6000").addr,
            tcp("10.0.0.5", 6000)
        );
        assert_eq!(standalone("redis://redis_1").addr, tcp("redis_1", 6379));
    }

    #[test]
    fn redis_keeps_default_settings() {
        let opt = standalone("redis://host");
        let default = RedisClientOpt::new("host:6379");
        assert_eq!(opt.timeouts, default.timeouts);
        assert_eq!(opt.pool_size, default.pool_size);
    }

    // ---- rediss:// ----

    #[test]
    fn rediss_enables_tls() {
        let opt = standalone("rediss://:secret@redis.example.com:6380/1");
        assert_eq!(opt.addr, tcp("redis.example.com", 6380));
        assert_eq!(opt.password.as_deref(), Some("secret"));
        assert_eq!(opt.db, 1);
        let tls = opt.tls.expect("tls");
        assert_eq!(tls, TlsConfig::new());
        assert!(!tls.insecure);

        let opt = standalone("rediss://host");
        assert_eq!(opt.addr, tcp("host", 6379));
        assert!(opt.tls.is_some());

        let opt = standalone("rediss://default:pw@[::1]");
        assert_eq!(opt.addr, tcp("::1", 6379));
        assert_eq!(opt.username.as_deref(), Some("default"));
        assert!(opt.tls.is_some());
    }

    // ---- redis-socket:// ----

    #[test]
    fn socket_path() {
        let opt = standalone("redis-socket:///var/run/redis/redis.sock");
        assert_eq!(opt.addr, RedisAddr::unix("/var/run/redis/redis.sock"));
        assert_eq!(opt.db, 0);
        assert_eq!(opt.password, None);
        assert_eq!(opt.tls, None);
    }

    #[test]
    fn socket_with_password_and_db() {
        let opt = standalone("redis-socket://:mypassword@/var/run/redis.sock?db=2");
        assert_eq!(
            opt.addr,
            RedisAddr::Unix(PathBuf::from("/var/run/redis.sock"))
        );
        assert_eq!(opt.password.as_deref(), Some("mypassword"));
        assert_eq!(opt.username, None);
        assert_eq!(opt.db, 2);
    }

    #[test]
    fn socket_with_username_and_encoded_parts() {
        let opt = standalone("redis-socket://bob:p%40ss@/tmp/my%20redis.sock?x=1&db=%35&db=9");
        assert_eq!(opt.addr, RedisAddr::unix("/tmp/my redis.sock"));
        assert_eq!(opt.username.as_deref(), Some("bob"));
        assert_eq!(opt.password.as_deref(), Some("p@ss"));
        assert_eq!(opt.db, 5, "the first `db` wins, decoded");
    }

    #[test]
    fn socket_empty_or_absent_db_is_zero() {
        assert_eq!(standalone("redis-socket:///tmp/r.sock?db=").db, 0);
        assert_eq!(standalone("redis-socket:///tmp/r.sock?foo=bar").db, 0);
        assert_eq!(standalone("redis-socket:///tmp/r.sock?").db, 0);
    }

    #[test]
    fn socket_localhost_host_is_accepted() {
        let opt = standalone("redis-socket://localhost/tmp/redis.sock");
        assert_eq!(opt.addr, RedisAddr::unix("/tmp/redis.sock"));
    }

    #[test]
    fn socket_path_may_contain_at() {
        let opt = standalone("redis-socket:///tmp/a@b.sock");
        assert_eq!(opt.addr, RedisAddr::unix("/tmp/a@b.sock"));
    }

    // ---- redis-sentinel:// ----

    #[test]
    fn sentinel_single_host() {
        let opt = sentinel("redis-sentinel://localhost:5000?master=mymaster");
        assert_eq!(opt.master_name, "mymaster");
        assert_eq!(opt.sentinel_addrs, vec![tcp("localhost", 5000)]);
        assert_eq!(opt.sentinel_password, None);
        assert_eq!(opt.password, None);
        assert_eq!(opt.db, 0);
    }

    #[test]
    fn sentinel_several_hosts_default_port() {
        let opt =
            sentinel("redis-sentinel://localhost:5000,localhost:5001,localhost?master=mymaster");
        assert_eq!(
            opt.sentinel_addrs,
            vec![
                tcp("localhost", 5000),
                tcp("localhost", 5001),
                tcp("localhost", 26379)
            ]
        );
        assert_eq!(opt.master_name, "mymaster");
    }

    #[test]
    fn sentinel_password_is_for_the_sentinels() {
        let opt =
            sentinel("redis-sentinel://:mypassword@localhost:5000,localhost:5001?master=mymaster");
        assert_eq!(opt.sentinel_password.as_deref(), Some("mypassword"));
        assert_eq!(opt.sentinel_username, None);
        assert_eq!(opt.password, None);
        assert_eq!(opt.username, None);

        let opt = sentinel("redis-sentinel://sentuser:p%40ss@h1?master=m");
        assert_eq!(opt.sentinel_username.as_deref(), Some("sentuser"));
        assert_eq!(opt.sentinel_password.as_deref(), Some("p@ss"));
        assert_eq!(opt.username, None);
        assert_eq!(opt.password, None);
    }

    #[test]
    fn sentinel_with_db_and_master() {
        let opt = sentinel("redis-sentinel://h1:26380,h2/3?master=my+master%21&other=x");
        assert_eq!(opt.sentinel_addrs, vec![tcp("h1", 26380), tcp("h2", 26379)]);
        assert_eq!(opt.db, 3);
        assert_eq!(opt.master_name, "my master!");
    }

    #[test]
    fn sentinel_without_master_has_empty_name() {
        let opt = sentinel("redis-sentinel://h1,h2");
        assert_eq!(opt.master_name, "");
        assert_eq!(opt.sentinel_addrs, vec![tcp("h1", 26379), tcp("h2", 26379)]);
    }

    #[test]
    fn sentinel_ipv6_hosts() {
        let opt = sentinel("redis-sentinel://[::1]:5000,[2001:db8::1],10.0.0.1:5002?master=m");
        assert_eq!(
            opt.sentinel_addrs,
            vec![
                tcp("::1", 5000),
                tcp("2001:db8::1", 26379),
                tcp("10.0.0.1", 5002)
            ]
        );
    }

    #[test]
    fn sentinel_keeps_default_settings() {
        let opt = sentinel("redis-sentinel://h?master=m");
        let default = RedisFailoverClientOpt::new("m", ["h:26379"]);
        assert_eq!(opt, default);
    }

    // ---- errors ----

    #[test]
    fn error_empty() {
        assert_error("", "empty uri");
    }

    #[test]
    fn error_missing_separator() {
        assert_error("localhost:6379", "missing \"://\"");
        assert_error("redis:localhost", "missing \"://\"");
        assert_error("redis:/localhost", "missing \"://\"");
        assert_error("   ", "missing \"://\"");
    }

    #[test]
    fn error_missing_or_malformed_scheme() {
        assert_error("://host", "missing uri scheme");
        assert_error("1redis://host", "malformed uri scheme");
        assert_error("host:6379/x://y", "malformed uri scheme");
    }

    #[test]
    fn error_unsupported_scheme() {
        for uri in [
            "http://localhost",
            "redis-cluster://h1,h2",
            "unix:///tmp/r.sock",
        ] {
            let message = error(uri);
            assert!(message.contains("unsupported uri scheme"), "{message}");
            assert!(
                message.contains("redis, rediss, redis-socket, redis-sentinel"),
                "{message}"
            );
        }
        assert_error("http://localhost", "\"http\"");
    }

    #[test]
    fn error_empty_host() {
        assert_error("redis://", "missing host");
        assert_error("redis://:6379", "missing host");
        assert_error("redis://:pw@", "missing host");
        assert_error("redis://:pw@/0", "missing host");
        assert_error("rediss://user:pw@:6380", "missing host");
        assert_error("redis://?db=1", "missing host");
        assert_error("redis://[]:6379", "missing IPv6 address");
    }

    #[test]
    fn error_bad_host() {
        assert_error("redis://ho st", "invalid character ' '");
        assert_error("redis://h1,h2", "invalid character ','");
        assert_error("redis://::1", "IPv6 addresses must be enclosed in brackets");
        assert_error("redis://[::1", "missing ']'");
        assert_error(
            "redis://[::1]x",
            "unexpected characters after the IPv6 address",
        );
        assert_error("redis://[not-an-ip]:6379", "invalid IPv6 address");
        assert_error("redis://[127.0.0.1]", "invalid IPv6 address");
        assert_error("redis://[fe80::1%25]", "invalid IPv6 address");
        assert_error("redis://h%ff/", "does not decode to UTF-8");
        assert_error("redis://h%zz", "invalid percent-encoding in the host");
        assert_error(
            "redis://h%2Fx",
            "invalid character '/' in host \"h%2Fx\" after percent-decoding",
        );
        assert_error("redis://h%00", "after percent-decoding");
        assert_error("redis://h%20x", "after percent-decoding");
        assert_error("redis://h%25x", "after percent-decoding");
    }

    #[test]
    fn error_bad_port() {
        assert_error("redis://host:abc", "invalid port \"abc\"");
        assert_error("redis://host:0", "invalid port \"0\"");
        assert_error("redis://host:65536", "invalid port \"65536\"");
        assert_error("rediss://host:99999", "invalid port \"99999\"");
        assert_error("redis://host:-1", "invalid port \"-1\"");
        assert_error("redis://host:+1", "invalid port \"+1\"");
        assert_error(
            "redis://host:99999999999999999999999",
            "must be a number from 1 to 65535",
        );
        assert_error("redis://host:", "missing port number");
        assert_error("redis://[::1]:", "missing port number");
        assert_error("redis://[::1]:x", "invalid port \"x\"");
        assert_error(
            "redis-sentinel://h1:5000,h2:nope?master=m",
            "invalid port \"nope\"",
        );
    }

    #[test]
    fn error_bad_db() {
        assert_error("redis://host/abc", "database number \"abc\"");
        assert_error("redis://host/abc", "not an integer");
        assert_error("redis://localhost:6379/abc123", "first segment of the path");
        assert_error("redis://host/-1", "must not be negative");
        assert_error("redis://host/1.5", "not an integer");
        assert_error("redis://host/99999999999999999999", "not an integer");
        assert_error("redis-socket:///tmp/r.sock?db=x", "query parameter `db`");
        assert_error("redis-socket:///tmp/r.sock?db=-3", "must not be negative");
        assert_error("redis-sentinel://h/abc?master=m", "database number \"abc\"");
        assert_error("redis-sentinel://h/-2?master=m", "must not be negative");
    }

    #[test]
    fn error_bad_percent_encoding() {
        assert_error(
            "redis://:%zz@host",
            "invalid percent-encoding in the password",
        );
        assert_error(
            "redis://:abc%4@host",
            "invalid percent-encoding in the password",
        );
        assert_error(
            "redis://:abc%@host",
            "invalid percent-encoding in the password",
        );
        assert_error("redis://:%ff%fe@host", "does not decode to UTF-8");
        assert_error(
            "redis://us%zzer:pw@host",
            "invalid percent-encoding in the user name",
        );
        assert_error("redis://host/%zz", "invalid percent-encoding in the path");
        assert_error("redis-socket:///tmp/%c3.sock", "socket path");
        assert_error("redis-socket:///tmp/r.sock?db=%zz", "query parameter `db`");
        assert_error("redis-sentinel://h?master=%e9", "query parameter `master`");
        assert_error("redis-sentinel://:%G0@h?master=m", "password");
    }

    #[test]
    fn undecodable_unknown_query_parameters_are_ignored() {
        assert_eq!(standalone("redis-socket:///tmp/r.sock?%zz=1&db=4").db, 4);
        assert_eq!(standalone("redis://host/1?x=%zz").db, 1);
    }

    #[test]
    fn error_socket_path() {
        assert_error("redis-socket://", "missing socket path");
        assert_error("redis-socket://?db=1", "missing socket path");
        assert_error("redis-socket:///", "missing socket path");
        assert_error("redis-socket://:pw@", "missing socket path");
        assert_error("redis-socket://tmp/redis.sock", "unexpected host \"tmp\"");
    }

    #[test]
    fn error_sentinel_hosts() {
        assert_error("redis-sentinel://", "missing sentinel hosts");
        assert_error("redis-sentinel://?master=m", "missing sentinel hosts");
        assert_error("redis-sentinel://:pw@/1?master=m", "missing sentinel hosts");
        assert_error("redis-sentinel://,", "empty host at position 1");
        assert_error(
            "redis-sentinel://h1,,h3?master=m",
            "empty host at position 2",
        );
        assert_error("redis-sentinel://h1,?master=m", "empty host at position 2");
        assert_error("redis-sentinel://h1,:5000?master=m", "missing host");
    }

    #[test]
    fn error_control_characters() {
        assert_error("\u{0}", "control character at byte 0");
        assert_error("redis://host\n", "control character at byte 12");
        assert_error("redis://ho\tst", "control character");
        assert_error("redis://:pa\u{7f}ss@host", "control character");
    }

    #[test]
    fn errors_never_echo_the_password() {
        let secret = "Sup3rS3cret";
        let cases = [
            format!("redis://:{secret}@"),
            format!("redis://:{secret}@host:0"),
            format!("redis://:{secret}@host:abc"),
            format!("redis://:{secret}@host/abc"),
            format!("redis://:{secret}%zz@host"),
            format!("redis://user:{secret}%ff@host"),
            format!("redis://:{secret}@ho st"),
            format!("redis://:{secret}@[::1"),
            format!("rediss://:{secret}@host:99999"),
            format!("redis-socket://:{secret}@"),
            format!("redis-socket://:{secret}@/tmp/r.sock?db=x"),
            format!("redis-sentinel://:{secret}@"),
            format!("redis-sentinel://:{secret}@h1,,h2"),
            format!("http://:{secret}@host"),
            format!("redis:/:{secret}@host"),
            format!("redis://:{secret}\n@host"),
            // Unencoded '/', '?' or '#' in the password cut the URI early; the pieces that
            // then look like a host or port must not be shown either.
            format!("redis://user:{secret}/x@host"),
            format!("redis://user:{secret}?x@host"),
            format!("redis://user:{secret}#x@host"),
            format!("redis://{secret}:/x@host"),
            format!("redis-sentinel://user:{secret}/x@h1,h2"),
            format!("redis-socket://user:{secret}/x@/tmp/r.sock"),
            format!("redis://[{secret}/x@host"),
            format!("redis://user:[{secret}/x@host"),
            format!("redis://user:[::1]{secret}/x@host"),
        ];
        for uri in &cases {
            let message = error(uri);
            assert!(!message.contains(secret), "{uri:?} leaked: {message}");
            assert!(!message.contains("Sup3r"), "{uri:?} leaked: {message}");
        }
        assert_error(
            &format!("redis://user:{secret}/x@host"),
            "percent-encode '/', '?', '#' and '@'",
        );
    }

    #[test]
    fn odd_inputs_never_panic() {
        let inputs = [
            "",
            "\u{0}",
            "redis://",
            "redis://:@",
            "redis://@",
            "redis://@@@",
            "redis://:",
            "redis://[",
            "redis://]",
            "redis://[]",
            "redis://[::1",
            "redis://[::1]]",
            "redis://[[::1]]",
            "redis://[::1]:",
            "redis://[::1]:-1",
            "redis://host:-1",
            "redis://host::1",
            "redis://host/abc",
            "redis://host/%",
            "redis://host/%%%",
            "redis://host%",
            "redis://host%2",
            "redis://h%ff/",
            "redis://h%00",
            "redis://h%2f",
            "redis:///",
            "redis:////",
            "redis://?",
            "redis://#",
            "redis://?#",
            "redis://host?&&==&",
            "redis-sentinel://,",
            "redis-sentinel://,,,",
            "redis-sentinel://[",
            "redis-sentinel://[::1],[",
            "redis-sentinel://h?master",
            "redis-sentinel://h?master=&master=x",
            "redis-socket://?db=1",
            "redis-socket://",
            "redis-socket:///%",
            "redis-socket:///x?db",
            "redis-socket:///x?=&=",
            "redis-socket:///x?db=99999999999999999999999",
            "rediss://host:99999",
            "rediss://",
            "://",
            ":///",
            "redis:/",
            "redis",
            "é://host",
            "redis://é",
            "redis://[é]",
            "redis://:é@é:é/é?é=é#é",
            "redis://\u{1F600}",
            "redis://%F0%9F%98%80",
            "redis://[::1%25%ff]",
            "redis://[%zz]",
            "redis://host:6379/0/1/2/3",
        ];
        for input in inputs {
            let result = std::panic::catch_unwind(|| parse_redis_uri(input));
            match result {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => assert!(err.is_invalid_uri(), "{input:?}: {err:?}"),
                Err(_) => panic!("{input:?} panicked"),
            }
        }
        // Exhaustively mutate a template: truncations and single-character insertions.
        let template = "redis-sentinel://us%40er:p%40ss@[::1]:5000,h2:5001/2?master=m%20x#f";
        let specials = [
            '%', '@', ':', '[', ']', '/', '?', '#', ',', '=', '&', 'é', '\0',
        ];
        for (i, _) in template.char_indices() {
            let _ = parse_redis_uri(&template[..i]);
            let _ = parse_redis_uri(&template[i..]);
            for c in specials {
                let mut mutated = template.to_string();
                mutated.insert(i, c);
                let _ = parse_redis_uri(&mutated);
            }
        }
    }

    #[test]
    fn lookalike_hosts_are_accepted_like_asynq() {
        // Odd but well-formed: characters RFC 3986 allows in a host name.
        let opt = standalone("redis://a~b!c$d&e'f(g)h*i+j;k=l");
        assert_eq!(opt.addr, tcp("a~b!c$d&e'f(g)h*i+j;k=l", 6379));
        // Non-ASCII (internationalised) names are passed through.
        assert_eq!(standalone("redis://é.example").addr, tcp("é.example", 6379));
        assert_eq!(
            standalone("redis://%C3%A9.example").addr,
            tcp("é.example", 6379)
        );
    }
}

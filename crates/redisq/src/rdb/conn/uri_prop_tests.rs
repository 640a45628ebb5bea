//! Property tests of `parse_redis_uri`: arbitrary text never panics, generated URIs of every
//! scheme parse to the options they spell, what parses is well-formed, passwords cut by an
//! unencoded reserved character never reach an error message, and a TCP address printed with
//! `Display` reads back through the `host:port` constructors.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;

use super::*;
use crate::rdb::conn::options::{RedisClusterClientOpt, split_host_port};

/// The default number of cases, and no `proptest-regressions/` files: a failure found here
/// becomes a named regression test instead.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Building URIs

/// `%XX` escapes of every UTF-8 byte of `c`.
fn escape(c: char, out: &mut String) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        out.push_str(&format!("%{b:02X}"));
    }
}

/// Percent-encodes `s`: the characters for which `must` holds always, the others when
/// `extra` says so for their position (so both raw and encoded forms of harmless characters
/// are exercised).
fn encode(s: &str, must: impl Fn(char) -> bool, extra: &[bool]) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if must(c) || extra.get(i).copied().unwrap_or(false) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that must be escaped in a user name.
fn user_reserved(c: char) -> bool {
    c.is_ascii_control() || matches!(c, '%' | '@' | '/' | '?' | '#' | ':')
}

/// Characters that must be escaped in a password (a ':' may stay: the user name ends at the
/// first one).
fn password_reserved(c: char) -> bool {
    c.is_ascii_control() || matches!(c, '%' | '@' | '/' | '?' | '#')
}

/// Characters that must be escaped in a path segment.
fn path_reserved(c: char) -> bool {
    c.is_ascii_control() || matches!(c, '%' | '?' | '#' | '/')
}

/// Characters that must be escaped in a query value (`+` means a space there).
fn query_reserved(c: char) -> bool {
    c.is_ascii_control() || matches!(c, '%' | '#' | '&' | '+')
}

/// Any text, control characters and non-ASCII included.
fn text(max: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// A string and which of its characters to escape although they need not be.
fn encoded(
    s: impl Strategy<Value = String>,
    must: fn(char) -> bool,
) -> impl Strategy<Value = (String, String)> {
    (s, vec(any::<bool>(), 0..32)).prop_map(move |(s, extra)| {
        let written = encode(&s, must, &extra);
        (s, written)
    })
}

/// Optional `user:password@`: (user, password, written).
fn userinfo() -> impl Strategy<Value = (Option<String>, Option<String>, String)> {
    (
        prop::option::of(encoded(text(12), user_reserved)),
        prop::option::of(encoded(text(16), password_reserved)),
        any::<bool>(),
    )
        .prop_map(|(user, password, at_only)| {
            let written = match (&user, &password) {
                (None, None) if at_only => "@".to_string(),
                (None, None) => String::new(),
                (Some((_, u)), None) => format!("{u}@"),
                (None, Some((_, p))) => format!(":{p}@"),
                (Some((_, u)), Some((_, p))) => format!("{u}:{p}@"),
            };
            let absent_if_empty =
                |v: Option<(String, String)>| v.map(|(s, _)| s).filter(|s| !s.is_empty());
            (absent_if_empty(user), absent_if_empty(password), written)
        })
}

/// Characters a host name may hold: RFC 3986 reg-name characters and non-ASCII.
fn host_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => select(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+;="
                .chars()
                .collect::<Vec<_>>()
        ),
        1 => prop::char::range('\u{80}', char::MAX),
    ]
}

/// A host as written in a URI and as it must come out: a name (some characters
/// percent-encoded), an IPv4 address, or a bracketed IPv6 address with an optional zone.
fn host() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        3 => (vec(host_char(), 1..16), vec(any::<bool>(), 0..16)).prop_map(|(chars, extra)| {
            let name = String::from_iter(chars);
            (encode(&name, |_| false, &extra), name)
        }),
        1 => any::<Ipv4Addr>().prop_map(|a| (a.to_string(), a.to_string())),
        1 => (any::<Ipv6Addr>(), prop::option::of("[a-zA-Z0-9._~-]{1,8}")).prop_map(|(a, zone)| {
            match zone {
                Some(z) => (format!("[{a}%25{z}]"), format!("{a}%{z}")),
                None => (format!("[{a}]"), a.to_string()),
            }
        }),
    ]
}

/// An optional `:port` (sometimes with leading zeros): (port, written).
fn port() -> impl Strategy<Value = (Option<u16>, String)> {
    prop::option::of((1u16..=65535, 0usize..3)).prop_map(|p| match p {
        Some((port, zeros)) => (Some(port), format!(":{}{port}", "0".repeat(zeros))),
        None => (None, String::new()),
    })
}

/// A database in the path, in the forms asynq reads: (db, written path).
fn db_path() -> impl Strategy<Value = (i64, String)> {
    prop_oneof![
        select(vec!["", "/", "//"]).prop_map(|p| (0, p.to_string())),
        (0..=i64::MAX, 0usize..5, vec(any::<bool>(), 0..20)).prop_map(|(db, form, extra)| {
            let path = match form {
                0 => format!("/{db}"),
                1 => format!("/{db}/ignored/segments"),
                2 => format!("//{db}"),
                3 => format!("/+{db}"),
                _ => format!("/{}", encode(&db.to_string(), |_| false, &extra)),
            };
            (db, path)
        }),
    ]
}

/// Query and fragment text that `redis://` ignores.
fn ignored_tail() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-z0-9=&?/@]{0,8}"),
        prop::option::of("[a-z0-9=&?/@#]{0,8}"),
    )
        .prop_map(|(q, f)| {
            let mut out = String::new();
            if let Some(q) = q {
                out.push('?');
                out.push_str(&q);
            }
            if let Some(f) = f {
                out.push('#');
                out.push_str(&f);
            }
            out
        })
}

/// `scheme` in a random letter case.
fn scheme_case(scheme: &'static str) -> impl Strategy<Value = String> {
    vec(any::<bool>(), scheme.len()).prop_map(move |upper| {
        scheme
            .chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

/// A `redis://` or `rediss://` URI and the options it spells.
fn tcp_uri() -> impl Strategy<Value = (String, RedisConnOpt)> {
    (
        any::<bool>()
            .prop_flat_map(|tls| (Just(tls), scheme_case(if tls { "rediss" } else { "redis" }))),
        userinfo(),
        host(),
        port(),
        db_path(),
        ignored_tail(),
    )
        .prop_map(
            |(
                (tls, scheme),
                (user, password, info),
                (host_written, host),
                (port, port_written),
                (db, path),
                tail,
            )| {
                let uri = format!("{scheme}://{info}{host_written}{port_written}{path}{tail}");
                let mut opt =
                    RedisClientOpt::with_addr(RedisAddr::tcp(host, port.unwrap_or(6379))).db(db);
                opt.username = user;
                opt.password = password;
                if tls {
                    opt = opt.tls(TlsConfig::new());
                }
                (uri, RedisConnOpt::Standalone(opt))
            },
        )
}

/// A `redis-socket://` URI and the options it spells.
fn socket_uri() -> impl Strategy<Value = (String, RedisConnOpt)> {
    let segment = encoded(
        text(10).prop_filter("not only slashes", |s| s.chars().any(|c| c != '/')),
        path_reserved,
    );
    (
        scheme_case("redis-socket"),
        userinfo(),
        select(vec!["", "localhost", "LocalHost"]),
        vec(segment, 1..4),
        prop::option::of((0..=i64::MAX, any::<bool>(), any::<bool>())),
    )
        .prop_map(|(scheme, (user, password, info), host, segments, db)| {
            let path: String = segments.iter().map(|(s, _)| format!("/{s}")).collect();
            let written: String = segments.iter().map(|(_, w)| format!("/{w}")).collect();
            let query = match db {
                None => String::new(),
                Some((db, junk_first, another_after)) => {
                    let mut q = String::from("?");
                    if junk_first {
                        q.push_str("x=1&dbx=2&");
                    }
                    q.push_str(&format!("db={db}"));
                    if another_after {
                        q.push_str("&db=oops");
                    }
                    q
                }
            };
            let uri = format!("{scheme}://{info}{host}{written}{query}");
            let mut opt =
                RedisClientOpt::with_addr(RedisAddr::unix(path)).db(db.map_or(0, |d| d.0));
            opt.username = user;
            opt.password = password;
            (uri, RedisConnOpt::Standalone(opt))
        })
}

/// A `redis-sentinel://` URI and the options it spells.
fn sentinel_uri() -> impl Strategy<Value = (String, RedisConnOpt)> {
    (
        scheme_case("redis-sentinel"),
        userinfo(),
        vec((host(), port()), 1..5),
        db_path(),
        prop::option::of((encoded(text(12), query_reserved), any::<bool>())),
    )
        .prop_map(
            |(scheme, (user, password, info), hosts, (db, path), master)| {
                let list: Vec<String> = hosts
                    .iter()
                    .map(|((w, _), (_, p))| format!("{w}{p}"))
                    .collect();
                let query = match &master {
                    None => String::new(),
                    Some(((_, written), spaces_as_plus)) => {
                        let written = if *spaces_as_plus {
                            written.replace(' ', "+")
                        } else {
                            written.clone()
                        };
                        format!("?other=1&master={written}&master=second")
                    }
                };
                let uri = format!("{scheme}://{info}{}{path}{query}", list.join(","));
                let name = master.map(|((m, _), _)| m).unwrap_or_default();
                let mut opt = RedisFailoverClientOpt::new(name, std::iter::empty::<&str>()).db(db);
                opt.sentinel_addrs = hosts
                    .into_iter()
                    .map(|((_, h), (p, _))| RedisAddr::tcp(h, p.unwrap_or(26379)))
                    .collect();
                opt.sentinel_username = user;
                opt.sentinel_password = password;
                (uri, RedisConnOpt::Sentinel(opt))
            },
        )
}

/// Text that looks like a URI: a real or near scheme and a tail of URI punctuation.
fn uri_like() -> impl Strategy<Value = String> {
    let scheme = select(vec![
        "redis://",
        "rediss://",
        "redis-socket://",
        "redis-sentinel://",
        "REDIS://",
        "redis:/",
        "redis:",
        "http://",
        "://",
        "",
    ]);
    let tail = vec(
        prop_oneof![
            4 => select("ab:/@?#%[],.+=&-019fF ".chars().collect::<Vec<_>>()),
            1 => any::<char>(),
        ],
        0..40,
    )
    .prop_map(String::from_iter);
    (scheme, tail).prop_map(|(s, t)| format!("{s}{t}"))
}

// ---------------------------------------------------------------------------------------------
// Checks

/// What any successfully parsed option must look like.
fn check_well_formed(opt: &RedisConnOpt) -> Result<(), TestCaseError> {
    fn check_tcp(addr: &RedisAddr) -> Result<(), TestCaseError> {
        let RedisAddr::Tcp { host, port } = addr else {
            return Err(TestCaseError::fail(format!(
                "expected a TCP address: {addr:?}"
            )));
        };
        prop_assert!(*port != 0);
        prop_assert!(!host.is_empty());
        let v6 = host
            .split('%')
            .next()
            .is_some_and(|a| a.parse::<Ipv6Addr>().is_ok());
        prop_assert!(
            v6 || host.chars().all(|c| c != '%' && is_host_char(c)),
            "host {:?}",
            host
        );
        Ok(())
    }
    match opt {
        RedisConnOpt::Standalone(o) => {
            prop_assert!(o.db >= 0);
            match &o.addr {
                RedisAddr::Unix(path) => {
                    prop_assert!(o.tls.is_none());
                    let path = path.to_string_lossy();
                    prop_assert!(!path.trim_matches('/').is_empty(), "path {:?}", path);
                }
                tcp => check_tcp(tcp)?,
            }
        }
        RedisConnOpt::Sentinel(o) => {
            prop_assert!(o.db >= 0);
            prop_assert!(!o.sentinel_addrs.is_empty());
            for addr in &o.sentinel_addrs {
                check_tcp(addr)?;
            }
        }
        other => {
            return Err(TestCaseError::fail(format!(
                "unexpected topology {other:?}"
            )));
        }
    }
    for secret in credentials(opt) {
        prop_assert!(secret.as_ref().is_none_or(|s| !s.is_empty()));
    }
    Ok(())
}

fn credentials(opt: &RedisConnOpt) -> Vec<&Option<String>> {
    match opt {
        RedisConnOpt::Standalone(o) => vec![&o.username, &o.password],
        RedisConnOpt::Sentinel(o) => vec![&o.sentinel_username, &o.sentinel_password],
        _ => vec![],
    }
}

fn check_parses_to(uri: &str, want: &RedisConnOpt) -> Result<(), TestCaseError> {
    match parse_redis_uri(uri) {
        Ok(got) => {
            prop_assert_eq!(&got, want, "{}", uri);
            check_well_formed(&got)
        }
        Err(err) => Err(TestCaseError::fail(format!("{uri:?}: {err}"))),
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any text parses or fails with an invalid-URI error, and what parses is well-formed.
    #[test]
    fn arbitrary_text_never_panics(uri in prop_oneof![text(64), uri_like()]) {
        match parse_redis_uri(&uri) {
            Ok(opt) => check_well_formed(&opt)?,
            Err(err) => {
                prop_assert!(err.is_invalid_uri(), "{:?}: {:?}", uri, err);
                prop_assert!(err.to_string().starts_with("invalid redis uri: "), "{}", err);
            }
        }
    }

    #[test]
    fn tcp_uris_parse_to_their_options((uri, want) in tcp_uri()) {
        check_parses_to(&uri, &want)?;
    }

    #[test]
    fn socket_uris_parse_to_their_options((uri, want) in socket_uri()) {
        check_parses_to(&uri, &want)?;
    }

    #[test]
    fn sentinel_uris_parse_to_their_options((uri, want) in sentinel_uri()) {
        check_parses_to(&uri, &want)?;
    }

    /// A password written with one unencoded `/`, `?` or `#` is cut at that character; the
    /// URI then fails or means something else, but no piece of the password appears in an
    /// error message.
    #[test]
    fn cut_passwords_are_not_echoed(
        scheme in select(vec!["redis", "rediss", "redis-socket", "redis-sentinel"]),
        user in prop::option::of("[a-z]{1,6}"),
        first in prop_oneof!["[0-9]{1,5}", "QX[a-z0-9]{2,6}"],
        cut in select(vec!['/', '?', '#']),
        second in prop_oneof!["[0-9]{1,5}", "QX[a-z0-9]{2,6}", "QX[a-z0-9]{1,3}[/?#]QX[a-z0-9]{2,4}"],
        rest in select(vec!["host", "host:6380", "host/2", "/tmp/r.sock", "h1,h2:26380?master=m"]),
    ) {
        let password = format!("{first}{cut}{second}");
        let info = match &user {
            Some(u) => format!("{u}:{password}@"),
            None => format!(":{password}@"),
        };
        let uri = format!("{scheme}://{info}{rest}");
        if let Err(err) = parse_redis_uri(&uri) {
            let message = err.to_string();
            for piece in password.split(['/', '?', '#', '@']).filter(|p| p.starts_with("QX")) {
                prop_assert!(!message.contains(piece), "{:?}: {:?} shows {:?}", uri, message, piece);
            }
        }
    }

    /// A TCP address printed with `Display` reads back through the constructors that take
    /// `host:port` text.
    #[test]
    fn tcp_addresses_print_and_read_back((_, host) in host(), port in 1u16..=65535) {
        let addr = RedisAddr::tcp(host.clone(), port);
        let text = addr.to_string();
        prop_assert_eq!(split_host_port(&text), Some((host, port)));
        prop_assert_eq!(&RedisClientOpt::new(&text).addr, &addr);
        let sentinel = RedisFailoverClientOpt::new("m", [text.as_str()]);
        prop_assert_eq!(&sentinel.sentinel_addrs, &vec![addr.clone()]);
        let cluster = RedisClusterClientOpt::new([text.as_str()]);
        prop_assert_eq!(&cluster.addrs, &vec![addr]);
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions found by the properties

/// Found by `cut_passwords_are_not_echoed`: with an unencoded `/` in the password, the rest
/// of the password became the path, and the "not an integer" message quoted it.
#[test]
fn password_cut_by_a_slash_is_not_echoed_as_the_database() {
    for uri in [
        "redis://a:1/QX00@host",
        "redis-sentinel://a:1/QX00@h1",
        "redis://u:1/-5?QX00@host",
    ] {
        let err = parse_redis_uri(uri).expect_err(uri);
        let message = err.to_string();
        assert!(err.is_invalid_uri(), "{uri}");
        assert!(
            message.contains("database number (value hidden"),
            "{uri}: {message}"
        );
        assert!(!message.contains("QX00"), "{uri}: {message}");
    }
    // Without an '@' after the authority the value is still shown.
    let message = parse_redis_uri("redis://host/abc")
        .expect_err("abc")
        .to_string();
    assert!(message.contains("database number \"abc\""), "{message}");
}

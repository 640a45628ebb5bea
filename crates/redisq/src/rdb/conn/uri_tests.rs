//! Tests of `parse_redis_uri`: every URI form asynq accepts, and the bad inputs.

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
    let opt = sentinel("redis-sentinel://localhost:5000,localhost:5001,localhost?master=mymaster");
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

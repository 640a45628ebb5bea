//! Property tests of the connection flags: any flags resolve or fail with a usage error,
//! never panic, and `-u` / `--cluster_addrs` connect to exactly the addresses given.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;

use super::*;

/// The default number of cases, and no `proptest-regressions/` files: a failure found here
/// becomes a named regression test instead.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

/// A `host:port` address as a user would type it, sometimes malformed.
fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        ("[a-z0-9.-]{1,10}", prop::option::of(0u32..70_000))
            .prop_map(|(h, p)| p.map_or(h.clone(), |p| format!("{h}:{p}"))),
        (any::<std::net::Ipv6Addr>(), prop::option::of(1u16..)).prop_map(|(a, p)| match p {
            Some(p) => format!("[{a}]:{p}"),
            None => format!("[{a}]"),
        }),
        "[ -~]{0,12}",
        select(vec![
            "[[x]:1", "[x", "x]:1", "[]:1", ":1", "h:", "[::1]x", " h:1 "
        ])
        .prop_map(str::to_string),
    ]
}

/// Connection flags with arbitrary values (never `--tls_ca`, which reads a file).
fn conn_args() -> impl Strategy<Value = ConnArgs> {
    (
        (
            prop::option::of(prop_oneof![
                "[ -~]{0,16}",
                select(vec![
                    "redis://h:1/2",
                    "rediss://u:p@h",
                    "redis-sentinel://a,b?master=m"
                ])
                .prop_map(str::to_string),
            ]),
            prop::option::of(address()),
            prop::option::of(0i64..100),
            prop::option::of(".{0,8}"),
            prop::option::of(".{0,8}"),
        ),
        (
            any::<bool>(),
            vec(address(), 0..4),
            any::<bool>(),
            prop::option::of(prop_oneof!["[a-z.]{1,8}", address()]),
            any::<bool>(),
            prop_oneof![Just("asynq".to_string()), ".{0,6}"],
        ),
    )
        .prop_map(
            |(
                (redis, uri, db, password, username),
                (cluster, cluster_addrs, tls, tls_server, insecure, namespace),
            )| {
                ConnArgs {
                    redis,
                    uri,
                    db,
                    password,
                    username,
                    cluster,
                    cluster_addrs,
                    tls,
                    tls_server,
                    insecure,
                    tls_ca: None,
                    namespace,
                }
            },
        )
}

proptest! {
    #![proptest_config(config())]

    /// Any connection flags, with or without a `REDISQ_URL`, resolve or fail with a usage
    /// error; never a panic.
    #[test]
    fn connection_flags_never_panic(
        args in conn_args(),
        env in prop::option::of(prop_oneof!["[ -~]{0,16}", Just("redis://env:9/1".to_string())]),
    ) {
        if let Err(e) = args.resolve_with_env(env.as_deref()) {
            prop_assert_eq!(e.exit, Exit::Usage, "{:?}: {}", args, e.message);
        }
    }

    /// `-u` and `--cluster_addrs` connect to exactly the hosts and ports given.
    #[test]
    fn addresses_resolve_to_what_was_given(
        addrs in vec(address(), 1..4),
        cluster in any::<bool>(),
    ) {
        let args = if cluster {
            ConnArgs { cluster: true, cluster_addrs: addrs.clone(), ..default_args() }
        } else {
            ConnArgs { uri: Some(addrs[0].clone()), ..default_args() }
        };
        let given: Vec<&str> = if cluster {
            addrs.iter().map(|a| a.trim()).filter(|a| !a.is_empty()).collect()
        } else {
            vec![addrs[0].as_str()]
        };
        let want: Result<Vec<RedisAddr>, _> = given
            .iter()
            .map(|a| host_port(a, "-u").map(|(h, p)| RedisAddr::tcp(h, p)))
            .collect();
        match (args.resolve_with_env(None), want) {
            (Ok(conn), Ok(want)) => {
                let got = match &conn.opt {
                    RedisConnOpt::Standalone(o) => vec![o.addr.clone()],
                    RedisConnOpt::Cluster(o) => o.addrs.clone(),
                    other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
                };
                prop_assert_eq!(got, want, "{:?}", addrs);
            }
            (Err(e), _) => prop_assert_eq!(e.exit, Exit::Usage),
            (Ok(conn), Err(_)) => {
                // Only `-u` containing "://" is refused before host_port, never accepted.
                return Err(TestCaseError::fail(format!("{addrs:?} accepted as {:?}", conn.opt)));
            }
        }
    }
}

fn default_args() -> ConnArgs {
    ConnArgs {
        namespace: redisq::DEFAULT_NAMESPACE.to_string(),
        ..ConnArgs::default()
    }
}

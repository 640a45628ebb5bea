//! Property tests of the command line: arbitrary argument vectors (built from the real
//! command tree's names and flags plus arbitrary values) never panic; durations round-trip
//! through their format and parse to the sum of their parts. The connection flags have
//! their own in `conn_prop_tests.rs`.

use std::time::Duration;

use clap::FromArgMatches;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;

use crate::error::Exit;
use crate::{Cli, Command, command, duration};

/// The default number of cases, and no `proptest-regressions/` files: a failure found here
/// becomes a named regression test instead.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

/// Every subcommand name and alias, long and short flag and possible value of the command
/// tree, so that generated argument vectors reach deep into it.
fn vocabulary() -> Vec<String> {
    fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
        out.push(cmd.get_name().to_string());
        out.extend(cmd.get_all_aliases().map(str::to_string));
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                out.push(format!("--{long}"));
                out.push(format!("--{long}="));
            }
            out.extend(
                arg.get_all_aliases()
                    .into_iter()
                    .flatten()
                    .map(|a| format!("--{a}")),
            );
            if let Some(short) = arg.get_short() {
                out.push(format!("-{short}"));
            }
            out.extend(
                arg.get_possible_values()
                    .iter()
                    .map(|v| v.get_name().to_string()),
            );
        }
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&command(), &mut out);
    out.sort();
    out.dedup();
    out
}

/// One argument: a word of the command tree, a plausible value, or anything.
fn token(words: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(words),
        2 => select(vec![
            "0", "1", "-1", "65535", "65536", "99999999999999999999", "h:1", "[::1]:7", "[[x]:1",
            "redis://h:1/2", "rediss://", "redis-socket:///tmp/s", "1m30s", "1.5h", "-5s",
            "2026-01-02T15:04:05Z", "soon", "k=v", "=v", "a,b", ",", "", "-", "--", "{x}",
            "pending", "archived", "aggregating",
        ]).prop_map(str::to_string),
        1 => "[ -~]{0,12}",
        1 => vec(any::<char>(), 0..8).prop_map(String::from_iter),
    ]
}

fn argv() -> impl Strategy<Value = Vec<String>> {
    vec(token(vocabulary()), 0..10).prop_map(|mut args| {
        args.insert(0, "redisq".to_string());
        args
    })
}

proptest! {
    #![proptest_config(config())]

    /// Any argument vector gives a command or a clap error (help, version and usage errors
    /// included), never a panic; what clap accepts, the derive layer accepts too.
    #[test]
    fn arbitrary_arguments_never_panic(args in argv()) {
        match command().try_get_matches_from(&args) {
            Ok(matches) => {
                let cli = Cli::from_arg_matches(&matches);
                prop_assert!(cli.is_ok(), "{:?}: {:?}", args, cli.err());
                // `bench` takes only --redis; the others resolve their connection flags.
                if let Ok(cli) = cli
                    && !matches!(cli.command, Command::Bench(_))
                    && let Err(e) = cli.conn.resolve()
                {
                    prop_assert_eq!(e.exit, Exit::Usage, "{:?}: {}", args, e.message);
                }
            }
            Err(e) => {
                let _ = e.render();
                prop_assert!(matches!(e.exit_code(), 0 | 2), "{:?}: {}", args, e);
            }
        }
    }

    /// Any text parses to a duration or an error message; never a panic.
    #[test]
    fn arbitrary_durations_never_panic(text in prop_oneof![
        vec(any::<char>(), 0..24).prop_map(String::from_iter),
        "[-+ ]?[0-9.]{0,45}(ns|us|µs|μs|ms|s|m|h|x|)[0-9.]{0,8}[a-z]{0,2}",
    ]) {
        if let Err(e) = duration::parse(&text) {
            prop_assert!(e.contains("duration"), "{:?}: {}", text, e);
        }
    }

    /// Numbers at the edge of u128 for their unit, with a fraction, parse or fail as too
    /// large; never a panic.
    #[test]
    fn durations_at_the_edge_of_the_range_never_panic(
        unit in select(vec![("ns", 1u128), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000)]),
        below in 0u128..3,
        frac in "[0-9]{0,12}",
        suffix in prop::option::of(select(vec!["1ns", "0s", "999h"])),
    ) {
        let (name, per) = unit;
        let int = u128::MAX / per - below;
        let mut text = format!("{int}.{frac}{name}");
        if let Some(s) = suffix {
            text.push_str(s);
        }
        if let Err(e) = duration::parse(&text) {
            prop_assert!(e.contains("too large"), "{}: {}", text, e);
        }
    }

    /// A duration spelled as a sum of parts parses to that sum (fractions to the
    /// nanosecond, further digits dropped).
    #[test]
    fn durations_parse_to_the_sum_of_their_parts(parts in vec(
        (0u64..1_000_000, prop::option::of("[0-9]{1,14}"), select(vec![
            ("ns", 1u128), ("us", 1_000), ("µs", 1_000), ("μs", 1_000), ("ms", 1_000_000),
            ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
        ])),
        1..5,
    ), plus in any::<bool>()) {
        let mut text = String::from(if plus { "+" } else { "" });
        let mut exact: u128 = 0; // with each fraction truncated to whole nanoseconds
        for (int, frac, (unit, per)) in &parts {
            text.push_str(&int.to_string());
            exact += u128::from(*int) * per;
            if let Some(f) = frac {
                text.push('.');
                text.push_str(f);
                let digits = u32::try_from(f.len()).expect("short");
                let f: u128 = f.parse().expect("digits");
                exact += f * per / 10u128.pow(digits);
            }
            text.push_str(unit);
        }
        let got = duration::parse(&text).map_err(TestCaseError::fail)?.as_nanos();
        // Each fraction digit is scaled by the unit divided by a power of ten, rounded down:
        // at most a few nanoseconds short per part, never more than the exact value.
        prop_assert!(got <= exact && exact - got < 10 * parts.len() as u128, "{}: {} vs {}", text, got, exact);
    }

    /// `format` prints what `parse` reads back exactly, for any duration.
    #[test]
    fn durations_round_trip_through_format(d in prop_oneof![
        (0u64..3, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        select(vec![Duration::ZERO, Duration::MAX, Duration::from_secs(u64::MAX), Duration::new(59, 999_999_999)]),
    ]) {
        let text = duration::format(d);
        prop_assert_eq!(duration::parse(&text), Ok(d), "{}", text);
        // Rounded to the nearest second (half up), saturating at the largest duration.
        let rounded = duration::format_rounded(d);
        let nearest = d.as_secs().saturating_add(u64::from(d.subsec_nanos() >= 500_000_000));
        prop_assert_eq!(duration::parse(&rounded), Ok(Duration::from_secs(nearest)), "{}", rounded);
    }
}

use super::*;

/// A time from RFC 3339 text.
fn t(s: &str) -> SystemTime {
    let dt = chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    UNIX_EPOCH
        + Duration::from_nanos(u64::try_from(dt.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0))
}

fn loc(name: &str) -> Location {
    Location::new(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Checks `next_in(after, location)` for each `(spec, location, after, want)`.
fn check(cases: &[(&str, &str, &str, &str)]) {
    for (spec, zone, after, want) in cases {
        let s = CronSchedule::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let got = s.next_in(t(after), loc(zone));
        assert_eq!(
            got,
            Some(t(want)),
            "{spec:?} in {zone} after {after}: got {:?}",
            got.map(|g| chrono::DateTime::<chrono::Utc>::from(g).to_rfc3339())
        );
    }
}

/// Follows a schedule from `after` and checks the next `want.len()` fire times.
fn chain(spec: &str, zone: &str, after: &str, want: &[&str]) {
    let s = CronSchedule::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let mut at = t(after);
    for w in want {
        let next = s
            .next_in(at, loc(zone))
            .unwrap_or_else(|| panic!("{spec}: no next after {at:?}"));
        assert_eq!(
            next,
            t(w),
            "{spec:?} in {zone}: got {}",
            chrono::DateTime::<chrono::Utc>::from(next).to_rfc3339()
        );
        at = next;
    }
}

#[test]
fn fields_ranges_steps_and_wraps() {
    check(&[
        (
            "*/15 * * * *",
            "UTC",
            "2012-07-09T14:45:00Z",
            "2012-07-09T15:00:00Z",
        ),
        (
            "*/15 * * * *",
            "UTC",
            "2012-07-09T14:59:59Z",
            "2012-07-09T15:00:00Z",
        ),
        (
            "0/15 * * * *",
            "UTC",
            "2012-07-09T14:44:59.9Z",
            "2012-07-09T14:45:00Z",
        ),
        (
            "20-35/15 * * * *",
            "UTC",
            "2012-07-09T15:45:00Z",
            "2012-07-09T16:20:00Z",
        ),
        (
            "*/15 * * * *",
            "UTC",
            "2012-07-09T23:46:00Z",
            "2012-07-10T00:00:00Z",
        ),
        (
            "20-35/15 * * * *",
            "UTC",
            "2012-07-09T23:45:00Z",
            "2012-07-10T00:20:00Z",
        ),
        (
            "1-10/2 * * * *",
            "UTC",
            "2024-01-01T10:08:30Z",
            "2024-01-01T10:09:00Z",
        ),
        (
            "1-10/2 * * * *",
            "UTC",
            "2024-01-01T10:09:00Z",
            "2024-01-01T11:01:00Z",
        ),
        (
            "5/20 * * * *",
            "UTC",
            "2024-01-01T10:46:00Z",
            "2024-01-01T11:05:00Z",
        ),
        (
            "0,30 9-17 * * *",
            "UTC",
            "2024-01-01T17:30:00Z",
            "2024-01-02T09:00:00Z",
        ),
        (
            "0 0 9 Apr-Oct ?",
            "UTC",
            "2012-07-09T23:35:00Z",
            "2012-08-09T00:00:00Z",
        ),
        (
            "0 0 * Feb Mon",
            "UTC",
            "2012-07-09T23:35:00Z",
            "2013-02-04T00:00:00Z",
        ),
        (
            "0 0 * Feb Mon/2",
            "UTC",
            "2012-07-09T23:35:00Z",
            "2013-02-01T00:00:00Z",
        ),
        (
            "* * * * *",
            "UTC",
            "2012-12-31T23:59:45Z",
            "2013-01-01T00:00:00Z",
        ),
        (
            "0 0 29 Feb ?",
            "UTC",
            "2012-07-09T23:35:00Z",
            "2016-02-29T00:00:00Z",
        ),
        (
            "0 12 * JAN-MAR MON-FRI",
            "UTC",
            "2024-03-29T12:00:00Z",
            "2025-01-01T12:00:00Z",
        ),
        (
            "0 12 * jan-mar mon-fri",
            "UTC",
            "2024-03-29T12:00:00Z",
            "2025-01-01T12:00:00Z",
        ),
        (
            "5 4 * * sun",
            "UTC",
            "2024-01-01T00:00:00Z",
            "2024-01-07T04:05:00Z",
        ),
        (
            "0 0 * * 0",
            "UTC",
            "2024-01-01T00:00:00Z",
            "2024-01-07T00:00:00Z",
        ),
        (
            "0 0 * * 6",
            "UTC",
            "2024-01-01T00:00:00Z",
            "2024-01-06T00:00:00Z",
        ),
        (
            "? ? ? ? ?",
            "UTC",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:01:00Z",
        ),
        (
            "0 0 31 * *",
            "UTC",
            "2024-01-31T00:00:00Z",
            "2024-03-31T00:00:00Z",
        ),
    ]);
}

#[test]
fn day_of_month_and_day_of_week_use_the_or_rule_when_both_restricted() {
    // Friday or the 13th.
    chain(
        "0 0 13 * FRI",
        "UTC",
        "2024-01-01T00:00:00Z",
        &[
            "2024-01-05T00:00:00Z",
            "2024-01-12T00:00:00Z",
            "2024-01-13T00:00:00Z",
            "2024-01-19T00:00:00Z",
        ],
    );
    // With a star in one of them, both must match: Fridays only.
    chain(
        "0 0 * * FRI",
        "UTC",
        "2024-01-01T00:00:00Z",
        &["2024-01-05T00:00:00Z", "2024-01-12T00:00:00Z"],
    );
    // `*/5` is restricted (robfig drops the star bit for steps > 1): day 1, 6, … or Monday.
    check(&[(
        "0 0 */5 Apr,Aug,Oct Mon",
        "UTC",
        "2012-07-09T23:35:00Z",
        "2012-08-01T00:00:00Z",
    )]);
}

#[test]
fn descriptors() {
    check(&[
        (
            "@hourly",
            "UTC",
            "2024-01-01T10:20:30Z",
            "2024-01-01T11:00:00Z",
        ),
        (
            "@daily",
            "UTC",
            "2024-01-01T10:00:00Z",
            "2024-01-02T00:00:00Z",
        ),
        (
            "@midnight",
            "UTC",
            "2024-01-01T10:00:00Z",
            "2024-01-02T00:00:00Z",
        ),
        (
            "@weekly",
            "UTC",
            "2024-01-01T10:00:00Z",
            "2024-01-07T00:00:00Z",
        ),
        (
            "@monthly",
            "UTC",
            "2024-01-01T10:00:00Z",
            "2024-02-01T00:00:00Z",
        ),
        (
            "@yearly",
            "UTC",
            "2024-01-01T10:00:00Z",
            "2025-01-01T00:00:00Z",
        ),
        (
            "@annually",
            "UTC",
            "2024-01-01T10:00:00Z",
            "2025-01-01T00:00:00Z",
        ),
        // Descriptors follow the location.
        (
            "@daily",
            "Asia/Tokyo",
            "2024-01-01T10:00:00Z",
            "2024-01-01T15:00:00Z",
        ),
        (
            "CRON_TZ=Asia/Tokyo @daily",
            "UTC",
            "2024-01-01T10:00:00Z",
            "2024-01-01T15:00:00Z",
        ),
    ]);
}

#[test]
fn every_truncates_to_seconds_like_robfig() {
    check(&[
        (
            "@every 90s",
            "UTC",
            "2024-01-01T00:00:00.5Z",
            "2024-01-01T00:01:30Z",
        ),
        (
            "@every 1h30m",
            "UTC",
            "2024-01-01T00:00:00Z",
            "2024-01-01T01:30:00Z",
        ),
        (
            "@every 1.5h",
            "UTC",
            "2024-01-01T00:00:00Z",
            "2024-01-01T01:30:00Z",
        ),
        (
            "@every 500ms",
            "UTC",
            "2024-01-01T00:00:00.7Z",
            "2024-01-01T00:00:01Z",
        ),
        (
            "@every 1.5s",
            "UTC",
            "2024-01-01T00:00:00.2Z",
            "2024-01-01T00:00:01Z",
        ),
        (
            "@every 0s",
            "UTC",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:01Z",
        ),
        (
            "@every 1s",
            "Asia/Tokyo",
            "2024-01-01T00:00:00.999Z",
            "2024-01-01T00:00:01Z",
        ),
    ]);
    let s = CronSchedule::parse("@every 2m30.9s").expect("valid");
    assert_eq!(s.every(), Some(Duration::from_secs(150)));
    assert_eq!(
        CronSchedule::parse("0 * * * *").expect("valid").every(),
        None
    );
}

#[test]
fn time_zone_prefix() {
    check(&[
        (
            "CRON_TZ=Asia/Tokyo 0 9 * * *",
            "UTC",
            "2023-12-31T23:59:59Z",
            "2024-01-01T00:00:00Z",
        ),
        (
            "CRON_TZ=Asia/Tokyo 0 9 * * *",
            "UTC",
            "2024-01-01T00:00:00Z",
            "2024-01-02T00:00:00Z",
        ),
        // The prefix wins over the scheduler's location.
        (
            "TZ=Asia/Tokyo 0 9 * * *",
            "America/New_York",
            "2024-01-01T00:00:00Z",
            "2024-01-02T00:00:00Z",
        ),
        (
            "CRON_TZ=UTC 0 9 * * *",
            "Asia/Tokyo",
            "2024-01-01T00:00:00Z",
            "2024-01-01T09:00:00Z",
        ),
        // Without it, the scheduler's location.
        (
            "0 9 * * *",
            "Asia/Tokyo",
            "2024-01-01T00:00:00Z",
            "2024-01-02T00:00:00Z",
        ),
        (
            "0 9 * * *",
            "America/New_York",
            "2024-01-01T00:00:00Z",
            "2024-01-01T14:00:00Z",
        ),
    ]);
    let s = CronSchedule::parse("CRON_TZ=Asia/Tokyo   0 9 * * *").expect("extra spaces");
    assert_eq!(s.location(), Some(loc("Asia/Tokyo")));
    assert_eq!(s.as_str(), "CRON_TZ=Asia/Tokyo   0 9 * * *");
}

#[test]
fn spring_forward_skips_the_missing_time() {
    // America/New_York, 2024-03-10: 02:00 EST jumps to 03:00 EDT.
    let ny = "America/New_York";
    // 02:30 does not exist that day: robfig fires the next day.
    chain(
        "30 2 * * *",
        ny,
        "2024-03-09T03:00:00-05:00",
        &["2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00"],
    );
    check(&[
        (
            "30 2 * * *",
            ny,
            "2024-03-10T00:00:00-05:00",
            "2024-03-11T02:30:00-04:00",
        ),
        (
            "CRON_TZ=America/New_York 30 2 * * *",
            "UTC",
            "2024-03-10T00:00:00-05:00",
            "2024-03-11T02:30:00-04:00",
        ),
        (
            "0 1 * * *",
            ny,
            "2024-03-10T00:00:00-05:00",
            "2024-03-10T01:00:00-05:00",
        ),
        (
            "0 1 * * *",
            ny,
            "2024-03-10T01:00:00-05:00",
            "2024-03-11T01:00:00-04:00",
        ),
        (
            "0 3 * * *",
            ny,
            "2024-03-10T00:00:00-05:00",
            "2024-03-10T03:00:00-04:00",
        ),
        // Europe/Berlin, 2024-03-31: 02:00 CET jumps to 03:00 CEST.
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2024-03-31T00:00:00+01:00",
            "2024-04-01T02:30:00+02:00",
        ),
    ]);
    // Hourly: every real hour, 02:00 does not exist.
    chain(
        "0 * * * *",
        ny,
        "2024-03-10T00:00:00-05:00",
        &[
            "2024-03-10T01:00:00-05:00",
            "2024-03-10T03:00:00-04:00",
            "2024-03-10T04:00:00-04:00",
        ],
    );
}

#[test]
fn fall_back_fires_the_repeated_time_twice() {
    // America/New_York, 2024-11-03: 02:00 EDT goes back to 01:00 EST.
    let ny = "America/New_York";
    chain(
        "30 1 * * *",
        ny,
        "2024-11-03T00:00:00-04:00",
        &[
            "2024-11-03T01:30:00-04:00",
            "2024-11-03T01:30:00-05:00",
            "2024-11-04T01:30:00-05:00",
        ],
    );
    check(&[
        (
            "0 1 * * *",
            ny,
            "2024-11-03T01:59:00-04:00",
            "2024-11-03T01:00:00-05:00",
        ),
        (
            "0 1 * * *",
            ny,
            "2024-11-03T01:00:00-05:00",
            "2024-11-04T01:00:00-05:00",
        ),
        (
            "30 0 * * *",
            ny,
            "2024-11-03T00:30:00-04:00",
            "2024-11-04T00:30:00-05:00",
        ),
        (
            "0 9 * * *",
            ny,
            "2024-11-02T09:00:00-04:00",
            "2024-11-03T09:00:00-05:00",
        ),
    ]);
    chain(
        "0 * * * *",
        ny,
        "2024-11-03T00:00:00-04:00",
        &[
            "2024-11-03T01:00:00-04:00",
            "2024-11-03T01:00:00-05:00",
            "2024-11-03T02:00:00-05:00",
        ],
    );
}

#[test]
fn impossible_dates_never_fire() {
    let s = CronSchedule::parse("0 0 30 2 *").expect("parses, as in robfig");
    assert_eq!(s.next_after(t("2024-01-01T00:00:00Z")), None);
}

#[test]
fn invalid_specs_are_rejected() {
    let bad = [
        "",
        " ",
        "* * * *",
        "* * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * 32 * *",
        "* * * 0 *",
        "* * * 13 *",
        "* * * * 7",
        "* * * * 0-7",
        "* * * * SUN-7",
        "5-1 * * * *",
        "*/0 * * * *",
        "1-2-3 * * * *",
        "1/2/3 * * * *",
        "a * * * *",
        "-1 * * * *",
        "1- * * * *",
        ", * * * *",
        "* * * FOO *",
        "* * * * MONDAY",
        "* * * JAN *x",
        "@every",
        "@every ",
        "@every 5",
        "@every 5x",
        "@every abc",
        "@every 1h 30m",
        "@daily ",
        "@reboot",
        "@yearly x",
        "CRON_TZ=Mars/Olympus 0 9 * * *",
        "TZ=Asia/Tokyo",
        "CRON_TZ=Local * * * * *",
        "CRON_TZ=Asia/Tokyo 0 9 * *",
    ];
    for spec in bad {
        let err = CronSchedule::parse(spec).expect_err(spec);
        assert!(err.is_invalid_option(), "{spec:?}: {err}");
        assert!(
            err.to_string().contains("invalid cron spec"),
            "{spec:?}: {err}"
        );
    }
    let good = [
        "0 9 * * 1-5",
        "*/5 * * * *",
        "0 0 1,15 * *",
        "+5 * * * *",
        "0 12 * * SUN,sat",
        "0 0 * DEC ?",
        "CRON_TZ= 0 9 * * *",
        "TZ=UTC @hourly",
        "@every 1h30m",
        "@every 500ms",
        "@every -5s",
    ];
    for spec in good {
        CronSchedule::parse(spec).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
    }
}

#[test]
fn go_durations_parse() {
    let cases: [(&str, i128); 14] = [
        ("0", 0),
        ("90s", 90_000_000_000),
        ("1h30m", 5_400_000_000_000),
        ("1.5h", 5_400_000_000_000),
        ("500ms", 500_000_000),
        ("1us", 1_000),
        ("1µs", 1_000),
        ("1μs", 1_000),
        ("7ns", 7),
        (".5s", 500_000_000),
        ("5.s", 5_000_000_000),
        ("-1.5s", -1_500_000_000),
        ("+2m", 120_000_000_000),
        ("1h2m3.004005006s", 3_723_004_005_006),
    ];
    for (text, want) in cases {
        assert_eq!(parse_go_duration(text), Ok(want), "{text}");
    }
    for bad in [
        "",
        "1",
        "-",
        ".s",
        "1hh",
        "1 h",
        "s",
        "9999999999999999999h",
    ] {
        assert!(parse_go_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn locations() {
    assert_eq!(Location::new("").expect("empty"), Location::UTC);
    assert_eq!(Location::new("UTC").expect("utc").name(), "UTC");
    assert_eq!(
        "America/New_York"
            .parse::<Location>()
            .expect("ny")
            .to_string(),
        "America/New_York"
    );
    assert!(
        Location::new("Local")
            .expect_err("local")
            .is_invalid_option()
    );
    assert!(
        Location::new("Nowhere/City")
            .expect_err("unknown")
            .is_invalid_option()
    );
}

#[test]
fn go_date_resolves_gaps_and_overlaps_like_go() {
    let ny = loc("America/New_York");
    // 02:30 on the spring-forward day does not exist: Go gives 01:30 EST (06:30Z).
    assert_eq!(ny.date(2024, 3, 10, 2, 30, 0), 1_710_052_200);
    // 01:30 on the fall-back day exists twice: Go takes the first (EDT, 05:30Z).
    assert_eq!(ny.date(2024, 11, 3, 1, 30, 0), 1_730_611_800);
    // Overflowing fields roll over: 2024-01-32 is 2024-02-01; month 13 is January.
    let utc = Location::UTC;
    assert_eq!(
        utc.date(2024, 1, 32, 0, 0, 0),
        utc.date(2024, 2, 1, 0, 0, 0)
    );
    assert_eq!(
        utc.date(2023, 13, 1, 0, 0, 0),
        utc.date(2024, 1, 1, 0, 0, 0)
    );
    // Jan 31 plus a month is March 2 in a leap year (Go's AddDate normalisation).
    let jan31 = utc.date(2024, 1, 31, 0, 0, 0);
    assert_eq!(utc.add_date(jan31, 1, 0), utc.date(2024, 3, 2, 0, 0, 0));
}

#[test]
fn civil_dates_round_trip() {
    for days in [-800_000i64, -1, 0, 1, 59, 365, 11_016, 19_723, 2_932_896] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
    }
    assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    assert_eq!(Location::UTC.fields(1_704_067_200).weekday, 1); // 2024-01-01, Monday
}

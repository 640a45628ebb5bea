//! Property tests of cron specs: arbitrary text never panics; generated specs parse to the
//! values they spell; next fire times are strictly later, match the spec's fields, are stable
//! and are the earliest matching time (checked against a brute-force search over wall-clock
//! times done with chrono-tz, independently of this module's date arithmetic), also around
//! DST changes; `@every` adds whole seconds; Go durations round-trip through their format.

use chrono::{Datelike, NaiveDate, TimeZone, Timelike, Utc};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;

use super::*;
use crate::core::time::go_duration;

/// The default number of cases, and no `proptest-regressions/` files: a failure found here
/// becomes a named regression test instead.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// A model of a spec: the values each field allows, computed by the test

/// One field of a generated spec: its text and the values it allows.
#[derive(Clone)]
struct FieldModel {
    text: String,
    values: Vec<bool>,
    /// Given as `*` or `?` without a step above 1 (robfig's star bit).
    star: bool,
}

impl fmt::Debug for FieldModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

/// A generated five-field spec.
#[derive(Clone, Debug)]
struct SpecModel {
    minute: FieldModel,
    hour: FieldModel,
    dom: FieldModel,
    month: FieldModel,
    dow: FieldModel,
}

impl SpecModel {
    fn text(&self, separators: &[&str]) -> String {
        let fields = [
            &self.minute.text,
            &self.hour.text,
            &self.dom.text,
            &self.month.text,
            &self.dow.text,
        ];
        let mut out = String::new();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push_str(separators.get(i - 1).copied().unwrap_or(" "));
            }
            out.push_str(f);
        }
        out
    }

    /// Whether a wall-clock time matches (second 0 is checked by the caller).
    fn matches(&self, month: u32, day: u32, weekday: u32, hour: u32, minute: u32) -> bool {
        let dom = self.dom.values[day as usize];
        let dow = self.dow.values[weekday as usize];
        let day_ok = if self.dom.star || self.dow.star {
            dom && dow
        } else {
            dom || dow
        };
        self.month.values[month as usize]
            && day_ok
            && self.hour.values[hour as usize]
            && self.minute.values[minute as usize]
    }
}

/// A value of a field as written: a number, or a name in a random letter case.
fn value_text(v: u32, names: &'static [(&'static str, u32)]) -> BoxedStrategy<String> {
    match names.iter().find(|(_, n)| *n == v) {
        Some((name, _)) => prop_oneof![
            Just(v.to_string()),
            vec(any::<bool>(), 3).prop_map(move |upper| {
                name.chars()
                    .zip(upper)
                    .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                    .collect()
            }),
        ]
        .boxed(),
        None => Just(v.to_string()).boxed(),
    }
}

/// One comma-separated item of a field: `*`, `?`, `n`, `a-b`, each optionally with `/step`.
fn item(b: Bounds) -> impl Strategy<Value = FieldModel> {
    let (min, max) = (b.min, b.max);
    let range = (min..=max, min..=max).prop_map(|(x, y)| (x.min(y), x.max(y)));
    // 0: star, 1: single value, 2: range; a step of 0 means none.
    (
        0u8..3,
        range,
        prop_oneof![Just(0u32), 1u32..8, 1u32..=max + 2],
    )
        .prop_flat_map(move |(form, (lo, hi), step)| {
            let star_char = select(vec!["*", "?"]);
            let lo_text = value_text(lo, b.names);
            let hi_text = value_text(hi, b.names);
            (Just((form, lo, hi, step)), star_char, lo_text, hi_text)
        })
        .prop_map(move |((form, lo, hi, step), star_char, lo_text, hi_text)| {
            let (text, from, to, star) = match form {
                0 => (star_char.to_string(), min, max, step <= 1),
                1 if step > 0 => (lo_text, lo, max, false), // `a/n` means `a-max/n`
                1 => (lo_text, lo, lo, false),
                _ => (format!("{lo_text}-{hi_text}"), lo, hi, false),
            };
            let text = if step > 0 {
                format!("{text}/{step}")
            } else {
                text
            };
            let mut values = vec![false; 64];
            let mut v = from;
            while v <= to {
                values[v as usize] = true;
                v += step.max(1);
            }
            FieldModel { text, values, star }
        })
}

/// A field: one to three items, joined with commas.
fn field(b: Bounds) -> impl Strategy<Value = FieldModel> {
    vec(item(b), 1..4).prop_map(|items| {
        let mut out = FieldModel {
            text: String::new(),
            values: vec![false; 64],
            star: false,
        };
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                out.text.push(',');
            }
            out.text.push_str(&it.text);
            for (o, v) in out.values.iter_mut().zip(&it.values) {
                *o |= *v;
            }
            out.star |= it.star;
        }
        out
    })
}

fn spec_model() -> impl Strategy<Value = SpecModel> {
    (
        field(MINUTES),
        field(HOURS),
        field(DOM),
        field(MONTHS),
        field(DOW),
    )
        .prop_map(|(minute, hour, dom, month, dow)| SpecModel {
            minute,
            hour,
            dom,
            month,
            dow,
        })
}

/// Specs that fire often enough for the brute-force search to stay quick, with every day
/// allowed (the interesting part is the clock around DST changes).
fn frequent_spec_model() -> impl Strategy<Value = SpecModel> {
    let every_day = |b: Bounds| {
        Just(FieldModel {
            text: "*".into(),
            values: (0..64).map(|v| v >= b.min && v <= b.max).collect(),
            star: true,
        })
    };
    (
        field(MINUTES),
        field(HOURS),
        every_day(DOM),
        every_day(MONTHS),
        every_day(DOW),
    )
        .prop_map(|(minute, hour, dom, month, dow)| SpecModel {
            minute,
            hour,
            dom,
            month,
            dow,
        })
}

/// A number for a field: small, near u32's and i64's ends, or anything in between.
fn number() -> impl Strategy<Value = i128> {
    prop_oneof![
        4 => 0i128..70,
        1 => -3i128..0,
        1 => any::<u32>().prop_map(i128::from),
        1 => any::<i64>().prop_map(i128::from),
        1 => select(vec![
            i128::from(u32::MAX),
            i128::from(u32::MAX) - 1,
            i128::from(u32::MAX) + 1,
            i128::from(i64::MAX),
            i128::from(i64::MAX) + 1,
        ]),
    ]
}

/// Whitespace between the fields.
fn separators() -> impl Strategy<Value = Vec<&'static str>> {
    vec(select(vec![" ", "  ", "\t", " \t "]), 4)
}

/// Zones with DST (north and south), half-hour and 45-minute offsets, a 30-minute DST shift,
/// DST changes at midnight, and a zone that skipped a whole day.
const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Europe/London",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "America/Havana",
    "America/Santiago",
    "Asia/Beirut",
    "Pacific/Apia",
    "Africa/Casablanca",
];

fn zone() -> impl Strategy<Value = Location> {
    select(ZONES).prop_map(|z| Location::new(z).expect("known zone"))
}

/// A reference time from 1970 to 2100.
fn unix_time() -> impl Strategy<Value = i64> {
    0i64..4_102_444_800
}

fn system_time(secs: i64, nanos: u32) -> SystemTime {
    from_unix(secs).expect("in range") + Duration::from_nanos(u64::from(nanos))
}

fn unix_of(t: SystemTime) -> i64 {
    split(t).0
}

// ---------------------------------------------------------------------------------------------
// The reference: a brute-force search over wall-clock times with chrono-tz

/// The wall-clock fields of a unix time in `tz`: (month, day, weekday, hour, minute, second).
fn wall(tz: Tz, unix: i64) -> (u32, u32, u32, u32, u32, u32) {
    let t = tz
        .timestamp_opt(unix, 0)
        .single()
        .expect("unambiguous instant");
    (
        t.month(),
        t.day(),
        t.weekday().num_days_from_sunday(),
        t.hour(),
        t.minute(),
        t.second(),
    )
}

/// The first instant after `after` (unix seconds) whose wall-clock time in `tz` matches the
/// spec, searching local dates up to five years after `after`'s local year (robfig's limit).
fn reference_next(spec: &SpecModel, after: i64, tz: Tz) -> Option<i64> {
    let start = after + 1;
    let local = tz.timestamp_opt(start, 0).single()?.naive_local().date();
    let year_limit = local.year() + 5;
    let mut day = local.pred_opt()?;
    let mut best: Option<(i64, NaiveDate)> = None;
    while day.year() <= year_limit {
        if let Some((_, found_day)) = best
            && day > found_day.succ_opt()?
        {
            break;
        }
        if day_allowed(spec, day) {
            for hour in (0..24).filter(|h| spec.hour.values[*h as usize]) {
                for minute in (0..60).filter(|m| spec.minute.values[*m as usize]) {
                    let naive = day.and_hms_opt(hour, minute, 0)?;
                    // A skipped time gives nothing, a repeated one both instants.
                    let local = tz.from_local_datetime(&naive);
                    for instant in local.earliest().into_iter().chain(local.latest()) {
                        let ts = instant.timestamp();
                        if ts >= start && best.is_none_or(|(b, _)| ts < b) {
                            best = Some((ts, day));
                        }
                    }
                }
            }
        }
        day = day.succ_opt()?;
    }
    best.map(|(ts, _)| ts)
}

fn day_allowed(spec: &SpecModel, day: NaiveDate) -> bool {
    let weekday = day.weekday().num_days_from_sunday();
    let dom = spec.dom.values[day.day() as usize];
    let dow = spec.dow.values[weekday as usize];
    let day_ok = if spec.dom.star || spec.dow.star {
        dom && dow
    } else {
        dom || dow
    };
    spec.month.values[day.month() as usize] && day_ok
}

/// The UTC offset of `tz` at a unix time, in seconds.
fn offset(tz: Tz, unix: i64) -> i32 {
    let utc = chrono::DateTime::from_timestamp(unix, 0).expect("in range");
    tz.offset_from_utc_datetime(&utc.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The instants in `from..to` at which the UTC offset of `tz` changes (offset changes less
/// than an hour apart may be missed, which no zone has).
fn transitions(tz: Tz, from: i64, to: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        let next = t + 3600;
        if offset(tz, t) != offset(tz, next) {
            // The change happens in (t, next]: find its second.
            let (mut lo, mut hi) = (t, next);
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if offset(tz, mid) == offset(tz, t) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            out.push(hi);
        }
        t = next;
    }
    out
}

/// Whether the offset change at `at` is one robfig's algorithm does not handle exactly: a
/// shift by other than whole hours (Australia/Lord_Howe's 30 minutes), a change at other than
/// a whole hour of local time (Pacific/Chatham's 02:45), or a change at midnight (Asia/Beirut,
/// America/Havana, Pacific/Apia's skipped day). Around those, its hour and day stepping can
/// step over matching times; redisq reproduces that.
fn is_inexact_change(tz: Tz, at: i64) -> bool {
    let (old, new) = (i64::from(offset(tz, at - 1)), i64::from(offset(tz, at)));
    let hour_of = |local: i64| local.rem_euclid(86_400) / 3600;
    (new - old) % 3600 != 0
        || (at + old) % 3600 != 0
        || hour_of(at + old) == 0
        || hour_of(at + new) == 0
}

/// A DST change of a random zone in a random year, and a time within a day and a half of it.
fn near_transition() -> impl Strategy<Value = (Location, i64)> {
    (
        zone(),
        1990i64..2060,
        any::<prop::sample::Index>(),
        -129_600i64..129_600,
    )
        .prop_filter_map("zone has no DST that year", |(loc, year, pick, delta)| {
            // 1 January of `year`, give or take a day.
            let start = (year - 1970) * 31_556_952;
            let all = transitions(loc.0, start, start + 366 * 86_400);
            (!all.is_empty()).then(|| (loc, all[pick.index(all.len())] + delta))
        })
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Checks everything `next_in` promises for a five-field spec at `after` in `loc`.
fn check_next(
    spec: &SpecModel,
    text: &str,
    after: SystemTime,
    loc: Location,
) -> Result<(), TestCaseError> {
    let schedule = CronSchedule::parse(text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let next = schedule.next_in(after, loc);
    let after_secs = unix_of(after);
    let got = next.map(unix_of);
    let want = reference_next(spec, after_secs, loc.0);
    if got != want {
        // Only robfig's known steps over matching times near an inexact offset change are
        // allowed: later than the first matching time, never earlier.
        let end = got.max(want).unwrap_or(after_secs) + 86_400;
        let inexact = transitions(loc.0, after_secs - 31 * 86_400, end)
            .into_iter()
            .any(|at| is_inexact_change(loc.0, at));
        prop_assert!(
            inexact && want.is_some() && got.is_none_or(|g| Some(g) > want),
            "{:?} in {} after {}: got {:?}, the first matching time is {:?}",
            text,
            loc,
            after_secs,
            got,
            want
        );
    }
    let Some(next) = next else { return Ok(()) };
    prop_assert!(next > after, "not after the reference time");
    let n = unix_of(next);
    prop_assert_eq!(
        next,
        from_unix(n).expect("whole second"),
        "not a whole second"
    );
    let (month, day, weekday, hour, minute, second) = wall(loc.0, n);
    prop_assert_eq!(second, 0);
    prop_assert!(
        spec.matches(month, day, weekday, hour, minute),
        "{:?} in {}: {} does not match",
        text,
        loc,
        n
    );
    // Stable: asking again from just before the fire time gives the same time.
    prop_assert_eq!(
        schedule.next_in(from_unix(n - 1).expect("in range"), loc),
        Some(next)
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Any text parses or fails with an invalid-option error.
    #[test]
    fn arbitrary_text_never_panics(spec in prop_oneof![
        vec(any::<char>(), 0..40).prop_map(String::from_iter),
        vec(
            prop_oneof![
                6 => select("0123456789*/,-? @".chars().collect::<Vec<_>>()),
                1 => select(vec!['M', 'O', 'N', 'j', 'a', 'n', '+', '\t', 'é']),
            ],
            0..30,
        ).prop_map(String::from_iter),
        (select(vec!["CRON_TZ=", "TZ=", "@every ", "@", "CRON_TZ=America/New_York "]), "[ -~]{0,24}")
            .prop_map(|(a, b)| format!("{a}{b}")),
        (select(vec!["@every ", "@every -", "@every ."]), "[0-9.]{0,30}[a-zµ]{0,3}[0-9.]{0,20}")
            .prop_map(|(a, b)| format!("{a}{b}")),
    ]) {
        match CronSchedule::parse(&spec) {
            Ok(s) => {
                prop_assert_eq!(s.as_str(), spec.as_str());
                let _ = s.next_in(UNIX_EPOCH + Duration::from_secs(1_700_000_000), Location::UTC);
            }
            Err(e) => prop_assert!(e.is_invalid_option(), "{:?}: {:?}", spec, e),
        }
    }

    /// A generated spec parses to exactly the values the model allows, whatever the
    /// whitespace between fields and with or without a zone prefix.
    #[test]
    fn generated_specs_parse_to_their_values(
        spec in spec_model(),
        seps in separators(),
        prefix in prop::option::of((select(vec!["CRON_TZ=", "TZ="]), select(ZONES), select(vec![" ", "   "]))),
    ) {
        let body = spec.text(&seps);
        let text = match prefix {
            Some((key, zone, space)) => format!("{key}{zone}{space}{body}"),
            None => body,
        };
        let parsed = CronSchedule::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Kind::Spec(s) = parsed.kind else {
            return Err(TestCaseError::fail("not a five-field spec"));
        };
        let check = |bits: u64, m: &FieldModel| {
            let values: Vec<bool> = (0..64).map(|i| i < 63 && bits & (1 << i) != 0).collect();
            values == m.values && (bits & STAR_BIT != 0) == m.star
        };
        prop_assert!(check(s.minute, &spec.minute), "minute {:?}", spec.minute.text);
        prop_assert!(check(s.hour, &spec.hour), "hour {:?}", spec.hour.text);
        prop_assert!(check(s.dom, &spec.dom), "dom {:?}", spec.dom.text);
        prop_assert!(check(s.month, &spec.month), "month {:?}", spec.month.text);
        prop_assert!(check(s.dow, &spec.dow), "dow {:?}", spec.dow.text);
        prop_assert_eq!(s.location.map(|l| l.name()), prefix.map(|(_, z, _)| z));
    }

    /// Fields with any numbers (negative, huge, beyond u32 and i64) parse exactly when the
    /// range is inside the field's bounds and the step is positive, to the values the
    /// numbers give; never a panic.
    #[test]
    fn any_numbers_in_a_field_parse_or_fail_cleanly(
        field in 0usize..5,
        form in 0u8..5,
        a in number(),
        b in number(),
        step in number(),
    ) {
        let bounds = [MINUTES, HOURS, DOM, MONTHS, DOW][field];
        let (min, max) = (i128::from(bounds.min), i128::from(bounds.max));
        // (text, start, end, step, star); start and end as written, the step 1 when absent.
        let (text, start, end, step, star) = match form {
            0 => (a.to_string(), a, a, 1, false),
            1 => (format!("{a}-{b}"), a, b, 1, false),
            2 => (format!("{a}/{step}"), a, max, step, false),
            3 => (format!("{a}-{b}/{step}"), a, b, step, false),
            _ => (format!("*/{step}"), min, max, step, step <= 1),
        };
        let mut fields = ["*"; 5];
        fields[field] = &text;
        let spec = fields.join(" ");
        let parsed = CronSchedule::parse(&spec);
        let valid = min <= start && start <= end && end <= max && step >= 1;
        // `parse_int` refuses negative numbers and those beyond i64.
        let used: &[i128] = match form {
            0 => &[a],
            1 => &[a, b],
            2 => &[a, step],
            3 => &[a, b, step],
            _ => &[step],
        };
        let parsable = used.iter().all(|n| (0..=i128::from(i64::MAX)).contains(n));
        match parsed {
            Ok(s) => {
                prop_assert!(valid && parsable, "{:?} accepted", spec);
                let Kind::Spec(s) = s.kind else {
                    return Err(TestCaseError::fail("not a five-field spec"));
                };
                let bits = [s.minute, s.hour, s.dom, s.month, s.dow][field];
                let mut want = 0u64;
                let mut v = start;
                while v <= end {
                    want |= 1 << v;
                    v += step;
                }
                if star {
                    want |= STAR_BIT;
                }
                prop_assert_eq!(bits, want, "{:?}", spec);
            }
            Err(e) => {
                prop_assert!(e.is_invalid_option());
                prop_assert!(!(valid && parsable), "{:?} refused: {}", spec, e);
            }
        }
    }

    /// The next fire time of any spec, in any zone, at any time from 1970 to 2100: strictly
    /// later, a whole second, matching every field, stable, and the earliest such time.
    #[test]
    fn next_fire_time_is_the_first_matching_time(
        spec in spec_model(),
        loc in zone(),
        after in unix_time(),
        nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
    ) {
        check_next(&spec, &spec.text(&[]), system_time(after, nanos), loc)?;
    }

    /// The same around DST changes, with specs that fire at least daily.
    #[test]
    fn next_fire_time_around_dst_changes(
        spec in frequent_spec_model(),
        (loc, after) in near_transition(),
    ) {
        check_next(&spec, &spec.text(&[]), system_time(after, 0), loc)?;
    }

    /// A `CRON_TZ=` prefix wins over the location passed in.
    #[test]
    fn zone_prefix_overrides_the_location(
        spec in frequent_spec_model(),
        prefix_zone in zone(),
        other in zone(),
        after in unix_time(),
    ) {
        let body = spec.text(&[]);
        let with_prefix = CronSchedule::parse(&format!("CRON_TZ={} {body}", prefix_zone.name()))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let plain = CronSchedule::parse(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let t = system_time(after, 0);
        prop_assert_eq!(with_prefix.next_in(t, other), plain.next_in(t, prefix_zone));
    }

    /// `@every d` fires the whole seconds of `d` (at least one) after the reference second.
    #[test]
    fn every_adds_whole_seconds(
        nanos in prop_oneof![0u64..3_000_000_000, any::<u64>().prop_map(|n| n >> 1)],
        after in unix_time(),
        sub in 0u32..1_000_000_000,
    ) {
        let d = Duration::from_nanos(nanos);
        let schedule = CronSchedule::parse(&format!("@every {}", go_duration(d)))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let period = d.as_secs().max(1);
        prop_assert_eq!(schedule.every(), Some(Duration::from_secs(period)));
        let next = schedule.next_in(system_time(after, sub), Location::UTC);
        prop_assert_eq!(next, from_unix(after + i64::try_from(period).expect("small")));
    }

    /// Go durations round-trip through Go's format (`time.Duration.String()`).
    #[test]
    fn go_durations_round_trip(nanos in prop_oneof![
        0u64..2_000_000,
        any::<u64>().prop_map(|n| n >> 1),
        select(vec![1u64, 999, 1_000, 999_999, 1_000_000, 59_999_999_999, 3_600_000_000_000, i64::MAX as u64]),
    ], negative in any::<bool>()) {
        let text = go_duration(Duration::from_nanos(nanos));
        let text = if negative { format!("-{text}") } else { text };
        let want = if negative { -i128::from(nanos) } else { i128::from(nanos) };
        prop_assert_eq!(parse_go_duration(&text), Ok(want), "{}", text);
    }

    /// Durations spelled as a sum of components parse to that sum, or fail when it is out of
    /// range; never panic.
    #[test]
    fn go_duration_components_add_up(parts in vec(
        (0u64..100_000, prop::option::of("[0-9]{1,12}"), select(vec![
            ("ns", 1u128), ("us", 1_000), ("µs", 1_000), ("μs", 1_000), ("ms", 1_000_000),
            ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
        ])),
        1..5,
    )) {
        let mut text = String::new();
        let mut total: f64 = 0.0;
        let mut exact: u128 = 0;
        for (int, frac, (unit, per)) in &parts {
            text.push_str(&int.to_string());
            if let Some(f) = frac {
                text.push('.');
                text.push_str(f);
                let scale = 10f64.powi(i32::try_from(f.len()).expect("short"));
                total += f.parse::<f64>().expect("digits") / scale * *per as f64;
            }
            text.push_str(unit);
            exact += u128::from(*int) * per;
        }
        let got = parse_go_duration(&text);
        let got = got.map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        // The fractions are computed in float64, as Go does: allow a nanosecond per part.
        let want = exact as f64 + total;
        prop_assert!((got as f64 - want).abs() <= parts.len() as f64 + want * 1e-15, "{}: {} vs {}", text, got, want);
    }

    /// Any reference time, also far outside the usual range, gives a time or `None`, never
    /// a panic.
    #[test]
    fn any_reference_time_is_safe(
        spec in spec_model(),
        loc in zone(),
        secs in prop_oneof![any::<i64>(), select(vec![i64::MIN, i64::MAX, i64::MAX - 1, -1])],
    ) {
        let schedule = CronSchedule::parse(&spec.text(&[])).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(t) = from_unix(secs) {
            if let Some(next) = schedule.next_in(t, loc) {
                prop_assert!(next > t);
            }
            let every = CronSchedule::parse("@every 1h").expect("valid");
            if let Some(next) = every.next_in(t, loc) {
                prop_assert!(next > t);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions found by the properties, and robfig's behaviour they pinned down

/// `any_reference_time_is_safe`: the date arithmetic overflowed i64 (a panic in debug
/// builds) for a reference time near `i64::MAX` seconds.
#[test]
fn reference_time_near_the_end_of_time_gives_none() {
    let every_minute = CronSchedule::parse("* * * * *").expect("valid");
    let late = from_unix(i64::MAX - 1).expect("representable");
    assert_eq!(every_minute.next_in(late, Location::UTC), None);
    let early = from_unix(i64::MIN + 1).expect("representable");
    assert_eq!(every_minute.next_in(early, loc("Europe/Berlin")), None);
    // The edge of chrono's calendar still works.
    let edge = chrono::DateTime::<Utc>::MAX_UTC.timestamp() - 3600;
    let _ = every_minute.next_in(from_unix(edge).expect("representable"), Location::UTC);
}

fn loc(name: &str) -> Location {
    Location::new(name).expect("known zone")
}

/// Found by `next_fire_time_is_the_first_matching_time`: Lord Howe Island falls back 30
/// minutes (02:00 → 01:30) on 2013-04-07. robfig's algorithm steps real hours from midnight,
/// reaching 05:30 instead of 05:00, so the first fire that day is 05:38 and 05:00 is skipped.
/// redisq reproduces robfig; this pins it.
#[test]
fn lord_howe_half_hour_fall_back_skips_like_robfig() {
    let s = CronSchedule::parse("?/38 5-12 * * *").expect("valid");
    let lh = loc("Australia/Lord_Howe");
    let after = 1_365_222_114; // 2013-04-06T15:21:54+11:00
    let next = s
        .next_in(from_unix(after).expect("in range"), lh)
        .map(unix_of);
    assert_eq!(next, Some(1_365_275_280)); // 2013-04-07T05:38:00+10:30
    let first_matching = reference_next_text("?/38 5-12 * * *", after, lh);
    assert_eq!(first_matching, Some(1_365_273_000)); // 2013-04-07T05:00:00+10:30
    // The example of the `CronSchedule` docs.
    let every_minute_at_5 = CronSchedule::parse("* 5 * * *").expect("valid");
    let next = every_minute_at_5.next_in(from_unix(after).expect("in range"), lh);
    assert_eq!(next.map(unix_of), Some(1_365_274_800)); // 2013-04-07T05:30:00+10:30
}

/// Found by `next_fire_time_is_the_first_matching_time`: Beirut springs forward at midnight
/// (00:00 → 01:00). robfig's "midnight may not exist" correction moves 01:00 back an hour into
/// the previous day, whose next day then skips the change day entirely.
#[test]
fn beirut_midnight_spring_forward_skips_the_day_like_robfig() {
    let s = CronSchedule::parse("* 11,17 * * 0-3").expect("valid");
    let beirut = loc("Asia/Beirut");
    let after = 3_068_332_974; // 2067-03-26T04:42:54+02:00, a Saturday
    let next = s
        .next_in(from_unix(after).expect("in range"), beirut)
        .map(unix_of);
    assert_eq!(next, Some(3_068_524_800)); // 2067-03-28T11:00:00+03:00, Monday
    let first_matching = reference_next_text("* 11,17 * * 0-3", after, beirut);
    assert_eq!(first_matching, Some(3_068_438_400)); // 2067-03-27T11:00:00+03:00, Sunday
}

/// Found by `next_fire_time_around_dst_changes`: the Chatham Islands spring forward at 02:45
/// (to 03:45). Stepping real hours from 02:00 lands on 04:00, so the minutes 03:45 to 03:59
/// of that day never fire, as with robfig.
#[test]
fn chatham_quarter_to_three_spring_forward_skips_like_robfig() {
    let s = CronSchedule::parse("* 3 * * *").expect("valid");
    let chatham = loc("Pacific/Chatham");
    let after = 1_664_010_564; // 2022-09-24T21:54:24+12:45
    let next = s
        .next_in(from_unix(after).expect("in range"), chatham)
        .map(unix_of);
    assert_eq!(next, Some(1_664_111_700)); // 2022-09-26T03:00:00+13:45
    let first_matching = reference_next_text("* 3 * * *", after, chatham);
    assert_eq!(first_matching, Some(1_664_028_000)); // 2022-09-25T03:45:00+13:45
}

/// The brute-force reference for a spec given as text (fields `*`, lists and ranges only).
fn reference_next_text(text: &str, after: i64, loc: Location) -> Option<i64> {
    let Kind::Spec(s) = CronSchedule::parse(text).expect("valid").kind else {
        panic!("not a five-field spec");
    };
    let model = |bits: u64| FieldModel {
        text: String::new(),
        values: (0..64).map(|i| i < 63 && bits & (1 << i) != 0).collect(),
        star: bits & STAR_BIT != 0,
    };
    let spec = SpecModel {
        minute: model(s.minute),
        hour: model(s.hour),
        dom: model(s.dom),
        month: model(s.month),
        dow: model(s.dow),
    };
    reference_next(&spec, after, loc.0)
}

/// Found by `any_numbers_in_a_field_parse_or_fail_cleanly`: a step near `u32::MAX` overflowed
/// the bit loop (a panic in debug builds, a wrong or endless loop in release builds).
#[test]
fn huge_step_sets_only_the_start() {
    for (spec, minute) in [
        ("1/4294967295 * * * *", 1u64 << 1),
        ("5/4294967290 * * * *", 1 << 5),
        ("1-5/4294967295 * * * *", 1 << 1),
        ("2/99999999999 * * * *", 1 << 2),
    ] {
        let Kind::Spec(s) = CronSchedule::parse(spec).expect(spec).kind else {
            panic!("{spec}: not a five-field spec");
        };
        assert_eq!(s.minute, minute, "{spec}");
    }
}

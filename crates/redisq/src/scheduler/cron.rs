//! Cron specs as asynq accepts them (robfig/cron v3's standard parser), and their next fire
//! times, computed the way robfig/cron computes them.
//!
//! See [`CronSchedule`] for the syntax and the daylight-saving rules.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

use crate::error::{Error, Result};

/// A time zone for cron schedules: an IANA zone such as `America/New_York` (asynq's
/// `time.Location`). The default is UTC.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location(Tz);

impl Location {
    /// Coordinated Universal Time, the default.
    pub const UTC: Location = Location(Tz::UTC);

    /// Looks up an IANA zone name (`UTC` and the empty name mean UTC).
    ///
    /// Fails with an invalid-option error for unknown names and for `Local`, which would
    /// make fire times depend on the machine's settings.
    pub fn new(name: &str) -> Result<Location> {
        match name {
            "" | "UTC" => Ok(Location::UTC),
            "Local" => Err(Error::invalid_option(
                "time zone \"Local\" is not supported: give an IANA zone name such as \"Europe/Berlin\"",
            )),
            _ => name.parse::<Tz>().map(Location).map_err(|_| {
                Error::invalid_option(format!("unknown time zone {name:?}: use an IANA zone name"))
            }),
        }
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Seconds east of UTC at a unix time.
    fn offset_at(self, unix: i64) -> i64 {
        match chrono::DateTime::from_timestamp(unix, 0) {
            Some(dt) => i64::from(
                self.0
                    .offset_from_utc_datetime(&dt.naive_utc())
                    .fix()
                    .local_minus_utc(),
            ),
            None => 0,
        }
    }

    /// The wall-clock fields of a unix time in this zone.
    fn fields(self, unix: i64) -> Fields {
        let local = unix + self.offset_at(unix);
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Fields {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: (secs / 60) % 60,
            second: secs % 60,
            // 1970-01-01 was a Thursday (4).
            weekday: (days + 4).rem_euclid(7),
        }
    }

    /// Go's `time.Date(year, month, day, hour, min, sec, 0, loc)` as a unix time: fields out of
    /// range overflow into the next larger one, and a wall-clock time that does not exist or
    /// exists twice is resolved exactly as Go resolves it.
    fn date(self, year: i64, month: i64, day: i64, hour: i64, min: i64, sec: i64) -> i64 {
        let m0 = month - 1;
        let year = year + m0.div_euclid(12);
        let month = m0.rem_euclid(12) + 1;
        let days = days_from_civil(year, month, 1) + day - 1;
        let local = days * 86_400 + hour * 3600 + min * 60 + sec;
        // Go looks up the offset in effect at `local` read as UTC; if the UTC time that
        // offset gives lies outside that zone period, it uses the offset at that UTC time.
        let first = self.offset_at(local);
        if first == 0 {
            return local;
        }
        local - self.offset_at(local - first)
    }

    /// Go's `t.AddDate(0, months, days)` in this zone.
    fn add_date(self, unix: i64, months: i64, days: i64) -> i64 {
        let f = self.fields(unix);
        self.date(
            f.year,
            f.month + months,
            f.day + days,
            f.hour,
            f.minute,
            f.second,
        )
    }
}

impl Default for Location {
    fn default() -> Self {
        Location::UTC
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({})", self.name())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Location {
    type Err = Error;

    fn from_str(s: &str) -> Result<Location> {
        Location::new(s)
    }
}

/// Wall-clock fields of an instant in a zone.
#[derive(Clone, Copy, Debug)]
struct Fields {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    weekday: i64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Set in a field's bits when it was given as `*` or `?` (robfig's `starBit`).
const STAR_BIT: u64 = 1 << 63;

#[derive(Clone, Copy)]
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Bits `min..=max` stepping by `step` (`max` at most 59; `step` may be anything above 0).
fn bits(min: u32, max: u32, step: u32) -> u64 {
    if step == 1 {
        return (!(u64::MAX.checked_shl(max + 1).unwrap_or(0))) & (u64::MAX << min);
    }
    let mut out = 0;
    // In u64, so that a step near u32::MAX cannot overflow.
    let mut i = u64::from(min);
    while i <= u64::from(max) {
        out |= 1 << i;
        i += u64::from(step);
    }
    out
}

/// Every value of a field, marked as `*`.
fn all(b: Bounds) -> u64 {
    bits(b.min, b.max, 1) | STAR_BIT
}

/// The bitmask schedule of a five-field spec or a descriptor other than `@every`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Spec {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// From a `CRON_TZ=`/`TZ=` prefix; `None`: the scheduler's location.
    location: Option<Location>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Spec(Spec),
    /// `@every`: a whole number of seconds, at least 1.
    Every(u64),
}

/// A parsed cron spec, as asynq (robfig/cron v3's standard parser) accepts it.
///
/// # Syntax
///
/// - Five fields, `minute hour day-of-month month day-of-week`, separated by whitespace. There
///   is no seconds field: every time fires at second 0.
/// - Each field is a comma-separated list of `*`, `?` (same as `*`, in any field), a number,
///   a range `a-b`, and any of these followed by a step `/n`. `a/n` means `a-max/n`.
///   Ranges: minute 0–59, hour 0–23, day of month 1–31, month 1–12 or `JAN`–`DEC`,
///   day of week 0–6 or `SUN`–`SAT` (names in any letter case). **Day of week 7 is rejected**,
///   as robfig/cron rejects it: a spec accepted here is accepted by a Go scheduler too.
/// - Day of month and day of week: when one of them is `*` or `?` (without a step greater
///   than 1) a day must match both; when both are restricted, a day matching either fires
///   (the classic cron OR rule). `*/2` counts as restricted.
/// - Descriptors: `@yearly` (= `@annually`), `@monthly`, `@weekly`, `@daily` (= `@midnight`),
///   `@hourly`, and `@every <duration>` with a Go duration (`90s`, `1h30m`, `1.5h`, `500ms`).
///   Like robfig/cron, `@every` durations under one second (zero and negative ones included)
///   become one second, and longer ones are truncated to whole seconds (`1.5s` is `1s`).
///   An `@every` entry first fires one period after the scheduler starts (or after the entry
///   is registered while running), counted from that second, then every period.
/// - An optional `CRON_TZ=<zone>` or `TZ=<zone>` prefix, separated by a space, with an IANA
///   zone name (`UTC` and the empty name mean UTC). Without it, the scheduler's location
///   applies. `Local` is rejected: name the zone.
///
/// Anything else is rejected with an invalid-option error that names the spec and the
/// reason. One deliberate difference: robfig/cron accepts a field made only of commas (no
/// values), which then never fires; redisq rejects it.
///
/// # Daylight saving time
///
/// Fire times follow robfig/cron's algorithm exactly, so in a zone with DST:
///
/// - a wall-clock time skipped by the spring-forward jump does not fire that day
///   (`30 2 * * *` in America/New_York skips 2 a.m. on the March change day);
/// - a wall-clock time that happens twice at the autumn fall-back fires twice
///   (`30 1 * * *` fires at 1:30 EDT and again at 1:30 EST);
/// - hourly and minute-based specs fire at every real hour/minute they match;
/// - where the clocks change by other than a whole hour (Australia/Lord_Howe), at other than a
///   whole hour (Pacific/Chatham, at 02:45) or at midnight (Asia/Beirut, America/Havana),
///   robfig's hour and day stepping can step over matching times of the change day (on Lord
///   Howe's fall-back day `* 5 * * *` starts firing at 05:30, not 05:00); redisq does the same.
///   A fire time is still never earlier than the first matching time and always matches.
///
/// # Example
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use redisq::CronSchedule;
///
/// let s = CronSchedule::parse("CRON_TZ=Asia/Tokyo 0 9 * * MON-FRI")?;
/// // 2026-01-05 (a Monday) 00:00:00 UTC is 09:00 in Tokyo.
/// let sunday = UNIX_EPOCH + Duration::from_secs(1_767_484_800); // 2026-01-04 00:00 UTC
/// let next = s.next_after(sunday).expect("fires");
/// assert_eq!(next, UNIX_EPOCH + Duration::from_secs(1_767_571_200));
/// # Ok::<(), redisq::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CronSchedule {
    spec: String,
    kind: Kind,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronSchedule").field(&self.spec).finish()
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.spec)
    }
}

impl FromStr for CronSchedule {
    type Err = Error;

    fn from_str(s: &str) -> Result<CronSchedule> {
        CronSchedule::parse(s)
    }
}

impl CronSchedule {
    /// Parses a spec; an invalid one is an invalid-option error.
    pub fn parse(spec: &str) -> Result<CronSchedule> {
        let kind = parse_kind(spec).map_err(|reason| {
            Error::invalid_option(format!("invalid cron spec {spec:?}: {reason}"))
        })?;
        Ok(CronSchedule {
            spec: spec.to_string(),
            kind,
        })
    }

    /// The spec as given.
    pub fn as_str(&self) -> &str {
        &self.spec
    }

    /// The period of an `@every` spec (whole seconds, at least 1 s); `None` for other specs.
    pub fn every(&self) -> Option<Duration> {
        match self.kind {
            Kind::Every(secs) => Some(Duration::from_secs(secs)),
            Kind::Spec(_) => None,
        }
    }

    /// The zone of a `CRON_TZ=`/`TZ=` prefix, if the spec has one.
    pub fn location(&self) -> Option<Location> {
        match self.kind {
            Kind::Spec(s) => s.location,
            Kind::Every(_) => None,
        }
    }

    /// The first fire time strictly after `after`, for a spec without a zone prefix read in
    /// UTC. `None` when the spec matches no time within five years (e.g. `0 0 30 2 *`), and
    /// for an `after` outside the years ±262,000 (the range of chrono's calendar).
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        self.next_in(after, Location::UTC)
    }

    /// The first fire time strictly after `after`, a spec without a zone prefix being read
    /// in `location`. `@every` specs give `after` truncated to the second plus the period.
    /// `None` in the cases [`next_after`](Self::next_after) lists.
    pub fn next_in(&self, after: SystemTime, location: Location) -> Option<SystemTime> {
        let (secs, _) = split(after);
        match self.kind {
            Kind::Every(period) => from_unix(secs.checked_add(i64::try_from(period).ok()?)?),
            Kind::Spec(s) => {
                next_spec(&s, secs, s.location.unwrap_or(location)).and_then(from_unix)
            }
        }
    }
}

/// Unix seconds (floored) and the nanoseconds within that second.
fn split(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(e) => {
            let d = e.duration();
            let s = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_nanos() {
                0 => (s, 0),
                n => (s - 1, 1_000_000_000 - n),
            }
        }
    }
}

fn from_unix(s: i64) -> Option<SystemTime> {
    if s >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(s.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(s.unsigned_abs()))
    }
}

fn day_matches(s: &Spec, f: &Fields) -> bool {
    let dom = s.dom & (1 << f.day) != 0;
    let dow = s.dow & (1 << f.weekday) != 0;
    if s.dom & STAR_BIT != 0 || s.dow & STAR_BIT != 0 {
        dom && dow
    } else {
        dom || dow
    }
}

/// robfig/cron's `SpecSchedule.Next`, on unix seconds. `after_secs` is the floored second of
/// the reference time; the search starts at the following second.
fn next_spec(s: &Spec, after_secs: i64, loc: Location) -> Option<i64> {
    // Far outside chrono's calendar (years ±262,000) the date arithmetic below would overflow
    // i64 near its ends; no schedule fires there.
    chrono::DateTime::from_timestamp(after_secs, 0)?;
    let mut t = after_secs.checked_add(1)?;
    let mut added = false;
    let year_limit = loc.fields(t).year + 5;

    'wrap: loop {
        let f = loc.fields(t);
        if f.year > year_limit {
            return None;
        }

        // Month.
        loop {
            let f = loc.fields(t);
            if s.month & (1 << f.month) != 0 {
                break;
            }
            if !added {
                added = true;
                t = loc.date(f.year, f.month, 1, 0, 0, 0);
            }
            t = loc.add_date(t, 1, 0);
            if loc.fields(t).month == 1 {
                continue 'wrap;
            }
        }

        // Day (of month / of week).
        loop {
            let f = loc.fields(t);
            if day_matches(s, &f) {
                break;
            }
            if !added {
                added = true;
                t = loc.date(f.year, f.month, f.day, 0, 0, 0);
            }
            t = loc.add_date(t, 0, 1);
            // Midnight may not exist on a DST change day: move back to the day's start.
            let hour = loc.fields(t).hour;
            if hour != 0 {
                if hour > 12 {
                    t += (24 - hour) * 3600;
                } else {
                    t -= hour * 3600;
                }
            }
            if loc.fields(t).day == 1 {
                continue 'wrap;
            }
        }

        // Hour.
        loop {
            let f = loc.fields(t);
            if s.hour & (1 << f.hour) != 0 {
                break;
            }
            if !added {
                added = true;
                t = loc.date(f.year, f.month, f.day, f.hour, 0, 0);
            }
            t += 3600;
            if loc.fields(t).hour == 0 {
                continue 'wrap;
            }
        }

        // Minute.
        loop {
            let f = loc.fields(t);
            if s.minute & (1 << f.minute) != 0 {
                break;
            }
            if !added {
                added = true;
                t -= t.rem_euclid(60);
            }
            t += 60;
            if loc.fields(t).minute == 0 {
                continue 'wrap;
            }
        }

        // Second: always 0 with the standard parser.
        loop {
            let f = loc.fields(t);
            if f.second == 0 {
                break;
            }
            added = true;
            t += 1;
            if loc.fields(t).second == 0 {
                continue 'wrap;
            }
        }

        return Some(t);
    }
}

fn parse_kind(spec: &str) -> std::result::Result<Kind, String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut rest = spec;
    let mut location = None;
    if rest.starts_with("TZ=") || rest.starts_with("CRON_TZ=") {
        let space = rest.find(' ').ok_or_else(|| {
            "a time zone prefix must be followed by a space and the schedule".to_string()
        })?;
        let eq = rest.find('=').unwrap_or(0);
        let name = &rest[eq + 1..space];
        location = Some(Location::new(name).map_err(|e| format!("bad location: {e}"))?);
        rest = rest[space..].trim();
    }
    if rest.starts_with('@') {
        return parse_descriptor(rest, location);
    }
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields (minute hour day-of-month month day-of-week), found {}",
            fields.len()
        ));
    }
    Ok(Kind::Spec(Spec {
        minute: parse_field(fields[0], MINUTES)?,
        hour: parse_field(fields[1], HOURS)?,
        dom: parse_field(fields[2], DOM)?,
        month: parse_field(fields[3], MONTHS)?,
        dow: parse_field(fields[4], DOW)?,
        location,
    }))
}

fn parse_descriptor(d: &str, location: Option<Location>) -> std::result::Result<Kind, String> {
    let spec = |minute, hour, dom, month, dow| {
        Ok(Kind::Spec(Spec {
            minute,
            hour,
            dom,
            month,
            dow,
            location,
        }))
    };
    match d {
        "@yearly" | "@annually" => return spec(1, 1, 1 << 1, 1 << 1, all(DOW)),
        "@monthly" => return spec(1, 1, 1 << 1, all(MONTHS), all(DOW)),
        "@weekly" => return spec(1, 1, all(DOM), all(MONTHS), 1),
        "@daily" | "@midnight" => return spec(1, 1, all(DOM), all(MONTHS), all(DOW)),
        "@hourly" => return spec(1, all(HOURS), all(DOM), all(MONTHS), all(DOW)),
        _ => {}
    }
    if let Some(text) = d.strip_prefix("@every ") {
        let nanos = parse_go_duration(text)
            .map_err(|reason| format!("failed to parse duration {d}: {reason}"))?;
        // robfig's Every(): under a second becomes a second; else truncated to seconds.
        let secs = if nanos < 1_000_000_000 {
            1
        } else {
            u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX)
        };
        return Ok(Kind::Every(secs));
    }
    Err(format!("unrecognized descriptor: {d}"))
}

fn parse_field(field: &str, b: Bounds) -> std::result::Result<u64, String> {
    let mut out = 0;
    let mut any = false;
    for expr in field.split(',').filter(|e| !e.is_empty()) {
        out |= parse_range(expr, b)?;
        any = true;
    }
    if !any {
        return Err(format!("field {field:?} has no values"));
    }
    Ok(out)
}

fn parse_range(expr: &str, b: Bounds) -> std::result::Result<u64, String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end, mut extra);
    if low_high[0] == "*" || low_high[0] == "?" {
        start = b.min;
        end = b.max;
        extra = STAR_BIT;
    } else {
        start = parse_int_or_name(low_high[0], b)?;
        end = match low_high.len() {
            1 => start,
            2 => parse_int_or_name(low_high[1], b)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        extra = 0;
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_int(range_and_step[1])?;
            // "N/step" means "N-max/step".
            if single {
                end = b.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(bits(start, end, step) | extra)
}

fn parse_int_or_name(s: &str, b: Bounds) -> std::result::Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some((_, v)) = b.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    parse_int(s)
}

/// Go's `strconv.Atoi` (an optional sign, decimal digits), non-negative.
fn parse_int(s: &str) -> std::result::Result<u32, String> {
    let n: i64 = s
        .parse()
        .map_err(|_| format!("failed to parse int from {s:?}"))?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {s}"));
    }
    // Anything beyond u32 is above every field's maximum anyway.
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Go's `time.ParseDuration`, in nanoseconds (may be negative).
pub(crate) fn parse_go_duration(orig: &str) -> std::result::Result<i128, String> {
    let invalid = || format!("invalid duration {orig:?}");
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first()
        && (c == b'-' || c == b'+')
    {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const MAX: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u128 = 0;
        for &c in &s[..digits] {
            v = v * 10 + u128::from(c - b'0');
            if v > MAX {
                return Err(invalid());
            }
        }
        let pre = digits > 0;
        s = &s[digits..];
        // Fraction.
        let (mut f, mut scale, mut post) = (0u128, 1f64, false);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for &c in &s[..digits] {
                if overflow {
                    continue;
                }
                if f > (i64::MAX as u128) / 10 {
                    overflow = true;
                    continue;
                }
                f = f * 10 + u128::from(c - b'0');
                scale *= 10.0;
            }
            post = digits > 0;
            s = &s[digits..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // Unit.
        let ulen = s
            .iter()
            .take_while(|c| !(**c == b'.' || c.is_ascii_digit()))
            .count();
        if ulen == 0 {
            return Err(format!("missing unit in duration {orig:?}"));
        }
        let unit_text = &s[..ulen];
        s = &s[ulen..];
        let unit: u128 = match unit_text {
            b"ns" => 1,
            // `us`, `µs` (U+00B5) and `μs` (U+03BC), as Go accepts.
            b"us" | b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60 * 1_000_000_000,
            b"h" => 3600 * 1_000_000_000,
            _ => {
                return Err(format!(
                    "unknown unit {:?} in duration {orig:?}",
                    String::from_utf8_lossy(unit_text)
                ));
            }
        };
        if v > MAX / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            // Go uses float64 here too, to stay exact to the nanosecond for hour fractions.
            v += (f as f64 * (unit as f64 / scale)) as u128;
            if v > MAX {
                return Err(invalid());
            }
        }
        total += v;
        if total > MAX {
            return Err(invalid());
        }
    }
    if neg {
        return Ok(-(total as i128));
    }
    if total > MAX - 1 {
        return Err(invalid());
    }
    Ok(total as i128)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod prop_tests;

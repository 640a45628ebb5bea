//! Comparison of an actual [`Dump`] with an [`ExpectedDump`] (README §2.4).
//!
//! Longer than our usual limit on purpose: one comparison rule per Redis value type and per
//! normalisation of the conformance README, kept in one place so the rules can be read
//! against that document side by side.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::dump::{Dump, DumpValue, KeyEntry};
use crate::expected::{
    ExpectedBytes, ExpectedDump, ExpectedField, ExpectedKey, ExpectedProto, ExpectedTtl,
    ExpectedValue, ExpectedZMember, TimeExpectation, normalize_proto_value, time_of,
};
use crate::normalize::{is_daily_counter, normalize, utc_date};
use crate::proto::{ProtoValue, Schema, TASK_MESSAGE};
use crate::scenario::Step;

/// The TTL of the daily `processed:`/`failed:` counters: 90 days.
pub const DAILY_COUNTER_TTL_S: f64 = 90.0 * 86_400.0;

/// A hook that patches the expectation before a comparison (see [`CompareOptions::patch`]).
pub type PatchFn = Arc<dyn Fn(&mut ExpectedDump) + Send + Sync>;

/// Options of [`compare`] / [`compare_dump`].
#[derive(Clone)]
pub struct CompareOptions {
    /// Tolerance for every time comparison (TTLs, scores, timestamps), in seconds.
    /// Default 2.0 (README §2.4); use 3–5 for the timer-driven scenarios.
    pub tolerance_s: f64,
    /// Normalized key names excluded on both sides (e.g. a redisq-only wake-up key, D10).
    pub ignore_keys: Vec<String>,
    /// Normalized key-name prefixes excluded on both sides.
    pub ignore_key_prefixes: Vec<String>,
    /// Compare ZSET entries as a multiset (member and score) instead of in order (needed for
    /// `x_lease_expired_recovery`, where two members normalize to the same text).
    pub multiset_zset_members: bool,
    /// Hooks applied, in order, to a copy of the expectation before comparing.
    pub patches: Vec<PatchFn>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            tolerance_s: 2.0,
            ignore_keys: Vec::new(),
            ignore_key_prefixes: Vec::new(),
            multiset_zset_members: false,
            patches: Vec::new(),
        }
    }
}

impl fmt::Debug for CompareOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompareOptions")
            .field("tolerance_s", &self.tolerance_s)
            .field("ignore_keys", &self.ignore_keys)
            .field("ignore_key_prefixes", &self.ignore_key_prefixes)
            .field("multiset_zset_members", &self.multiset_zset_members)
            .field("patches", &format_args!("[{} hook(s)]", self.patches.len()))
            .finish()
    }
}

impl CompareOptions {
    /// The defaults: tolerance ±2 s, nothing ignored but redisq's extension keys, ZSETs in
    /// order, no patches.
    pub fn new() -> CompareOptions {
        CompareOptions::default()
    }

    /// Sets the time tolerance in seconds.
    pub fn tolerance(mut self, seconds: f64) -> CompareOptions {
        self.tolerance_s = seconds;
        self
    }

    /// Excludes the key with this normalized name on both sides.
    pub fn ignore_key(mut self, normalized_key: impl Into<String>) -> CompareOptions {
        self.ignore_keys.push(normalized_key.into());
        self
    }

    /// Excludes every key whose normalized name starts with `prefix`, on both sides.
    pub fn ignore_key_prefix(mut self, prefix: impl Into<String>) -> CompareOptions {
        self.ignore_key_prefixes.push(prefix.into());
        self
    }

    /// Compares ZSET entries as a multiset.
    pub fn multiset_zset_members(mut self, yes: bool) -> CompareOptions {
        self.multiset_zset_members = yes;
        self
    }

    /// Adds a hook that patches (a copy of) the expectation before comparing, e.g.
    /// `.patch(|e| { e.remove_key("asynq:{tmp}:paused"); })`.
    pub fn patch(
        mut self,
        f: impl Fn(&mut ExpectedDump) + Send + Sync + 'static,
    ) -> CompareOptions {
        self.patches.push(Arc::new(f));
        self
    }

    fn ignores(&self, normalized_key: &str) -> bool {
        // redisq's own extension keys (`<ns>:redisq:…`, `<ns>:{q}:redisq:…`) are outside
        // asynq's layout, so no recording holds them; Go asynq never reads them.
        is_redisq_extension(normalized_key)
            || self.ignore_keys.iter().any(|k| k == normalized_key)
            || self
                .ignore_key_prefixes
                .iter()
                .any(|p| normalized_key.starts_with(p.as_str()))
    }
}

/// Whether a key is one of redisq's extensions, which asynq's recordings cannot contain.
pub(crate) fn is_redisq_extension(normalized_key: &str) -> bool {
    // The first segment is the namespace, which may itself be called `redisq`.
    normalized_key
        .split(':')
        .skip(1)
        .any(|segment| segment == "redisq")
}

/// One difference between the expectation and the actual data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What differs at the top level: a normalized key name, or e.g. `TaskInfo`.
    pub subject: String,
    /// Where inside the subject, e.g. `hash field "msg" › retry` (empty for the whole
    /// subject).
    pub path: String,
    /// What was expected and what was found.
    pub detail: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "`{}`: {}", self.subject, self.detail)
        } else {
            write!(f, "`{}` {}: {}", self.subject, self.path, self.detail)
        }
    }
}

/// Every difference found by a comparison. `Display` lists them all, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatches {
    /// What was compared, e.g. ``scenario `a_enqueue_minimal`, step `after_enqueue` ``.
    pub context: String,
    /// The differences, in key order.
    pub items: Vec<Mismatch>,
    /// Extra lines printed after the list (for example both key sets).
    pub notes: Vec<String>,
}

impl Mismatches {
    /// Whether `text` occurs in the report (handy in tests).
    pub fn mentions(&self, text: &str) -> bool {
        self.to_string().contains(text)
    }
}

impl fmt::Display for Mismatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "conformance mismatch ({}): {} difference(s)",
            self.context,
            self.items.len()
        )?;
        for (i, m) in self.items.iter().enumerate() {
            writeln!(f, "  {:>2}. {m}", i + 1)?;
        }
        for n in &self.notes {
            writeln!(f, "  {n}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Mismatches {}

/// Shows bytes readably: quoted text when they are printable UTF-8, else base64.
pub(crate) fn show_bytes(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => {
            const MAX: usize = 300;
            if s.chars().count() > MAX {
                let cut: String = s.chars().take(MAX).collect();
                format!("{cut:?}… ({} bytes)", b.len())
            } else {
                format!("{s:?}")
            }
        }
        _ => format!("b64:{}", B64.encode(b)),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Ctx<'a> {
    t0_ns: i64,
    tol: f64,
    schema: &'a Schema,
    multiset_zsets: bool,
    redis_time_ns: Option<i64>,
}

impl Ctx<'_> {
    fn offset_s(&self, ns: i128) -> f64 {
        (ns - i128::from(self.t0_ns)) as f64 / 1e9
    }

    fn within(&self, expected: f64, actual: f64) -> bool {
        (expected - actual).abs() <= self.tol + 1e-9
    }
}

struct Out<'a> {
    subject: &'a str,
    items: Vec<Mismatch>,
}

impl Out<'_> {
    fn push(&mut self, path: &str, detail: String) {
        self.items.push(Mismatch {
            subject: self.subject.to_owned(),
            path: path.to_owned(),
            detail,
        });
    }
}

fn join(path: &str, more: &str) -> String {
    if path.is_empty() {
        more.to_owned()
    } else {
        format!("{path} › {more}")
    }
}

/// Compares the keyspace `actual` (dumped after replaying up to `step`) with the recording of
/// `step`, following README §2.4. `actual_t0_unix_ns` is the replay's own t0.
///
/// Equivalent to `compare_dump(&step.expected_dump(), actual, actual_t0_unix_ns, opts)`.
pub fn compare(
    step: &Step,
    actual: &Dump,
    actual_t0_unix_ns: i64,
    opts: &CompareOptions,
) -> Result<(), Mismatches> {
    compare_dump(&step.expected_dump(), actual, actual_t0_unix_ns, opts)
}

struct ActualKey<'a> {
    raw: String,
    entry: &'a KeyEntry,
}

/// Compares the keyspace `actual` with the expectation `expected` (README §2.4):
///
/// 1. the multiset of normalized key names, with type and TTL presence;
/// 2. TTLs within the tolerance;
/// 3. values: protobuf values by decoded fields (host/pid/server_id ignored, time fields by t0
///    offset, raw bytes too for TaskMessages without time fields), timestamp strings by t0
///    offset, everything else exactly (after normalization where the recording normalized);
/// 4. ZSETs in order (or as a multiset) with scores by t0 offset; lists in order; sets as sets;
///    hashes by field.
///
/// The hooks in `opts.patches` are applied to a copy of `expected` first.
pub fn compare_dump(
    expected: &ExpectedDump,
    actual: &Dump,
    actual_t0_unix_ns: i64,
    opts: &CompareOptions,
) -> Result<(), Mismatches> {
    let patched;
    let expected = if opts.patches.is_empty() {
        expected
    } else {
        let mut e = expected.clone();
        for p in &opts.patches {
            p(&mut e);
        }
        patched = e;
        &patched
    };
    let ctx = Ctx {
        t0_ns: actual_t0_unix_ns,
        tol: opts.tolerance_s,
        schema: Schema::asynq(),
        multiset_zsets: opts.multiset_zset_members,
        redis_time_ns: actual.redis_time_unix_ns,
    };

    let mut exp_groups: BTreeMap<&str, Vec<&ExpectedKey>> = BTreeMap::new();
    for k in expected.keys() {
        if !opts.ignores(&k.key) {
            exp_groups.entry(k.key.as_str()).or_default().push(k);
        }
    }
    let mut act_groups: BTreeMap<String, Vec<ActualKey<'_>>> = BTreeMap::new();
    for (raw, entry) in &actual.keys {
        let raw = String::from_utf8_lossy(raw).into_owned();
        let norm = normalize(&raw, actual_t0_unix_ns);
        if !opts.ignores(&norm) {
            act_groups
                .entry(norm)
                .or_default()
                .push(ActualKey { raw, entry });
        }
    }

    let mut names: Vec<&str> = exp_groups.keys().copied().collect();
    names.extend(act_groups.keys().map(String::as_str));
    names.sort_unstable();
    names.dedup();

    let mut items = Vec::new();
    let mut key_set_differs = false;
    let empty_e = Vec::new();
    let empty_a = Vec::new();
    for name in names {
        let exps = exp_groups.get(name).unwrap_or(&empty_e);
        let acts = act_groups.get(name).unwrap_or(&empty_a);
        let mut out = Out {
            subject: name,
            items: Vec::new(),
        };
        match_keys(exps, acts, &ctx, &mut out, &mut key_set_differs);
        items.extend(out.items);
    }

    if items.is_empty() {
        return Ok(());
    }
    let mut notes = vec![format!(
        "actual t0 = {actual_t0_unix_ns} ns ({} UTC), tolerance ±{} s",
        utc_date(actual_t0_unix_ns),
        opts.tolerance_s
    )];
    if key_set_differs {
        notes.push(format!(
            "expected keys: {}",
            exp_groups.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        notes.push(format!(
            "actual keys:   {}",
            act_groups.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Err(Mismatches {
        context: expected.context().to_owned(),
        items,
        notes,
    })
}

fn match_keys(
    exps: &[&ExpectedKey],
    acts: &[ActualKey<'_>],
    ctx: &Ctx<'_>,
    out: &mut Out<'_>,
    key_set_differs: &mut bool,
) {
    let mut used = vec![false; acts.len()];
    let mut pending = Vec::new();
    if exps.len() == 1 && acts.len() == 1 {
        compare_key(exps[0], &acts[0], ctx, out);
        return;
    }
    // Several keys normalize to the same name: pair each expectation with the first actual
    // key that matches it completely, then pair the rest in order.
    for e in exps {
        let found = (0..acts.len()).find(|&i| {
            if used[i] {
                return false;
            }
            let mut probe = Out {
                subject: out.subject,
                items: Vec::new(),
            };
            compare_key(e, &acts[i], ctx, &mut probe);
            probe.items.is_empty()
        });
        match found {
            Some(i) => used[i] = true,
            None => pending.push(*e),
        }
    }
    let mut rest = (0..acts.len()).filter(|i| !used[*i]);
    for e in pending {
        match rest.next() {
            Some(i) => compare_key(e, &acts[i], ctx, out),
            None => {
                *key_set_differs = true;
                let raw = match e.raw_key.as_deref() {
                    Some(r) if r != e.key => format!(" (recorded as `{r}`)"),
                    _ => String::new(),
                };
                out.push(
                    "",
                    format!("missing key: expected a {}{raw}", e.value.type_name()),
                );
            }
        }
    }
    for i in rest {
        *key_set_differs = true;
        let a = &acts[i];
        out.push(
            "",
            format!(
                "unexpected key `{}` ({}): {}",
                a.raw,
                a.entry.value.type_name(),
                summarize(&a.entry.value)
            ),
        );
    }
}

fn summarize(v: &DumpValue) -> String {
    const MAX: usize = 8;
    let list = |items: Vec<String>| {
        let n = items.len();
        let mut s: Vec<String> = items.into_iter().take(MAX).collect();
        if n > MAX {
            s.push(format!("… ({n} in all)"));
        }
        format!("[{}]", s.join(", "))
    };
    match v {
        DumpValue::String(b) => show_bytes(b),
        DumpValue::Hash(h) => list(
            h.iter()
                .map(|(f, v)| {
                    let shown = match crate::proto::decode_message(TASK_MESSAGE, v) {
                        Ok(d) if f.as_slice() == b"msg" => format!("<{d}>"),
                        _ => show_bytes(v),
                    };
                    format!("{}={shown}", String::from_utf8_lossy(f))
                })
                .collect(),
        ),
        DumpValue::List(a) | DumpValue::Set(a) => list(a.iter().map(|b| show_bytes(b)).collect()),
        DumpValue::ZSet(z) => list(
            z.iter()
                .map(|(m, s)| format!("{}@{s}", show_bytes(m)))
                .collect(),
        ),
        DumpValue::Other(t) => format!("<{t}>"),
    }
}

fn compare_key(e: &ExpectedKey, a: &ActualKey<'_>, ctx: &Ctx<'_>, out: &mut Out<'_>) {
    let (et, at) = (e.value.type_name(), a.entry.value.type_name());
    if et != at {
        out.push(
            "",
            format!(
                "type: expected {et}, actual {at} (`{}` = {})",
                a.raw,
                summarize(&a.entry.value)
            ),
        );
        return;
    }
    compare_ttl(e, a, ctx, out);
    match (&e.value, &a.entry.value) {
        (ExpectedValue::String(eb), DumpValue::String(ab)) => {
            compare_bytes(eb, ab, "value", ctx, out)
        }
        (ExpectedValue::Hash(eh), DumpValue::Hash(ah)) => compare_hash(eh, ah, ctx, out),
        (ExpectedValue::List(el), DumpValue::List(al)) => compare_list(el, al, ctx, out),
        (ExpectedValue::Set(es), DumpValue::Set(aset)) => compare_set(es, aset, ctx, out),
        (ExpectedValue::ZSet(ez), DumpValue::ZSet(az)) => compare_zset(ez, az, ctx, out),
        _ => unreachable!("types were compared above"),
    }
}

fn compare_ttl(e: &ExpectedKey, a: &ActualKey<'_>, ctx: &Ctx<'_>, out: &mut Out<'_>) {
    let actual = a.entry.pttl_ms.map(|ms| ms as f64 / 1000.0);
    match (e.ttl, actual) {
        (ExpectedTtl::None, None) | (ExpectedTtl::Any, Some(_)) => {}
        (ExpectedTtl::None, Some(s)) => {
            out.push("ttl", format!("expected no TTL, actual {s:.3} s"))
        }
        (ExpectedTtl::Any | ExpectedTtl::Seconds(_), None) => {
            let what = match e.ttl {
                ExpectedTtl::Seconds(s) => format!("{s:.3} s"),
                _ => "a TTL".to_owned(),
            };
            out.push("ttl", format!("expected {what}, actual no TTL"));
        }
        (ExpectedTtl::Seconds(exp), Some(act)) => {
            if ctx.within(exp, act) {
                return;
            }
            // Daily counters: 90 days minus the time since their first increment, which lies
            // between t0 and the dump.
            if is_daily_counter(&e.key)
                && let Some(now) = ctx.redis_time_ns
            {
                let elapsed = ctx.offset_s(i128::from(now)).max(0.0);
                if act >= DAILY_COUNTER_TTL_S - elapsed - ctx.tol
                    && act <= DAILY_COUNTER_TTL_S + ctx.tol
                {
                    return;
                }
            }
            out.push(
                "ttl",
                format!(
                    "expected {exp:.3} s (±{} s), actual {act:.3} s (off by {:+.3} s)",
                    ctx.tol,
                    act - exp
                ),
            );
        }
    }
}

fn compare_hash(
    eh: &BTreeMap<String, ExpectedBytes>,
    ah: &BTreeMap<Vec<u8>, Vec<u8>>,
    ctx: &Ctx<'_>,
    out: &mut Out<'_>,
) {
    for (field, ev) in eh {
        let path = format!("hash field {field:?}");
        match ah.get(field.as_bytes()) {
            Some(av) => compare_bytes(ev, av, &path, ctx, out),
            None => out.push(&path, format!("missing field: expected {ev}")),
        }
    }
    for (field, av) in ah {
        let name = String::from_utf8_lossy(field);
        if !eh.contains_key(name.as_ref()) {
            out.push(
                &format!("hash field {name:?}"),
                format!("unexpected field, value {}", show_bytes(av)),
            );
        }
    }
}

fn list_text(items: &[ExpectedBytes]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn bytes_list_text(items: &[Vec<u8>]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|b| show_bytes(b))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn compare_list(el: &[ExpectedBytes], al: &[Vec<u8>], ctx: &Ctx<'_>, out: &mut Out<'_>) {
    if el.len() != al.len() {
        out.push(
            "list",
            format!(
                "length: expected {} {}, actual {} {}",
                el.len(),
                list_text(el),
                al.len(),
                bytes_list_text(al)
            ),
        );
        return;
    }
    for (i, (e, a)) in el.iter().zip(al).enumerate() {
        compare_bytes(e, a, &format!("list[{i}]"), ctx, out);
    }
}

fn bytes_match(e: &ExpectedBytes, a: &[u8], ctx: &Ctx<'_>) -> bool {
    let mut probe = Out {
        subject: "",
        items: Vec::new(),
    };
    compare_bytes(e, a, "", ctx, &mut probe);
    probe.items.is_empty()
}

fn compare_set(es: &[ExpectedBytes], aset: &[Vec<u8>], ctx: &Ctx<'_>, out: &mut Out<'_>) {
    let mut used = vec![false; aset.len()];
    for e in es {
        match (0..aset.len()).find(|&i| !used[i] && bytes_match(e, &aset[i], ctx)) {
            Some(i) => used[i] = true,
            None => out.push("set", format!("missing member {e}")),
        }
    }
    for (i, a) in aset.iter().enumerate() {
        if !used[i] {
            out.push("set", format!("unexpected member {}", show_bytes(a)));
        }
    }
}

fn compare_zset(ez: &[ExpectedZMember], az: &[(Vec<u8>, f64)], ctx: &Ctx<'_>, out: &mut Out<'_>) {
    let t0_s = ctx.t0_ns as f64 / 1e9;
    let zlist = |items: &[(Vec<u8>, f64)]| {
        format!(
            "[{}]",
            items
                .iter()
                .map(|(m, s)| format!("{} @t0{:+.3}s", show_bytes(m), s - t0_s))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let elist = || {
        format!(
            "[{}]",
            ez.iter()
                .map(|e| format!("{} @t0{:+.3}s", e.member, e.score_t0_offset_s))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if ctx.multiset_zsets {
        let mut used = vec![false; az.len()];
        for e in ez {
            let found = (0..az.len()).find(|&i| {
                !used[i]
                    && ctx.within(e.score_t0_offset_s, az[i].1 - t0_s)
                    && bytes_match(&e.member, &az[i].0, ctx)
            });
            match found {
                Some(i) => used[i] = true,
                None => out.push(
                    "zset",
                    format!(
                        "missing entry {} @t0{:+.3}s; actual entries {}",
                        e.member,
                        e.score_t0_offset_s,
                        zlist(az)
                    ),
                ),
            }
        }
        for (i, (m, s)) in az.iter().enumerate() {
            if !used[i] {
                out.push(
                    "zset",
                    format!("unexpected entry {} @t0{:+.3}s", show_bytes(m), s - t0_s),
                );
            }
        }
        return;
    }
    if ez.len() != az.len() {
        out.push(
            "zset",
            format!(
                "length: expected {} {}, actual {} {}",
                ez.len(),
                elist(),
                az.len(),
                zlist(az)
            ),
        );
        return;
    }
    for (i, (e, (m, s))) in ez.iter().zip(az).enumerate() {
        compare_bytes(&e.member, m, &format!("zset[{i}] member"), ctx, out);
        let actual = s - t0_s;
        if !ctx.within(e.score_t0_offset_s, actual) {
            out.push(
                &format!("zset[{i}] score"),
                format!(
                    "expected t0{:+.3}s (±{} s), actual t0{actual:+.3}s (score {s}, member {})",
                    e.score_t0_offset_s,
                    ctx.tol,
                    show_bytes(m)
                ),
            );
        }
    }
}

fn compare_bytes(e: &ExpectedBytes, a: &[u8], path: &str, ctx: &Ctx<'_>, out: &mut Out<'_>) {
    match e {
        ExpectedBytes::Any => {}
        ExpectedBytes::Exact(b) => {
            if b.as_slice() != a {
                out.push(
                    path,
                    format!("expected {}, actual {}", show_bytes(b), show_bytes(a)),
                );
            }
        }
        ExpectedBytes::Normalized(s) => match std::str::from_utf8(a) {
            Ok(text) => {
                let n = normalize(text, ctx.t0_ns);
                if &n != s {
                    out.push(
                        path,
                        format!("expected {s:?} (normalized), actual {text:?} (normalized {n:?})"),
                    );
                }
            }
            Err(_) => out.push(
                path,
                format!("expected text {s:?} (normalized), actual {}", show_bytes(a)),
            ),
        },
        ExpectedBytes::Time { unit, t0_offset_s } => {
            let parsed = std::str::from_utf8(a)
                .ok()
                .and_then(|t| t.parse::<i128>().ok());
            match parsed {
                Some(raw) => {
                    let actual = ctx.offset_s(raw * unit.nanos());
                    if !ctx.within(*t0_offset_s, actual) {
                        out.push(
                            path,
                            format!(
                                "expected time t0{t0_offset_s:+.3}s (±{} s), actual t0{actual:+.3}s (raw {raw})",
                                ctx.tol
                            ),
                        );
                    }
                }
                None => out.push(
                    path,
                    format!(
                        "expected a decimal timestamp at t0{t0_offset_s:+.3}s, actual {}",
                        show_bytes(a)
                    ),
                ),
            }
        }
        ExpectedBytes::Proto(p) => compare_proto(p, a, path, ctx, out),
    }
}

fn describe_time(t: &TimeExpectation, is_timestamp: bool) -> String {
    match t {
        TimeExpectation::Unset if is_timestamp => "Go zero time (seconds -62135596800)".to_owned(),
        TimeExpectation::Unset => "0 (unset)".to_owned(),
        TimeExpectation::Absent => "absent".to_owned(),
        TimeExpectation::At(x) => format!("t0{x:+.3}s"),
    }
}

fn compare_proto(p: &ExpectedProto, a: &[u8], path: &str, ctx: &Ctx<'_>, out: &mut Out<'_>) {
    let decoded = match ctx.schema.decode(p.message(), a) {
        Ok(d) => d,
        Err(err) => {
            out.push(
                path,
                format!(
                    "cannot decode as {}: {err}; actual bytes hex {}",
                    p.message(),
                    hex(a)
                ),
            );
            return;
        }
    };
    let before = out.items.len();
    if !decoded.unknown_fields.is_empty() {
        out.push(
            path,
            format!(
                "{} has field numbers that the schema does not know: {:?}",
                p.message(),
                decoded.unknown_fields
            ),
        );
    }
    for (name, ef) in p.fields() {
        let actual = decoded.get(name);
        let fpath = join(path, &format!("{}.{name}", short_name(p.message())));
        match ef {
            ExpectedField::Ignored => {}
            ExpectedField::Value(v) => {
                let actual = if p.message() == TASK_MESSAGE {
                    actual.clone()
                } else {
                    normalize_proto_value(actual, ctx.t0_ns)
                };
                if *v != actual {
                    out.push(&fpath, format!("expected {v}, actual {actual}"));
                }
            }
            ExpectedField::Time(t) => {
                let is_ts = matches!(actual, ProtoValue::Timestamp(_));
                let Some(at) = time_of(actual, ctx.t0_ns) else {
                    out.push(&fpath, format!("expected a time, actual {actual}"));
                    continue;
                };
                let ok = match (t, at) {
                    (TimeExpectation::Unset, TimeExpectation::Unset)
                    | (TimeExpectation::Absent, TimeExpectation::Absent) => true,
                    (TimeExpectation::At(e), TimeExpectation::At(x)) => ctx.within(*e, x),
                    _ => false,
                };
                if !ok {
                    out.push(
                        &fpath,
                        format!(
                            "expected {}{}, actual {}{}",
                            describe_time(t, is_ts),
                            if matches!(t, TimeExpectation::At(_)) {
                                format!(" (±{} s)", ctx.tol)
                            } else {
                                String::new()
                            },
                            describe_time(&at, is_ts),
                            if matches!(at, TimeExpectation::At(_)) {
                                format!(" ({actual})")
                            } else {
                                String::new()
                            }
                        ),
                    );
                }
            }
        }
    }
    if out.items.len() == before
        && let Some(exact) = p.exact_bytes()
        && exact != a
    {
        out.push(
            path,
            format!(
                "{} fields match but the raw bytes differ (a TaskMessage without \
                 deadline/last_failed_at/completed_at must be byte-identical to Go's): \
                 expected hex {}, actual hex {}",
                p.message(),
                hex(exact),
                hex(a)
            ),
        );
    }
}

fn short_name(message: &str) -> &str {
    message.rsplit('.').next().unwrap_or(message)
}

#[cfg(test)]
mod extension_tests {
    use super::is_redisq_extension;

    #[test]
    fn redisq_extension_keys_are_recognised_but_not_asynq_keys() {
        assert!(is_redisq_extension("asynq:{default}:redisq:wake"));
        assert!(is_redisq_extension("asynq:redisq:wakeup"));
        assert!(!is_redisq_extension("asynq:{default}:pending"));
        // A namespace or a queue called redisq is not an extension.
        assert!(!is_redisq_extension("redisq:{default}:pending"));
        assert!(!is_redisq_extension("asynq:{redisq}:pending"));
    }
}

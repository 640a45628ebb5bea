//! The little HTML kit the pages are written with: escaping, links, times, sizes, payloads.
//!
//! Pages are built by writing into a `String`; every piece of data goes through [`Esc`]
//! (text and attribute values alike, attributes always double-quoted).

use std::fmt::{self, Display, Write as _};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Escapes text for HTML text and double- or single-quoted attribute values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, c) in self.0.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(rep)?;
            last = i + c.len_utf8();
        }
        f.write_str(&self.0[last..])
    }
}

/// Characters left as they are in a path segment or query value.
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes one path segment or query component.
pub(crate) fn enc(s: &str) -> String {
    utf8_percent_encode(s, KEEP).to_string()
}

/// A query string (`?a=1&b=2`) from pairs; empty for none.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        out.push(if out.is_empty() { '?' } else { '&' });
        let _ = write!(out, "{}={}", enc(k), enc(v));
    }
    out
}

/// A time as `2024-05-01 12:00:00` (UTC).
pub(crate) fn time(t: SystemTime) -> String {
    DateTime::<Utc>::from(t)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A time with how far it is from now, or `—`.
pub(crate) fn when(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return "<span class=\"muted\">—</span>".to_string();
    };
    let now = SystemTime::now();
    let rel = match t.duration_since(now) {
        Ok(ahead) => format!("in {}", duration(ahead)),
        Err(e) => format!("{} ago", duration(e.duration())),
    };
    format!(
        "<time datetime=\"{}\" title=\"{} UTC\">{}</time>",
        Esc(&DateTime::<Utc>::from(t).to_rfc3339()),
        Esc(&time(t)),
        Esc(&rel)
    )
}

/// A duration in the largest two units: `3h 12m`, `45s`, `120ms`.
pub(crate) fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

/// Bytes as `512 B`, `1.5 KiB`, `12.0 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A number with thin grouping: `1 234 567`.
pub(crate) fn num(n: impl Into<u64>) -> String {
    let s = n.into().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// How many bytes of a payload a listing shows.
pub(crate) const LIST_PREVIEW: usize = 200;
/// How many bytes of a payload the task page shows.
pub(crate) const FULL_PREVIEW: usize = 256 * 1024;

/// A one-line preview of a payload for listings: text (cut at `limit` bytes) or hex.
pub(crate) fn preview(data: &[u8], limit: usize) -> String {
    let cut = &data[..data.len().min(limit)];
    let more = data.len() > limit;
    let body = match std::str::from_utf8(cut) {
        Ok(s) => s.to_string(),
        // A cut may split a character: keep the valid prefix when that is all that is wrong.
        Err(e) if more && e.error_len().is_none() => {
            String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned()
        }
        Err(_) => format!("0x{}", hex(cut)),
    };
    let tail = if more {
        format!(" … ({})", bytes(data.len() as u64))
    } else {
        String::new()
    };
    format!(
        "<code class=\"payload\">{}</code>{}",
        Esc(&body),
        Esc(&tail)
    )
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// A payload or result in full: pretty JSON when it parses, text when it is UTF-8, a hex
/// dump otherwise. Cut at [`FULL_PREVIEW`] bytes.
pub(crate) fn full(data: &[u8]) -> String {
    if data.is_empty() {
        return "<p class=\"muted\">(empty)</p>".to_string();
    }
    let more = data.len() > FULL_PREVIEW;
    let cut = &data[..data.len().min(FULL_PREVIEW)];
    let note = if more {
        format!(
            "<p class=\"muted\">Showing the first {} of {}.</p>",
            bytes(FULL_PREVIEW as u64),
            bytes(data.len() as u64)
        )
    } else {
        String::new()
    };
    if !more && let Ok(v) = serde_json::from_slice::<serde_json::Value>(cut) {
        let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
        return format!(
            "<p class=\"muted\">JSON, {}</p><pre class=\"data\">{}</pre>",
            bytes(data.len() as u64),
            Esc(&pretty)
        );
    }
    match std::str::from_utf8(cut) {
        Ok(s) => format!(
            "<p class=\"muted\">Text, {}</p>{note}<pre class=\"data\">{}</pre>",
            bytes(data.len() as u64),
            Esc(s)
        ),
        Err(_) => {
            let mut dump = String::new();
            for (i, chunk) in cut.chunks(16).enumerate() {
                let ascii: String = chunk
                    .iter()
                    .map(|&b| {
                        if b.is_ascii_graphic() || b == b' ' {
                            b as char
                        } else {
                            '.'
                        }
                    })
                    .collect();
                let hexes: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                let _ = writeln!(dump, "{:08x}  {:<47}  {ascii}", i * 16, hexes.join(" "));
            }
            format!(
                "<p class=\"muted\">Binary, {}</p>{note}<pre class=\"data\">{}</pre>",
                bytes(data.len() as u64),
                Esc(&dump)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            Esc("<script>alert('x')</script> & \"q\"").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(Esc("plain é").to_string(), "plain é");
    }

    #[test]
    fn encoding_and_numbers() {
        assert_eq!(enc("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(
            query(&[("state", "retry"), ("page", "2")]),
            "?state=retry&page=2"
        );
        assert_eq!(num(1234567u64), "1\u{202f}234\u{202f}567");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(duration(Duration::from_secs(3725)), "1h 2m");
    }

    #[test]
    fn payloads() {
        assert!(preview(&[b'a'; 300], 200).contains("… (300 B)"));
        assert!(preview(&[0xff, 0x00], 200).contains("0xff00"));
        assert!(full(br#"{"a":1}"#).contains("JSON"));
        assert!(full(&[0, 1, 2, 0xff]).contains("00000000  00 01 02 ff"));
        assert!(full(b"<b>").contains("&lt;b&gt;"));
    }
}

//! Human output (aligned tables, payloads, times) and JSON output.

use std::io::Write;
use std::time::{Duration, SystemTime};

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::duration;
use crate::error::{CliError, CliResult};

/// Writes to stdout; a closed pipe (`redisq … | head`) is not an error.
pub(crate) fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Prints a value as pretty JSON followed by a newline.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> CliResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::failure(format!("could not encode the JSON output: {e}")))?;
    emit(&text);
    emit("\n");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tables

/// A column's alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// A plain text table: a header row, a rule of dashes under each header, then the rows, with
/// two spaces between columns and no trailing spaces.
///
/// ```text
/// Queue    Size  Paused
/// -----    ----  ------
/// default    12  no
/// ```
#[derive(Debug)]
pub(crate) struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers, all left-aligned.
    pub(crate) fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            align: vec![Align::Left; headers.len()],
            rows: Vec::new(),
        }
    }

    /// Right-aligns the given columns (numbers).
    pub(crate) fn right(mut self, columns: &[usize]) -> Self {
        for &c in columns {
            if let Some(a) = self.align.get_mut(c) {
                *a = Align::Right;
            }
        }
        self
    }

    /// Adds a row; missing cells are empty, extra cells are dropped. Control characters are
    /// escaped so that every row stays on one line.
    pub(crate) fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.headers.len())
            .map(|c| escape_controls(c.as_ref()))
            .collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The table as text, each line ending in a newline.
    pub(crate) fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let rule: Vec<String> = self.headers.iter().map(|h| "-".repeat(width(h))).collect();
        let mut out = String::new();
        for (r, row) in std::iter::once(&self.headers)
            .chain(std::iter::once(&rule))
            .chain(&self.rows)
            .enumerate()
        {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let pad = widths[i] - width(cell);
                let last = i + 1 == n;
                if self.align[i] == Align::Right && r > 1 {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if !last {
                        line.push_str(&" ".repeat(pad));
                    }
                }
                if !last {
                    line.push_str("  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Display width, counted in characters (good enough for the text redisq shows).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Escapes control characters (`\n` → `\\n`, others as `\u{..}`).
pub(crate) fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Key/value lines with aligned values (`Queue:    default`).
pub(crate) fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| width(k)).max().unwrap_or(0) + 1;
    let mut out = String::new();
    for (k, v) in pairs {
        let label = format!("{k}:");
        // Continuation lines of multi-line values are indented under the value.
        let v = v.replace('\n', &format!("\n{}", " ".repeat(w + 2)));
        out.push_str(format!("{label:<w$}  {v}").trim_end());
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Payloads

/// Whether bytes are UTF-8 text without control characters other than tab and line breaks.
fn is_printable(bytes: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(bytes).ok()?;
    s.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .then_some(s)
}

/// Bytes as hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A payload for a table cell: text when printable (cut to `max` characters), else hex
/// (`hex:0a1b…`) when short, else `<N bytes>`.
pub(crate) fn payload_cell(bytes: &[u8], max: usize) -> String {
    if bytes.is_empty() {
        return "<empty>".to_string();
    }
    if let Some(s) = is_printable(bytes) {
        let s = escape_controls(s);
        if width(&s) > max {
            let cut: String = s.chars().take(max.saturating_sub(1)).collect();
            return format!("{cut}…");
        }
        return s;
    }
    if bytes.len() <= 16 {
        format!("hex:{}", hex(bytes))
    } else {
        format!("<{} bytes>", bytes.len())
    }
}

/// A payload for a detail view: the whole text when printable, else hex (the first 256
/// bytes) with the size.
pub(crate) fn payload_detail(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "<empty>".to_string();
    }
    if let Some(s) = is_printable(bytes) {
        return s.to_string();
    }
    const SHOWN: usize = 256;
    if bytes.len() <= SHOWN {
        format!("hex:{} ({} bytes, not text)", hex(bytes), bytes.len())
    } else {
        format!(
            "hex:{}… ({} bytes, not text)",
            hex(&bytes[..SHOWN]),
            bytes.len()
        )
    }
}

/// Bytes for JSON: `(text, "utf8")` when valid UTF-8, else `(base64, "base64")`.
pub(crate) fn bytes_json(bytes: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), "utf8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            "base64",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Times

/// RFC 3339 in UTC with whole seconds, e.g. `2026-01-02T03:04:05Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2026-01-02 03:04:05 UTC`.
pub(crate) fn utc(t: SystemTime) -> String {
    DateTime::<Utc>::from(t)
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// `YYYY-MM-DD` of a UTC day.
pub(crate) fn utc_date(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).format("%Y-%m-%d").to_string()
}

/// How far `t` is from `now`: `in 5m`, `3s ago`, `now`.
pub(crate) fn relative(t: SystemTime, now: SystemTime) -> String {
    match t.duration_since(now) {
        Ok(ahead) if ahead >= Duration::from_secs(1) => {
            format!("in {}", duration::format_rounded(ahead))
        }
        Ok(_) => "now".to_string(),
        Err(e) if e.duration() < Duration::from_secs(1) => "now".to_string(),
        Err(e) => format!("{} ago", duration::format_rounded(e.duration())),
    }
}

/// `2026-01-02 03:04:05 UTC (in 5m)`, or `-` for none.
pub(crate) fn when(t: Option<SystemTime>, now: SystemTime) -> String {
    match t {
        Some(t) => format!("{} ({})", utc(t), relative(t, now)),
        None => "-".to_string(),
    }
}

/// A short time for tables: relative only (`in 5m`, `3s ago`), or `-`.
pub(crate) fn when_short(t: Option<SystemTime>, now: SystemTime) -> String {
    t.map_or_else(|| "-".to_string(), |t| relative(t, now))
}

/// Bytes in B/KB/MB/GB (1024-based).
pub(crate) fn bytes_human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}

/// `failed / processed` as a percentage, or `-` when nothing was processed.
pub(crate) fn error_rate(processed: u64, failed: u64) -> String {
    if processed == 0 {
        "-".to_string()
    } else {
        format!("{:.2}%", failed as f64 * 100.0 / processed as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["Name", "Size", "Note"]).right(&[1]);
        t.row(["default", "12", "a"]);
        t.row(["q", "3", ""]);
        t.row(["x\ny", "100", "tab\there"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Name     Size  Note");
        assert_eq!(lines[1], "----     ----  ----");
        assert_eq!(lines[2], "default    12  a");
        assert_eq!(lines[3], "q           3");
        assert_eq!(lines[4], "x\\ny      100  tab\\there");
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn payloads() {
        assert_eq!(payload_cell(b"hello", 40), "hello");
        assert_eq!(payload_cell(b"abcdefgh", 5), "abcd…");
        assert_eq!(payload_cell(&[0, 1, 255], 40), "hex:0001ff");
        assert_eq!(payload_cell(&[0u8; 100], 40), "<100 bytes>");
        assert_eq!(payload_cell(b"", 40), "<empty>");
        assert_eq!(payload_cell(b"a\nb", 40), "a\\nb");
        assert_eq!(bytes_json(b"hi"), ("hi".to_string(), "utf8"));
        assert_eq!(bytes_json(&[0xff, 0xfe]), ("//4=".to_string(), "base64"));
        assert!(payload_detail(&[0xff; 300]).contains("300 bytes"));
    }

    #[test]
    fn times() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(utc(t), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_date(t), "2023-11-14");
        assert_eq!(relative(t + Duration::from_secs(90), t), "in 1m30s");
        assert_eq!(relative(t, t + Duration::from_secs(5)), "5s ago");
        assert_eq!(relative(t, t), "now");
    }

    #[test]
    fn numbers() {
        assert_eq!(bytes_human(512), "512 B");
        assert_eq!(bytes_human(2048), "2.00 KB");
        assert_eq!(error_rate(0, 0), "-");
        assert_eq!(error_rate(4, 1), "25.00%");
    }
}

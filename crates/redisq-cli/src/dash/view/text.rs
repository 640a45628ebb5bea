//! Text and bytes from Redis made safe and readable on a terminal: control characters
//! escaped, payloads shown as text when printable and as a hex dump otherwise.

use std::borrow::Cow;

/// Replaces control characters (escape sequences included) by their escaped form.
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Like [`clean`] for one line of a text shown as it is: tabs become spaces, a trailing
/// carriage return is dropped.
pub(super) fn clean_multiline(line: &str) -> String {
    let line = line
        .strip_suffix('\r')
        .unwrap_or(line)
        .replace('\t', "    ");
    clean(&line).into_owned()
}

/// The bytes as text, when they are UTF-8 without control characters other than newlines
/// and tabs.
pub(crate) fn printable(data: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(data).ok()?;
    s.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .then_some(s)
}

/// A classic hex dump: offset, 16 bytes in two groups of 8, and the printable ASCII.
pub(crate) fn hex_dump(data: &[u8]) -> Vec<String> {
    data.chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let mut line = format!("{:08x}  ", i * 16);
            for j in 0..16 {
                match chunk.get(j) {
                    Some(b) => line.push_str(&format!("{b:02x} ")),
                    None => line.push_str("   "),
                }
                if j == 7 {
                    line.push(' ');
                }
            }
            line.push_str(" |");
            line.extend(chunk.iter().map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '.'
                }
            }));
            line.push('|');
            line
        })
        .collect()
}

/// A one-line preview of a payload for tables.
pub(super) fn preview(data: &[u8]) -> String {
    match printable(data) {
        Some(s) => one_line(s),
        None => {
            let head: String = data.iter().take(12).map(|b| format!("{b:02x}")).collect();
            let more = if data.len() > 12 { "…" } else { "" };
            format!("<{} bytes> {head}{more}", data.len())
        }
    }
}

/// A text on one line: newlines become `⏎`, other control characters are escaped.
pub(super) fn one_line(s: &str) -> String {
    let s: String = s.chars().take(400).collect();
    clean(
        &s.replace("\r\n", "⏎")
            .replace(['\n', '\r'], "⏎")
            .replace('\t', " "),
    )
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_control_characters() {
        assert_eq!(clean("plain"), "plain");
        assert_eq!(clean("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(one_line("a\nb\r\nc\td"), "a⏎b⏎c d");
        assert_eq!(clean_multiline("x\ty\r"), "x    y");
    }

    #[test]
    fn printable_text_and_hex_dump() {
        assert_eq!(printable(b"{\"a\":1}\n"), Some("{\"a\":1}\n"));
        assert_eq!(printable(b"\x00\x01"), None);
        assert_eq!(printable(&[0xff, 0xfe]), None);
        assert_eq!(printable(b"\x1b[31m"), None);
        assert_eq!(
            hex_dump(b"0123456789abcdefXYZ\x00"),
            vec![
                "00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|",
                "00000010  58 59 5a 00                                       |XYZ.|",
            ]
        );
        assert_eq!(preview(&[0, 1, 2]), "<3 bytes> 000102");
    }
}

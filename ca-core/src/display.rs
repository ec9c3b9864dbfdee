//! How times and names are written for people and for scripts, the same on every page and in
//! every command.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A date and time for people: `2027-12-27 10:04 UTC`.
pub fn time(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// RFC 3339, for scripts: `2027-12-27T10:04:05Z`.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Reads a time as people and scripts write it: RFC 3339 (`2027-12-27T10:04:05Z`, any
/// offset), as [`time`] prints it (`2027-12-27 10:04 UTC`, the `UTC` optional), or a date
/// alone (`2027-12-27`, its first second in UTC).
pub fn parse_time(text: &str) -> crate::Result<OffsetDateTime> {
    let trimmed = text.trim();
    if let Ok(at) = OffsetDateTime::parse(trimmed, &Rfc3339) {
        return Ok(at);
    }
    let printed = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let minute = trimmed.strip_suffix("UTC").unwrap_or(trimmed).trim_end();
    if let Ok(at) = time::PrimitiveDateTime::parse(minute, &printed) {
        return Ok(at.assume_utc());
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(trimmed, &date)
        .map(|day| day.midnight().assume_utc())
        .map_err(|_| {
            crate::Error::InvalidInput(format!(
                "{} is not a date: write 2027-12-27, 2027-12-27 10:04 (UTC), or 2027-12-27T10:04:05Z",
                quoted(trimmed)
            ))
        })
}

/// Longest text quoted whole in a message: four times a DNS name's longest (RFC 1035 §3.1),
/// so that any name typed, even one refused for its length, is shown as it was given.
const QUOTED_WHOLE: usize = 1024;

/// `text` as it may go to a terminal, a page, an e-mail or a log line when someone else chose
/// it (a name typed, a field of a request, a server's certificate): control characters (an
/// escape sequence, a line break that would forge a line) written as escapes (`\u{1b}`,
/// `\n`), and so are the marks that make a line read other than it is: those that reorder
/// text (U+202E), hide (U+200B, U+FEFF) or break a line without being a control (U+2028).
pub fn inert(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            shown.extend(c.escape_debug());
        } else if misleads(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// True for the marks that make a line read other than it is without being control
/// characters: those that reorder text (U+202A-U+202E, U+2066-U+2069, U+200E-U+200F and the
/// Arabic letter mark U+061C), hide (U+200B-U+200D, U+2060-U+2064, U+FEFF, the soft hyphen,
/// the combining grapheme joiner, the Mongolian vowel separator, the Hangul fillers and the
/// tag characters U+E0000-U+E007F) or break a line (U+2028, U+2029).
pub fn misleads(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
            | '\u{61c}'
            | '\u{ad}'
            | '\u{34f}'
            | '\u{180e}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{3164}'
            | '\u{ffa0}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// `text` in single quotes, as a message quotes what was given: whole up to [`QUOTED_WHOLE`]
/// characters, otherwise its beginning and then its length, so that a value pasted by mistake
/// (a file's contents, 100,000 characters) does not fill a screen or a page.
pub fn quoted(text: &str) -> String {
    match beginning(text) {
        None => format!("'{}'", inert(text)),
        Some((start, count)) => format!("'{}...' ({count} characters)", inert(&start)),
    }
}

/// `path` as a shell reads it back, for a command a message gives to run: as it is when it
/// holds only letters, digits and `@%_+=:,./-`, else in single quotes (a `'` in it as `'\''`);
/// after `./` when it begins with `-`, which the command would take for an option. A path
/// holding a control character, a mark [`inert`] escapes, a backquote (which would seem to end
/// the command a message quotes in backquotes) or bytes that are not UTF-8 is written as
/// bash's `$'...'` with those as the bytes they are, `\xHH`: one line of printable text that
/// messages show as it is, which bash reads back exactly in any locale.
pub fn shell_word(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let escaped = |c: char| c.is_control() || misleads(c) || c == '`';
    let bytes = path.as_os_str().as_bytes();
    let prefix = if bytes.starts_with(b"-") { "./" } else { "" };
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(escaped) => {
            if !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"@%_+=:,./-".contains(&b))
            {
                format!("{prefix}{text}")
            } else {
                format!("'{prefix}{}'", text.replace('\'', "'\\''"))
            }
        }
        _ => {
            let mut word = format!("$'{prefix}");
            let push_bytes = |word: &mut String, bytes: &[u8]| {
                for b in bytes {
                    word.push_str(&format!("\\x{b:02x}"));
                }
            };
            for chunk in bytes.utf8_chunks() {
                for c in chunk.valid().chars() {
                    match c {
                        '\\' | '\'' => {
                            word.push('\\');
                            word.push(c);
                        }
                        c if escaped(c) => {
                            push_bytes(&mut word, c.encode_utf8(&mut [0; 4]).as_bytes())
                        }
                        c => word.push(c),
                    }
                }
                push_bytes(&mut word, chunk.invalid());
            }
            word.push('\'');
            word
        }
    }
}

/// `text` whole up to [`QUOTED_WHOLE`] characters, otherwise its beginning and its length,
/// for a message that quotes it in its own way.
pub fn shortened(text: &str) -> std::borrow::Cow<'_, str> {
    match beginning(text) {
        None => text.into(),
        Some((start, count)) => format!("{start}... ({count} characters)").into(),
    }
}

/// The first 64 characters of `text` and its length in characters, when it is too long to be
/// quoted whole.
fn beginning(text: &str) -> Option<(String, usize)> {
    let count = text.chars().count();
    (count > QUOTED_WHOLE).then(|| (text.chars().take(64).collect(), count))
}

/// Lowercase hex without separators, as the log and JSON write serials and fingerprints.
pub fn hex(bytes: &[u8]) -> String {
    // A digit table, not `write!` per byte: lists write two of these a row.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.extend_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0F)]]);
    }
    // Only ASCII digits were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Uppercase hex pairs joined by colons, as Windows and OpenSSL show fingerprints.
pub fn colons(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_in_a_command_to_run_is_quoted_as_the_shell_reads_it() {
        use std::path::Path;
        assert_eq!(
            shell_word(Path::new("/var/lib/ca/root.key")),
            "/var/lib/ca/root.key"
        );
        assert_eq!(shell_word(Path::new("my ca/root.key")), "'my ca/root.key'");
        assert_eq!(shell_word(Path::new("dr space'q/k")), "'dr space'\\''q/k'");
        assert_eq!(shell_word(Path::new("$HOME/k")), "'$HOME/k'");
        assert_eq!(shell_word(Path::new("")), "''");
        assert_eq!(shell_word(Path::new("-o/k")), "./-o/k");
        assert_eq!(shell_word(Path::new("-o u/k")), "'./-o u/k'");
    }

    /// A path with controls, marks that mislead or bytes that are not UTF-8 is written as
    /// printable text that `inert` leaves as it is, and bash (the judge) reads back the very
    /// bytes.
    #[test]
    fn a_path_no_terminal_may_show_as_it_is_is_written_for_bash_to_read_back() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        use std::path::Path;
        let hostile: [&[u8]; 8] = [
            b"a\nb/k",
            b"red\x1b[31m/k",
            "rtl\u{202e}txt.crt".as_bytes(),
            b"bad\xff\xfebytes/k",
            b"-q'x\\y\x07/k",
            "tag\u{e0041}/k".as_bytes(),
            "\u{85}next\rline\t/k".as_bytes(),
            b"`touch x`/k",
        ];
        for bytes in hostile {
            let word = shell_word(Path::new(OsStr::from_bytes(bytes)));
            assert!(word.starts_with("$'"), "{word}");
            assert_eq!(inert(&word), word);
            assert!(!word.contains('`'), "{word}");
            // In the C locale too, where bash reads no \\u escape.
            let read = std::process::Command::new("bash")
                .env("LC_ALL", "C")
                .args(["-c", &format!("printf %s {word}")])
                .output()
                .expect("bash runs");
            let expected = if bytes.starts_with(b"-") {
                [b"./", bytes].concat()
            } else {
                bytes.to_vec()
            };
            assert_eq!(read.stdout, expected, "{word}");
        }
    }

    #[test]
    fn quotes_what_someone_else_chose_with_its_controls_and_marks_escaped() {
        assert_eq!(
            quoted("x.example.com\u{1b}[31m\u{202e}moc"),
            "'x.example.com\\u{1b}[31m\\u{202e}moc'"
        );
        assert_eq!(quoted("bücher.example"), "'bücher.example'");
        // The Arabic letter mark reorders too; a soft hyphen, a Hangul filler and a tag
        // character show nothing.
        assert_eq!(
            quoted("a\u{61c}b\u{ad}c\u{3164}d\u{e0041}"),
            "'a\\u{61c}b\\u{ad}c\\u{3164}d\\u{e0041}'"
        );
    }

    #[test]
    fn quotes_what_was_typed_whole_and_anything_longer_by_its_start() {
        let longest = "a".repeat(QUOTED_WHOLE);
        assert_eq!(quoted(&longest), format!("'{longest}'"));
        // Characters are counted, not bytes.
        let accented = "é".repeat(QUOTED_WHOLE);
        assert_eq!(quoted(&accented), format!("'{accented}'"));
        let longer = "é".repeat(QUOTED_WHOLE + 1);
        assert_eq!(
            quoted(&longer),
            format!("'{}...' (1025 characters)", "é".repeat(64))
        );
        assert_eq!(shortened(&accented), accented);
        assert_eq!(
            shortened(&longer),
            format!("{}... (1025 characters)", "é".repeat(64))
        );
    }

    #[test]
    fn writes_utc_for_people_and_rfc3339_for_scripts() {
        let at = time::macros::datetime!(2027-12-27 11:04:05 +1);
        assert_eq!(time(at), "2027-12-27 10:04 UTC");
        assert_eq!(rfc3339(at), "2027-12-27T10:04:05Z");
    }

    #[test]
    fn reads_dates_and_rfc3339_times() {
        assert_eq!(
            parse_time("2027-12-27").expect("a date"),
            time::macros::datetime!(2027-12-27 00:00:00 UTC)
        );
        assert_eq!(
            parse_time(" 2027-12-27T11:04:05+01:00 ").expect("an RFC 3339 time"),
            time::macros::datetime!(2027-12-27 10:04:05 UTC)
        );
        // What `ca audit` and `ca list` print reads back, with or without its zone.
        let at = time::macros::datetime!(2027-12-27 10:04:00 UTC);
        assert_eq!(parse_time(&time(at)).expect("as printed"), at);
        assert_eq!(parse_time("2027-12-27 10:04").expect("as printed"), at);
        for bad in [
            "",
            "yesterday",
            "2027-13-01",
            "27-12-2027",
            "2027-12-27 10:04 CET",
            "2027-12-27 25:04",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_hex_both_ways() {
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
        assert_eq!(colons(&[0x0a, 0xff]), "0A:FF");
        assert_eq!(colons(&[]), "");
    }
}

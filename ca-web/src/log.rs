//! What the server writes to its log about requests: never a control character a client sent
//! (a forged line), never a secret.

/// `text` with every control character written as an escape (`\n`, `\u{1b}`), so that no
/// client can start a line of its own in the log or send a terminal escape to whoever reads it.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_control_character() {
        assert_eq!(
            clean("alice\n2026 INFO forged\u{1b}[31m\r\t"),
            "alice\\n2026 INFO forged\\u{1b}[31m\\r\\t"
        );
        assert_eq!(clean("bücher"), "bücher");
    }
}

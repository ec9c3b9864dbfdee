//! Fixed sets of named values (key types, formats, policies, reasons, statuses, roles): one
//! list and one spelling per set, read back the same way from every entry point and the log.

use crate::error::{Error, Result};

/// A value from a fixed set, each with one name.
pub trait Choice: Copy + Eq + Sized + 'static {
    /// What the values are, for error messages ("key type").
    const WHAT: &'static str;
    /// Every value, in the order help texts list them.
    const ALL: &'static [Self];

    /// The value's name, as people type it and the log keeps it.
    fn name(self) -> &'static str;

    /// Reads a name in any case, with or without hyphens or underscores (`keyCompromise`,
    /// `key-compromise`, `KEY_COMPROMISE`; `ecdsa-p256`, `ECDSAP256`).
    fn from_name(text: &str) -> Result<Self> {
        // The name as the log keeps it first; then any spelling, compared without copying
        // (the log's lists and CRLs read one of these a row).
        Self::ALL
            .iter()
            .copied()
            .find(|value| value.name() == text)
            .or_else(|| {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|value| squash(value.name()).eq(squash(text)))
            })
            .ok_or_else(|| Error::UnknownChoice {
                what: Self::WHAT,
                value: text.trim().to_owned(),
                choices: names::<Self>(),
            })
    }
}

/// Every name of `T`, as "a, b or c".
pub fn names<T: Choice>() -> String {
    let names: Vec<&str> = T::ALL.iter().map(|v| v.name()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => String::new(),
    }
}

/// The characters of `text` that count when names are compared: trimmed, lowercase, without
/// hyphens or underscores.
fn squash(text: &str) -> impl Iterator<Item = char> + '_ {
    text.trim()
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Colour {
        DarkRed,
        Blue,
    }

    impl Choice for Colour {
        const WHAT: &'static str = "colour";
        const ALL: &'static [Self] = &[Colour::DarkRed, Colour::Blue];
        fn name(self) -> &'static str {
            match self {
                Colour::DarkRed => "darkRed",
                Colour::Blue => "blue",
            }
        }
    }

    #[test]
    fn reads_names_in_any_case_with_or_without_separators() {
        for text in ["darkRed", "dark-red", "DARK_RED", " darkred "] {
            assert_eq!(Colour::from_name(text).unwrap(), Colour::DarkRed, "{text}");
        }
        match Colour::from_name("green") {
            Err(Error::UnknownChoice {
                what,
                value,
                choices,
            }) => {
                assert_eq!((what, value.as_str()), ("colour", "green"));
                assert_eq!(choices, "darkRed or blue");
            }
            other => panic!("{other:?}"),
        }
    }
}

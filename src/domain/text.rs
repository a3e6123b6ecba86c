//! Text as people type it, made safe to store and show: Unicode NFC (so that the same name typed
//! on two systems is the same string), trimmed, and free of control characters (NUL cannot even
//! be stored in PostgreSQL) and of the invisible characters that reorder text (`U+202E` makes
//! `evil` display as `live`), which have no place in names and are a known spoofing trick.

use unicode_normalization::UnicodeNormalization;

use crate::domain::field_error::FieldError;

/// Whether a field is one line (a name, a title) or free text (a note, a question).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("contains the control character U+{0:04X}")]
    Control(u32),
    #[error("contains U+{0:04X}, which changes the direction of the text around it")]
    Bidi(u32),
}

/// Explicit embeddings, overrides and isolates, and the invisible direction marks.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// The characters `clean` refuses in one line, as a regular-expression class body: controls (Cc)
/// and the direction controls of `is_bidi_control`.
pub const REFUSED_CLASS: &str = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069";
/// The white space `str::trim` removes that is not a control (Unicode `White_Space`).
pub const SPACE_CLASS: &str = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A regular expression (ECMA-262, as JSON Schema's `pattern`) for the text `text` accepts:
/// nothing refused and something besides white space, or (unless `required`) white space alone.
/// Free text may also hold tabs, line feeds and CRLF pairs. Linear: white space, the first other
/// character, the rest.
pub fn pattern(lines: Lines, required: bool) -> String {
    let (refused, space) = (REFUSED_CLASS, SPACE_CLASS);
    let any = character(lines);
    let blank = match lines {
        Lines::One => format!("[{space}]"),
        Lines::Many => format!("(?:[{space}\\t\\n]|\\r\\n)"),
    };
    let text = format!("^{blank}*[^{refused}{space}]{any}*$");
    if required {
        text
    } else {
        // Left blank (white space alone, controls among it included, as `str::trim` removes them)
        // is left out.
        format!("^[{space}\\t\\n\\x0b\\x0c\\r\\x85]*$|{text}")
    }
}

/// One character `clean` takes (a line break as `\n` or `\r\n`).
fn character(lines: Lines) -> String {
    let refused = REFUSED_CLASS;
    match lines {
        Lines::One => format!("[^{refused}]"),
        Lines::Many => format!("(?:[^{refused}]|[\\t\\n]|\\r\\n)"),
    }
}

/// The JSON-schema pattern of a value that holds no character `clean` refuses, or is white
/// space alone (which `str::trim` leaves empty, controls among it included).
pub fn characters_pattern(lines: Lines) -> String {
    format!(
        "^[{SPACE_CLASS}\\t\\n\\x0b\\x0c\\r\\x85]*$|^{}*$",
        character(lines)
    )
}

/// Why `value` holds a character no text with `lines` may (see `clean`), unless it is white space
/// alone, which counts as left out: what `characters_pattern` states, for the query values the
/// edge checks before any filter reads them.
pub fn refused_characters(value: &str, lines: Lines) -> Option<TextError> {
    if value.trim().is_empty() {
        return None;
    }
    clean(value, lines).err()
}

/// `value` in NFC and trimmed, or why it cannot be taken. Free text keeps line breaks (as `\n`)
/// and tabs.
pub fn clean(value: &str, lines: Lines) -> Result<String, TextError> {
    let normalized: String = value.replace("\r\n", "\n").nfc().collect();
    for c in normalized.chars() {
        let allowed_space = lines == Lines::Many && (c == '\n' || c == '\t');
        if c.is_control() && !allowed_space {
            return Err(TextError::Control(u32::from(c)));
        }
        if is_bidi_control(c) {
            return Err(TextError::Bidi(u32::from(c)));
        }
    }
    Ok(normalized.trim().to_owned())
}

/// `value` cleaned (see `clean`), with an error on `field` unless it then has 1 to `max`
/// characters: for names and titles (one line).
/// A whole number as people type one in Japan: full-width digits (NFKC), thousands separators
/// and surrounding space allowed; `None` when it is not one.
pub fn typed_integer(value: &str) -> Option<i64> {
    let digits: String = value
        .nfkc()
        .filter(|&c| c != ',' && !c.is_whitespace())
        .collect();
    digits.parse().ok()
}

pub fn required_text(value: &str, field: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    text(value, field, max, Lines::One, errors)
}

/// `required_text` for free text (questions, answers, reasons), which may have several lines.
pub fn required_prose(
    value: &str,
    field: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> String {
    text(value, field, max, Lines::Many, errors)
}

/// An optional field: `None` when left out or blank, else cleaned and at most `max` characters.
pub fn optional_text(
    value: Option<&str>,
    field: &str,
    max: usize,
    lines: Lines,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = value?;
    if value.trim().is_empty() && value.chars().count() <= max {
        return None;
    }
    Some(text(value, field, max, lines, errors))
}

fn text(
    value: &str,
    field: &str,
    max: usize,
    lines: Lines,
    errors: &mut Vec<FieldError>,
) -> String {
    // Counted as sent, before trimming and composing, as the API document's `maxLength` counts.
    let too_long = value.chars().count() > max;
    match clean(value, lines) {
        Ok(value) => {
            if value.is_empty() || too_long {
                errors.push(FieldError::new(
                    field,
                    "invalid_length",
                    format!("{field} has 1 to {max} characters"),
                ));
            }
            value
        }
        Err(why) => {
            errors.push(FieldError::new(
                field,
                "invalid_characters",
                format!("{field} {why}"),
            ));
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_read_as_typed() {
        use super::typed_integer;
        assert_eq!(typed_integer("１,０００"), Some(1000));
        assert_eq!(typed_integer(" 9,000,000 "), Some(9_000_000));
        assert_eq!(typed_integer("-5"), Some(-5));
        assert_eq!(typed_integer(""), None);
        assert_eq!(typed_integer("1.5"), None);
        assert_eq!(typed_integer("many"), None);
    }

    use super::*;

    #[test]
    fn names_are_composed_and_trimmed() {
        // が as か + combining voiced mark, as some input methods and macOS file names send it.
        assert_eq!(clean(" \u{304B}\u{3099}く ", Lines::One), Ok("がく".into()));
        assert_eq!(clean("長野市", Lines::One), Ok("長野市".into()));
    }

    #[test]
    fn control_and_direction_characters_are_refused() {
        assert_eq!(
            clean("\u{202E}evil\u{0000}name", Lines::One),
            Err(TextError::Bidi(0x202E))
        );
        assert_eq!(clean("a\u{0000}b", Lines::Many), Err(TextError::Control(0)));
        assert_eq!(clean("a\nb", Lines::One), Err(TextError::Control(0x0A)));
        assert_eq!(
            clean("a\u{2067}b", Lines::Many),
            Err(TextError::Bidi(0x2067))
        );
        assert_eq!(
            clean("a\u{200F}b", Lines::One),
            Err(TextError::Bidi(0x200F))
        );
    }

    #[test]
    fn free_text_keeps_its_lines() {
        assert_eq!(
            clean("一行目\r\n二行目\t", Lines::Many),
            Ok("一行目\n二行目".into())
        );
    }
}

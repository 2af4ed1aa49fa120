//! Names a person reads: an upload's display name is cut to its last path component and
//! cleaned of every character that changes how the text around it looks without being
//! seen itself, by Unicode general category rather than a list.

/// Makes the display name of an upload safe to store and echo: the last path component
/// only, no hidden characters (see [`is_hidden_character`]), at most 255 bytes. `None`
/// when nothing usable is left.
pub fn sanitize_filename(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut clean = String::new();
    for ch in base
        .chars()
        .filter(|&c| !is_hidden_character(c) && !matches!(c, '"' | '<' | '>'))
    {
        if clean.len() + ch.len_utf8() > 255 {
            break;
        }
        clean.push(ch);
    }
    // A leading run of dots and spaces in any mix goes, so that no name starts with a dot
    // (trimming dots, then spaces, once each left ". .x" as ".x"; found by the fuzzer).
    let clean = clean
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end()
        .to_string();
    (!clean.is_empty()).then_some(clean)
}

/// Characters that change how text around them looks or reads without being seen
/// themselves, and so have no place in a name a person reads: controls, format characters
/// (Unicode category Cf: the bidi overrides and isolates that make `photo\u{202e}gpj.exe`
/// display as `photoexe.jpg`, zero-width joiners and spaces, the byte-order mark), line
/// and paragraph separators, private-use, surrogate and unassigned code points. Decided
/// by the Unicode general category, not a list, so that every member of a class goes.
pub fn is_hidden_character(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
            | GeneralCategory::Unassigned
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_paths_controls_and_leading_dots() {
        assert_eq!(
            sanitize_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(sanitize_filename("C:\\x\\a.jpg").as_deref(), Some("a.jpg"));
        assert_eq!(sanitize_filename("a\r\nb\".jpg").as_deref(), Some("ab.jpg"));
        assert_eq!(sanitize_filename(".htaccess").as_deref(), Some("htaccess"));
        assert_eq!(sanitize_filename("../"), None);
        assert_eq!(sanitize_filename(". . .hidden").as_deref(), Some("hidden"));
        assert_eq!(sanitize_filename("..........   ... ..."), None);
        assert_eq!(sanitize_filename(" .x. y ").as_deref(), Some("x. y"));
        // Every bidi control, zero-width and separator character goes, not just U+202E.
        for hidden in [
            '\u{202e}', '\u{202d}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200e}',
            '\u{200f}', '\u{061c}', '\u{200b}', '\u{feff}', '\u{2028}', '\u{2029}', '\u{e000}',
        ] {
            assert_eq!(
                sanitize_filename(&format!("photo{hidden}gpj.exe")).as_deref(),
                Some("photogpj.exe"),
                "U+{:04X}",
                u32::from(hidden)
            );
        }
        assert_eq!(
            sanitize_filename("żółw ünïcode.jpg").as_deref(),
            Some("żółw ünïcode.jpg")
        );
        assert_eq!(
            sanitize_filename(&"é".repeat(300)).map(|s| s.len()),
            Some(254)
        );
    }
}

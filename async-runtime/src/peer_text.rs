//! A peer's text as this process shows it: in a log line, an error, the run's report. A peer
//! chooses every character, so none of them may act on the terminal or the line around it.

/// The longest text of a peer's that a log line or an error shows.
pub(crate) const MAX_PEER_TEXT: usize = 400;

/// A text a peer sent (a failed task's message, a refusal's reason), as a log line or an error
/// may show it: every character that is invisible or moves the text around it escaped as
/// `\u{...}` (controls, line and paragraph separators, bidirectional overrides and isolates,
/// zero-width and other format characters, whitespace other than a plain space), so that it can
/// neither break or reorder the line nor reach the terminal as an escape sequence, and at most
/// 400 characters. Letters of any script stay as they are.
pub fn peer_text(text: &str) -> String {
    let mut shown = String::new();
    for c in text.chars().take(MAX_PEER_TEXT) {
        if is_hidden_or_layout(c) {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    if text.chars().nth(MAX_PEER_TEXT).is_some() {
        shown.push_str("...");
    }
    shown
}

/// Whether `c` is invisible or changes the layout or direction of what follows: a control, a
/// whitespace other than the plain space, or a character of the format category or otherwise
/// ignorable by default (Unicode's `Cf` and `Default_Ignorable_Code_Point`).
fn is_hidden_or_layout(c: char) -> bool {
    c.is_control() || (c.is_whitespace() && c != ' ') || INVISIBLE.iter().any(|r| r.contains(&c))
}

/// The format characters (`Cf`) and those ignorable by default, which render as nothing or
/// steer the text around them; `char::is_control` and `char::is_whitespace` cover the rest.
const INVISIBLE: &[std::ops::RangeInclusive<char>] = &[
    '\u{00AD}'..='\u{00AD}',   // soft hyphen
    '\u{034F}'..='\u{034F}',   // combining grapheme joiner
    '\u{0600}'..='\u{0605}',   // Arabic number signs, which span the digits after them
    '\u{061C}'..='\u{061C}',   // Arabic letter mark
    '\u{06DD}'..='\u{06DD}',   // end of ayah
    '\u{070F}'..='\u{070F}',   // Syriac abbreviation mark
    '\u{0890}'..='\u{0891}',   // Arabic pound and piastre marks above
    '\u{08E2}'..='\u{08E2}',   // disputed end of ayah
    '\u{115F}'..='\u{1160}',   // Hangul fillers
    '\u{17B4}'..='\u{17B5}',   // Khmer inherent vowels
    '\u{180B}'..='\u{180F}',   // Mongolian variation selectors and vowel separator
    '\u{200B}'..='\u{200F}',   // zero-width space, joiners, direction marks
    '\u{202A}'..='\u{202E}',   // bidirectional embeddings and overrides
    '\u{2060}'..='\u{206F}',   // word joiner, invisible operators, bidirectional isolates
    '\u{3164}'..='\u{3164}',   // Hangul filler
    '\u{FE00}'..='\u{FE0F}',   // variation selectors
    '\u{FEFF}'..='\u{FEFF}',   // zero-width no-break space (byte order mark)
    '\u{FFA0}'..='\u{FFA0}',   // halfwidth Hangul filler
    '\u{FFF0}'..='\u{FFFB}',   // unassigned specials, interlinear annotation
    '\u{110BD}'..='\u{110BD}', // Kaithi number sign
    '\u{110CD}'..='\u{110CD}', // Kaithi number sign above
    '\u{13430}'..='\u{1343F}', // Egyptian hieroglyph format controls
    '\u{1BCA0}'..='\u{1BCA3}', // shorthand format controls
    '\u{1D173}'..='\u{1D17A}', // musical symbol format controls
    '\u{E0000}'..='\u{E0FFF}', // tags and variation selectors supplement
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peers_text_is_one_line_of_bounded_length() {
        assert_eq!(peer_text("plain, ünïcode"), "plain, ünïcode");
        assert_eq!(
            peer_text("a\nINFO forged\u{1b}[2J"),
            "a\\nINFO forged\\u{1b}[2J"
        );
        let long = peer_text(&"x".repeat(10_000));
        assert_eq!(long.len(), MAX_PEER_TEXT + 3);
        // Escapes do not count against the bound: what is cut is the peer's text.
        let hidden = peer_text(&"\u{202E}".repeat(10_000));
        assert_eq!(hidden, format!("{}...", "\\u{202e}".repeat(MAX_PEER_TEXT)));
    }

    #[test]
    fn a_peers_text_can_neither_reorder_nor_hide_nor_break_its_line() {
        let cases = [
            // Controls, C0 and C1 (U+0085 is a line break to some terminals).
            ("\u{0}\u{7f}\u{85}\u{9b}", "\\u{0}\\u{7f}\\u{85}\\u{9b}"),
            // Line and paragraph separators: a forged log line.
            ("a\u{2028}INFO b\u{2029}c", "a\\u{2028}INFO b\\u{2029}c"),
            // Bidirectional embeddings, overrides, isolates and marks.
            (
                "\u{202A}\u{202B}\u{202C}\u{202D}\u{202E}",
                "\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{202e}",
            ),
            (
                "\u{2066}\u{2067}\u{2068}\u{2069}\u{200E}\u{200F}\u{61C}",
                "\\u{2066}\\u{2067}\\u{2068}\\u{2069}\\u{200e}\\u{200f}\\u{61c}",
            ),
            // Zero-width and other invisible format characters.
            (
                "a\u{200B}\u{200C}\u{200D}\u{2060}\u{2064}\u{FEFF}\u{AD}\u{180E}b",
                "a\\u{200b}\\u{200c}\\u{200d}\\u{2060}\\u{2064}\\u{feff}\\u{ad}\\u{180e}b",
            ),
            (
                "\u{FFF9}\u{FFFA}\u{FFFB}\u{600}\u{3164}",
                "\\u{fff9}\\u{fffa}\\u{fffb}\\u{600}\\u{3164}",
            ),
            // Tag characters, which spell hidden ASCII.
            (
                "ok\u{E0001}\u{E0068}\u{E0069}\u{E007F}",
                "ok\\u{e0001}\\u{e0068}\\u{e0069}\\u{e007f}",
            ),
            // Whitespace other than a plain space.
            (
                "a b\u{A0}c\u{1680}\u{2000}\u{200A}\u{202F}\u{205F}\u{3000}d",
                "a b\\u{a0}c\\u{1680}\\u{2000}\\u{200a}\\u{202f}\\u{205f}\\u{3000}d",
            ),
        ];
        for (sent, shown) in cases {
            assert_eq!(peer_text(sent), shown, "{sent:?}");
        }
    }

    #[test]
    fn letters_of_any_script_stay_readable() {
        for text in [
            "/δεδομένα/αρχείο.csv",
            "café, cafe\u{301}, naïve",
            "/データ/訓練.libsvm",
            "ملف البيانات",
            "שורה 3",
            "emoji 🦀",
        ] {
            assert_eq!(peer_text(text), text);
        }
    }
}

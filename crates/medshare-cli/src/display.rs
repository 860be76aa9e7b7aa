//! Everything this binary prints passes through [`clean`]: text from a hub, a certificate, a
//! decrypted manifest or a classified file is untrusted, and control characters in it could
//! drive the user's terminal (move the cursor, rewrite what was printed, set the window title,
//! hide text) or reorder what they read (bidirectional overrides).

use std::borrow::Cow;

/// Whether a character may reach a terminal as is.
fn harmless(c: char) -> bool {
    match c {
        '\n' | '\t' => true,
        // C0, DEL and C1 controls (ESC starts every terminal control sequence; U+009B is CSI).
        c if c.is_control() => false,
        // Bidirectional embeddings, overrides and isolates.
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}' => false,
        _ => true,
    }
}

/// `text` with every control character replaced by U+FFFD.
pub fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().all(harmless) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(
            text.chars()
                .map(|c| if harmless(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

/// `println!` for anything that may carry untrusted text.
#[macro_export]
macro_rules! say {
    () => { println!() };
    ($($arg:tt)*) => { println!("{}", $crate::display::clean(&format!($($arg)*))) };
}

/// `eprintln!` for anything that may carry untrusted text.
#[macro_export]
macro_rules! warn_user {
    ($($arg:tt)*) => { eprintln!("{}", $crate::display::clean(&format!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_never_pass() {
        for evil in [
            "Report\x1b]0;pwned\x07",
            "Report\x1b[2J\x1b[1;1H",
            "Report\u{9b}31m",
            "Report\r overwritten",
            "abc\u{202E}fdp.exe",
            "a\u{2066}b\u{2069}",
            "bell\x07\x08\x7f",
        ] {
            let c = clean(evil);
            assert!(c.chars().all(harmless), "{evil:?} -> {c:?}");
            assert!(!c.contains('\x1b') && !c.contains('\r'));
        }
        assert!(matches!(
            clean("Chan Tai Man 陳大文\tline\n"),
            Cow::Borrowed(_)
        ));
    }
}

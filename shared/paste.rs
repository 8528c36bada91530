//! Bracketed paste: how a prompt goes into a CLI's input as one piece of
//! text, and why its bytes can never end the paste early. Below events
//! (a prompt's digest ignores the markers) and the harnesses.

const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";

/// `prompt` as one bracketed paste, markers included, whatever the program
/// has asked of its terminal.
pub fn bracketed(prompt: &[u8]) -> Vec<u8> {
    [PASTE_START, &strip_paste_markers(prompt), PASTE_END].concat()
}

/// Remove bracketed-paste markers, so a prompt cannot close the paste and
/// have its tail read as keystrokes.
pub fn strip_paste_markers(prompt: &[u8]) -> Vec<u8> {
    let mut out = prompt.to_vec();
    // Removing one marker can join two halves into a new one; repeat until none.
    loop {
        let before = out.len();
        for m in [PASTE_START, PASTE_END] {
            while let Some(i) = memchr::memmem::find(&out, m) {
                out.drain(i..i + m.len());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paste_markers_cannot_survive() {
        assert_eq!(strip_paste_markers(b"a\x1b[201~b\x1b[200~c"), b"abc");
        assert_eq!(strip_paste_markers(b"\x1b[20\x1b[201~1~x"), b"x");
        assert_eq!(bracketed(b"a\nb\x1b[201~"), b"\x1b[200~a\nb\x1b[201~");
    }
}

//! The rules' name and User-Agent patterns: `*` matches any run of characters (dots
//! included); split at the stars once, rejected on length and end bytes before comparing.

/// A pattern where `*` matches any run of characters (dots included) and everything else
/// literally; both sides lower case. Split at the stars once, when the rules load: matching
/// runs for every rule pattern against every flow name and must neither allocate nor search
/// for the stars again.
#[derive(Clone, Debug)]
pub(super) struct Glob {
    /// The text between stars; one piece means no star (an exact match).
    pieces: Vec<String>,
    /// The shortest text that can match: the pieces' lengths together.
    min_len: usize,
}

/// `text` starts with `piece`. A certificate brings dozens of names and each meets every rule
/// pattern, so most comparisons fail: the length and the first byte reject those without a
/// call to `memcmp`.
fn starts_with(text: &str, piece: &str) -> bool {
    piece.is_empty()
        || (piece.len() <= text.len()
            && piece.as_bytes().first() == text.as_bytes().first()
            && text.as_bytes().get(..piece.len()) == Some(piece.as_bytes()))
}

/// `text` ends with `piece`, rejecting on the last byte first (see [`starts_with`]).
fn ends_with(text: &str, piece: &str) -> bool {
    piece.is_empty()
        || (piece.len() <= text.len()
            && piece.as_bytes().last() == text.as_bytes().last()
            && text.as_bytes().get(text.len() - piece.len()..) == Some(piece.as_bytes()))
}

impl Glob {
    pub(super) fn new(pattern: &str) -> Glob {
        let pieces: Vec<String> = pattern.split('*').map(str::to_owned).collect();
        let min_len = pieces.iter().map(String::len).sum();
        Glob { pieces, min_len }
    }

    pub(super) fn matches(&self, text: &str) -> bool {
        if text.len() < self.min_len {
            return false;
        }
        let Some((first, after_first)) = self.pieces.split_first() else {
            return false;
        };
        let Some((last, middle)) = after_first.split_last() else {
            return text == first;
        };
        if !starts_with(text, first) || !ends_with(text, last) {
            return false;
        }
        // Middle pieces in order, between the first and the last piece.
        let mut rest = text
            .get(first.len()..text.len() - last.len())
            .unwrap_or_default();
        for piece in middle {
            match rest.find(piece.as_str()) {
                Some(at) => rest = rest.get(at + piece.len()..).unwrap_or_default(),
                None => return false,
            }
        }
        true
    }
}

pub(super) fn globs(patterns: impl IntoIterator<Item = String>) -> Vec<Glob> {
    patterns.into_iter().map(|p| Glob::new(&p)).collect()
}

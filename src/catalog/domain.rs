//! Domain patterns of the catalog and their matcher.
//!
//! Forms: exact names, `*` as a whole label (one or more whole labels: `*.office.com` matches
//! `a.b.office.com`, not `office.com`; `autodiscover.*.onmicrosoft.com` likewise), and `*` inside
//! a label (`*cdn.onenote.net`: one or more characters within that one label). Label boundaries
//! always hold. Names are compared case-insensitively, trailing dot ignored.

use crate::flow::FastMap as HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Label {
    Literal(String),
    /// `*` alone: one or more whole labels.
    AnyLabels,
    /// `*` inside a label: the literal pieces around each `*`, each `*` one or more characters.
    Glob(Vec<String>),
}

/// How specific a pattern is; a larger value wins. Exact names beat every wildcard; among
/// wildcards, more fixed labels win, then more fixed characters in partly fixed labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Specificity {
    pub exact: bool,
    pub fixed_labels: u16,
    pub fixed_chars: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainPattern {
    text: String,
    labels: Vec<Label>,
}

/// The longest DNS name in text form (RFC 1035: 255 octets on the wire).
pub const MAX_NAME_LEN: usize = 253;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("empty name")]
    Empty,
    #[error("empty label")]
    EmptyLabel,
    #[error("name longer than 253 characters")]
    TooLong,
}

impl DomainPattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let norm = normalize(text);
        if norm.is_empty() {
            return Err(PatternError::Empty);
        }
        if norm.len() > MAX_NAME_LEN {
            return Err(PatternError::TooLong);
        }
        let mut labels = Vec::new();
        for part in norm.split('.') {
            labels.push(match part {
                "" => return Err(PatternError::EmptyLabel),
                "*" => Label::AnyLabels,
                p if p.contains('*') => Label::Glob(p.split('*').map(str::to_owned).collect()),
                p => Label::Literal(p.to_owned()),
            });
        }
        Ok(DomainPattern { text: norm, labels })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn specificity(&self) -> Specificity {
        let mut s = Specificity {
            exact: true,
            fixed_labels: 0,
            fixed_chars: 0,
        };
        for label in &self.labels {
            match label {
                Label::Literal(_) => s.fixed_labels += 1,
                Label::AnyLabels => s.exact = false,
                Label::Glob(parts) => {
                    s.exact = false;
                    let chars: usize = parts.iter().map(String::len).sum();
                    s.fixed_chars = s.fixed_chars.saturating_add(chars as u16);
                }
            }
        }
        s
    }

    /// The literal labels right of the last wildcard label: the index key.
    fn fixed_suffix(&self) -> String {
        let fixed: Vec<&str> = self
            .labels
            .iter()
            .rev()
            .map_while(|l| match l {
                Label::Literal(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        fixed.into_iter().rev().collect::<Vec<_>>().join(".")
    }

    /// Does the (already normalized) name match?
    pub fn matches(&self, name: &str) -> bool {
        let labels: Vec<&str> = name.split('.').collect();
        self.matches_labels(&labels)
    }

    /// The same for a name already split into labels (split once per lookup, not per pattern).
    pub fn matches_labels(&self, labels: &[&str]) -> bool {
        match_labels(&self.labels, labels)
    }
}

/// Wildcard matching over labels, backtracking only to the last `*` label: O(pattern x name).
/// Every label but `*` matches exactly one name label, so when a later part fails, letting the
/// last `*` take one more label is the only retry that can help (the classic glob argument).
/// The recursive form tried every split for every `*` and was exponential in their number: a
/// pattern like `*.*.**.*.*.x` against a 16 KB name did not finish in the fuzz target's 30 s.
fn match_labels(pattern: &[Label], name: &[&str]) -> bool {
    let (mut p, mut n) = (0, 0);
    // The pattern index after the last `*` and the name index its labels reach (exclusive).
    let mut last_star: Option<(usize, usize)> = None;
    while let Some(&label) = name.get(n) {
        match pattern.get(p) {
            Some(Label::AnyLabels) => {
                // A `*` takes one label at first; a retry takes one more.
                p += 1;
                n += 1;
                last_star = Some((p, n));
            }
            Some(fixed) if label_matches(fixed, label) => {
                p += 1;
                n += 1;
            }
            _ => match last_star {
                Some((after, reached)) => {
                    p = after;
                    n = reached + 1;
                    last_star = Some((after, n));
                }
                None => return false,
            },
        }
    }
    // Every pattern label takes at least one name label, so none may be left over.
    p == pattern.len()
}

fn label_matches(label: &Label, name_label: &str) -> bool {
    match label {
        Label::Literal(l) => l == name_label,
        Label::AnyLabels => true,
        Label::Glob(parts) => glob_label(parts, name_label),
    }
}

/// `parts` are the literal pieces between `*`s; each `*` covers at least one character.
fn glob_label(parts: &[String], label: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let Some(mut remaining) = label.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining == first.as_str();
    };
    for piece in middle {
        // Skip at least one character for the `*` before this piece.
        let Some(after_star) = remaining.get(1..) else {
            return false;
        };
        let Some(at) = after_star.find(piece.as_str()) else {
            return false;
        };
        remaining = after_star.get(at + piece.len()..).unwrap_or_default();
    }
    remaining.len() > last.len() && remaining.ends_with(last.as_str())
}

/// [`normalize`], borrowing `name` when it already is (names off the wire nearly always are
/// lower case): no copy then.
pub fn normalized(name: &str) -> std::borrow::Cow<'_, str> {
    let plain = !name.ends_with('.')
        && !name
            .bytes()
            .any(|b| b.is_ascii_uppercase() || b.is_ascii_whitespace());
    if plain {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(normalize(name))
    }
}

/// The last `count` labels of `name` (all of it when it has no more; empty for 0).
fn last_labels(name: &str, count: usize) -> &str {
    let Some(skip) = count.checked_sub(1) else {
        return "";
    };
    match name.rmatch_indices('.').nth(skip) {
        Some((at, _)) => name.get(at + 1..).unwrap_or(name),
        None => name,
    }
}

/// `name`'s suffixes at label boundaries of at most `max_labels` labels, longest first
/// (`a.b.com` with 2: `b.com`, `com`): the only ones that can be keys of a set or index whose
/// longest key has `max_labels` labels. Only the last labels: a 16 KB name of one-letter labels
/// off the wire has 8,000 suffixes, and hashing each cost time quadratic in its length.
pub fn key_suffixes(name: &str, max_labels: usize) -> impl Iterator<Item = &str> {
    let longest = last_labels(name, max_labels);
    std::iter::once(longest).filter(|s| !s.is_empty()).chain(
        longest
            .match_indices('.')
            .filter_map(move |(at, _)| longest.get(at + 1..)),
    )
}

/// Lower-case ASCII and drop one trailing dot.
pub fn normalize(name: &str) -> String {
    let trimmed = name.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    trimmed.to_ascii_lowercase()
}

/// All patterns, indexed by their fixed suffix so a lookup only tries patterns that can match.
#[derive(Clone, Debug, Default)]
pub struct DomainIndex<T> {
    patterns: Vec<(DomainPattern, Vec<T>)>,
    by_text: HashMap<String, usize>,
    by_suffix: HashMap<String, Vec<usize>>,
    /// The most labels any key of `by_suffix` has: a name's longer suffixes are never keys.
    max_suffix_labels: usize,
}

impl<T: Clone + PartialEq> DomainIndex<T> {
    pub fn insert(&mut self, pattern: DomainPattern, value: T) {
        if let Some(&i) = self.by_text.get(pattern.as_str()) {
            if let Some((_, values)) = self.patterns.get_mut(i) {
                if !values.contains(&value) {
                    values.push(value);
                }
            }
            return;
        }
        let i = self.patterns.len();
        self.by_text.insert(pattern.as_str().to_owned(), i);
        let suffix = pattern.fixed_suffix();
        if !suffix.is_empty() {
            self.max_suffix_labels = self.max_suffix_labels.max(suffix.split('.').count());
        }
        self.by_suffix.entry(suffix).or_default().push(i);
        self.patterns.push((pattern, vec![value]));
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The most specific matching patterns (several when tied) with their values.
    pub fn lookup(&self, name: &str) -> Vec<(&DomainPattern, &[T])> {
        let mut all = self.lookup_all(name);
        all.retain(|hit| hit.rank == 0);
        all.into_iter()
            .map(|hit| (hit.pattern, hit.values))
            .collect()
    }

    /// Every matching pattern with its values, most specific first. `rank` is 0 for the most
    /// specific patterns, 1 for the next specificity down, and so on (ties share a rank).
    pub fn lookup_all(&self, name: &str) -> Vec<PatternHit<'_, T>> {
        let name = normalized(name);
        if name.is_empty() {
            return Vec::new();
        }
        let mut found: Vec<(Specificity, &DomainPattern, &[T])> = Vec::new();
        let labels: Vec<&str> = name.split('.').collect();
        let mut consider = |i: &usize| {
            if let Some((pattern, values)) = self.patterns.get(*i) {
                if pattern.matches_labels(&labels) {
                    found.push((pattern.specificity(), pattern, values.as_slice()));
                }
            }
        };
        // Every suffix that can be a key, longest first, then the empty suffix.
        for suffix in key_suffixes(&name, self.max_suffix_labels) {
            if let Some(candidates) = self.by_suffix.get(suffix) {
                candidates.iter().for_each(&mut consider);
            }
        }
        if let Some(candidates) = self.by_suffix.get("") {
            candidates.iter().for_each(&mut consider);
        }
        // Stable, so equal specificities keep a fixed order run after run.
        found.sort_by_key(|hit| std::cmp::Reverse(hit.0));
        let mut rank = 0u16;
        let mut previous = None;
        found
            .into_iter()
            .map(|(spec, pattern, values)| {
                if previous.is_some_and(|p| p != spec) {
                    rank = rank.saturating_add(1);
                }
                previous = Some(spec);
                PatternHit {
                    pattern,
                    values,
                    rank,
                }
            })
            .collect()
    }
}

/// One pattern that matched a name, with its values and how specific it is among the matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatternHit<'a, T> {
    pub pattern: &'a DomainPattern,
    pub values: &'a [T],
    /// 0 for the most specific matches; ties share a rank.
    pub rank: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        DomainPattern::parse(p).unwrap().matches(&normalize(n))
    }

    #[test]
    fn wildcard_forms_and_boundaries() {
        assert!(m("*.office.com", "a.office.com"));
        assert!(m("*.office.com", "a.b.office.com"));
        assert!(!m("*.office.com", "office.com"));
        assert!(!m("*.office365.com", "notoffice365.com"));
        assert!(!m("*.office365.com", "x.notoffice365.com"));
        assert!(m(
            "autodiscover.*.onmicrosoft.com",
            "autodiscover.contoso.onmicrosoft.com"
        ));
        assert!(m(
            "autodiscover.*.onmicrosoft.com",
            "autodiscover.a.b.onmicrosoft.com"
        ));
        assert!(!m(
            "autodiscover.*.onmicrosoft.com",
            "autodiscover.onmicrosoft.com"
        ));
        assert!(m("*cdn.onenote.net", "xyzcdn.onenote.net"));
        assert!(!m("*cdn.onenote.net", "cdn.onenote.net"));
        assert!(!m("*cdn.onenote.net", "a.bcdn.onenote.net"));
        assert!(m("*-files.sharepoint.com", "contoso-files.sharepoint.com"));
        assert!(m("outlook.office365.com", "OUTLOOK.Office365.com."));
        assert!(!m(
            "outlook.office365.com",
            "outlook.office365.com.evil.net"
        ));
        assert!(m("a*b*c.x", "a1b2c.x"));
        assert!(!m("a*b*c.x", "abc.x"));
    }

    /// The former recursive matcher: exponential in the number of `*` labels, but plainly right.
    fn reference(pattern: &[Label], name: &[&str]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some((Label::AnyLabels, rest)) => (1..=name.len()).any(|k| reference(rest, &name[k..])),
            Some((label, rest)) => match name.split_first() {
                Some((first, tail)) => label_matches(label, first) && reference(rest, tail),
                None => false,
            },
        }
    }

    #[test]
    fn backtracking_matcher_agrees_with_the_recursive_one() {
        // Every pattern of up to 5 labels from these forms against every name of up to 6 labels.
        let forms = ["*", "a", "b", "x*"];
        let name_labels = ["a", "b", "xa"];
        let mut patterns: Vec<Vec<&str>> = vec![vec![]];
        let mut compared = 0;
        for _ in 0..5 {
            patterns = patterns
                .iter()
                .flat_map(|p| forms.iter().map(move |f| [p.as_slice(), &[*f]].concat()))
                .chain(patterns.iter().cloned())
                .collect();
            patterns.sort();
            patterns.dedup();
        }
        let mut names: Vec<Vec<&str>> = vec![vec![]];
        for _ in 0..6 {
            names = names
                .iter()
                .flat_map(|n| {
                    name_labels
                        .iter()
                        .map(move |l| [n.as_slice(), &[*l]].concat())
                })
                .chain(names.iter().cloned())
                .collect();
            names.sort();
            names.dedup();
        }
        for p in patterns.iter().filter(|p| !p.is_empty()) {
            let pattern = DomainPattern::parse(&p.join(".")).unwrap();
            for n in names.iter().filter(|n| !n.is_empty()) {
                assert_eq!(
                    match_labels(&pattern.labels, n),
                    reference(&pattern.labels, n),
                    "{} against {}",
                    p.join("."),
                    n.join(".")
                );
                compared += 1;
            }
        }
        assert_eq!(compared, 1364 * 1092);
    }

    #[test]
    fn many_star_labels_against_a_long_name_stay_fast() {
        // The fuzz target's timeout input: four `*` labels against thousands of labels. The
        // recursive matcher did not finish in 30 s; this one walks the name a few times.
        let pattern = DomainPattern::parse("*.*.*x*.*.*.com").unwrap();
        let name = "a.".repeat(4_000) + "net";
        assert!(!pattern.matches(&name));
        let name = "a.".repeat(4_000) + "bxc.d.e.com";
        assert!(pattern.matches(&name));
    }

    #[test]
    fn long_names_look_up_only_suffixes_that_can_be_keys() {
        assert_eq!(last_labels("a.b.c.d", 2), "c.d");
        assert_eq!(last_labels("a.b.c.d", 4), "a.b.c.d");
        assert_eq!(last_labels("a.b.c.d", 9), "a.b.c.d");
        assert_eq!(last_labels("a.b.c.d", 0), "");
        let all: Vec<&str> = key_suffixes("a.b.c.d", 2).collect();
        assert_eq!(all, ["c.d", "d"]);
        assert_eq!(key_suffixes("a.b", 0).count(), 0);
        let mut idx = DomainIndex::default();
        idx.insert(DomainPattern::parse("*.microsoft.com").unwrap(), 78);
        idx.insert(DomainPattern::parse("*.teams.microsoft.com").unwrap(), 12);
        idx.insert(DomainPattern::parse("teams.microsoft.com").unwrap(), 11);
        idx.insert(DomainPattern::parse("*.*").unwrap(), 1);
        assert_eq!(idx.max_suffix_labels, 3);
        // 32,000 one-letter labels (64 KB, as an SNI can carry): the same answers as for a
        // short name, found by looking up four suffixes, not 32,000.
        for prefix in ["a.", &"a.".repeat(32_000)] {
            let hits: Vec<(&str, u16)> = idx
                .lookup_all(&format!("{prefix}teams.microsoft.com"))
                .iter()
                .map(|h| (h.pattern.as_str(), h.rank))
                .collect();
            assert_eq!(
                hits,
                [
                    ("*.teams.microsoft.com", 0),
                    ("*.microsoft.com", 1),
                    ("*.*", 2)
                ]
            );
        }
        assert_eq!(idx.lookup("teams.microsoft.com")[0].1, &[11]);
    }

    #[test]
    fn specificity_order() {
        let s = |p: &str| DomainPattern::parse(p).unwrap().specificity();
        assert!(s("x.office.com") > s("*.x.office.com"));
        assert!(s("*.trouter.teams.microsoft.com") > s("*.teams.microsoft.com"));
        assert!(s("*cdn.onenote.net") > s("*.onenote.net"));
    }

    #[test]
    fn index_returns_most_specific() {
        let mut idx = DomainIndex::default();
        idx.insert(DomainPattern::parse("*.microsoft.com").unwrap(), 78);
        idx.insert(DomainPattern::parse("*.teams.microsoft.com").unwrap(), 12);
        idx.insert(DomainPattern::parse("teams.microsoft.com").unwrap(), 12);
        idx.insert(DomainPattern::parse("*.teams.microsoft.com").unwrap(), 13);
        let hit = idx.lookup("x.trouter.teams.microsoft.com");
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].0.as_str(), "*.teams.microsoft.com");
        assert_eq!(hit[0].1, &[12, 13]);
        assert_eq!(
            idx.lookup("teams.microsoft.com")[0].0.as_str(),
            "teams.microsoft.com"
        );
        assert_eq!(idx.lookup("www.microsoft.com")[0].1, &[78]);
        assert!(idx.lookup("microsoft.com").is_empty());
        assert!(idx.lookup("").is_empty());
        let all: Vec<(&str, &[i32], u16)> = idx
            .lookup_all("x.teams.microsoft.com")
            .iter()
            .map(|h| (h.pattern.as_str(), h.values, h.rank))
            .collect();
        assert_eq!(
            all,
            [
                ("*.teams.microsoft.com", &[12, 13][..], 0),
                ("*.microsoft.com", &[78][..], 1)
            ]
        );
    }
}

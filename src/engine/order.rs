//! The rows' output order: by first packet, then capture and endpoints, independent of hashing
//! and of how many threads made the rows.

use crate::report::FlowRow;

/// Flows by first packet, then capture and endpoints: output order independent of hashing.
pub fn sort_rows(rows: &mut [FlowRow]) {
    fn order(a: &FlowRow, b: &FlowRow) -> std::cmp::Ordering {
        (
            a.first_seen,
            &a.capture,
            a.client_ip,
            a.client_port,
            a.server_ip,
            a.server_port,
        )
            .cmp(&(
                b.first_seen,
                &b.capture,
                b.client_ip,
                b.client_port,
                b.server_ip,
                b.server_port,
            ))
    }
    sort_large(rows, order);
}

/// Stable sort for large elements (a row is several hundred bytes): sorts positions, then
/// moves each element once, cycle by cycle, instead of n log n times.
fn sort_large<T>(items: &mut [T], order: impl Fn(&T, &T) -> std::cmp::Ordering) {
    let mut source: Vec<usize> = (0..items.len()).collect();
    source.sort_by(|&a, &b| match (items.get(a), items.get(b)) {
        (Some(x), Some(y)) => order(x, y),
        _ => std::cmp::Ordering::Equal,
    });
    for start in 0..source.len() {
        let mut at = start;
        // Position `at` receives the element now at `source[at]`; a placed position points at
        // itself, so a cycle (or a position already placed) ends where it started.
        while let Some(&from) = source.get(at) {
            if let Some(slot) = source.get_mut(at) {
                *slot = at;
            }
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sort_large;

    #[test]
    fn sorts_like_a_stable_sort() {
        // (key, original position): equal keys must keep their order.
        let mut state = 0x2545_f491_u32;
        for len in [0usize, 1, 2, 3, 10, 257, 1000] {
            let items: Vec<(u32, usize)> = (0..len)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state % 17, i)
                })
                .collect();
            let mut expected = items.clone();
            expected.sort_by_key(|x| x.0);
            let mut got = items;
            sort_large(&mut got, |a, b| a.0.cmp(&b.0));
            assert_eq!(got, expected, "{len}");
        }
    }
}

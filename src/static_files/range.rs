//! Range requests (RFC 9110 §14): parsing `Range: bytes=…` against a
//! representation's length and choosing what to send.
//!
//! This module performs no I/O. Like Go's `parseRange`, it works on
//! numbers only; the caller turns a [`RangeChoice`] into a response
//! (`byteranges` lays out the body of several parts).
//!
//! Decisions, each allowed by RFC 9110 §14.2 or §14.6:
//! * a `Range` that is not valid `bytes` syntax, or uses another unit,
//!   is ignored (200 with the whole file): "A server MAY ignore the Range
//!   header field";
//! * ranges that select no byte of the file are dropped; when none is
//!   left: 416 with `Content-Range: bytes */LEN`. One satisfiable range
//!   among unsatisfiable ones is served alone (206, one part);
//! * the set is ignored as a whole (200 with the whole file), as "an
//!   indication of either a broken client or a deliberate
//!   denial-of-service attack" (§14.2, and CVE-2011-3192, the Apache
//!   "Range header DoS"), when it lists more than [`MAX_RANGES`] ranges
//!   (Apache's `MaxRanges`), when the ranges asked for add up to more
//!   bytes than the file has (Go's `sumRangesSize`, nginx's and Apache's
//!   same check: the whole file is then the cheaper answer), when more
//!   than two of them overlap (§14.2's "a ranges-specifier with more than
//!   two overlapping ranges"; Apache's `MaxRangeOverlaps`), or when more
//!   than [`MAX_DESCENTS`] start before the range listed just before them
//!   (§14.2's "many small ranges that are not listed in ascending order";
//!   Apache's `MaxRangeReversals`);
//! * what remains is sorted and coalesced: overlapping or adjacent ranges
//!   are merged, as §14.6 allows "regardless of the order in which the
//!   corresponding range-spec appeared". So no byte is sent twice, the
//!   file is read forward once, and every part is a plain slice of it
//!   that the server sends with `sendfile`. A client "cannot rely on
//!   receiving the same ranges that it requested, nor the same order"
//!   (§14.6). Ranges separated by a gap are not merged, so only the bytes
//!   asked for are sent;
//! * one range left: 206 with `Content-Range` (§14.6: "A server MUST NOT
//!   generate a multipart response to a request for a single range");
//!   several: 206 with a `multipart/byteranges` body, one part each;
//! * an empty file has no byte to select: `bytes=0-0` (any `first-pos`)
//!   and `bytes=-0` are unsatisfiable (416, `Content-Range: bytes */0`),
//!   as §14.1.1 says ("When a selected representation has zero length,
//!   the only satisfiable form of range-spec is a suffix-range with a
//!   non-zero suffix-length"); such a suffix range (`bytes=-5`) selects
//!   no byte, which no `Content-Range` can describe, so the empty file
//!   is sent whole with 200.

/// The most ranges one `Range` field may list before it is ignored.
///
/// Apache's `MaxRanges` (added after CVE-2011-3192) defaults to 200,
/// nginx's `max_ranges` to no limit (its only guard is the total size),
/// Go has none but the header size. Each part of a multipart answer
/// costs a part head of about a hundred bytes, kept in the connection's
/// queue while a slow reader drains it, and two system calls; 64 bounds
/// that at a few KiB, and is more than clients ask for: browsers and
/// download tools ask for one range at a time, and the readers that ask
/// for several (PDF byte serving) ask for a handful.
pub(crate) const MAX_RANGES: usize = 64;

/// The most ranges that may start before the range listed just before
/// them. Out-of-order ranges cost nothing here (they are sorted), but
/// many of them are what RFC 9110 §14.2 calls a sign of a broken client
/// or an attack. A client that reads an index first (a PDF's trailer, a
/// zip's central directory) and then what it points at goes back once or
/// twice; Apache allows 20 reversals among its 200 ranges, which scaled
/// to [`MAX_RANGES`] is about 6, rounded up to 8.
pub(crate) const MAX_DESCENTS: usize = 8;

/// The most ranges that may overlap an earlier one: one, so that at most
/// two ranges overlap (RFC 9110 §14.2 names "a ranges-specifier with more
/// than two overlapping ranges" among the signs of an attack).
const MAX_OVERLAPS: usize = 1;

/// RangeChoice is what to send in answer to a `Range` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RangeChoice {
    /// The whole representation, with 200.
    Full,
    /// One part, with 206 and `Content-Range: bytes start-end/len`.
    Partial {
        /// The first byte.
        start: u64,
        /// The number of bytes (at least one).
        len: u64,
    },
    /// Several parts, with 206 and a `multipart/byteranges` body: each a
    /// `(start, len)` pair (`len` at least one), in ascending order, with
    /// a gap between one and the next.
    Multipart(Vec<(u64, u64)>),
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Chooses what to send for the `Range` value `value` on a representation
/// of `size` bytes.
pub(crate) fn choose_range(value: &str, size: u64) -> RangeChoice {
    let Some(set) = parse_range(value, size) else {
        return RangeChoice::Full;
    };
    if set.spans.is_empty() {
        return if set.satisfiable_empty {
            RangeChoice::Full
        } else {
            RangeChoice::Unsatisfiable
        };
    }
    if is_excessive(&set.spans, size) {
        return RangeChoice::Full;
    }
    let spans = coalesce(set.spans);
    match spans.as_slice() {
        [(first, last)] => RangeChoice::Partial {
            start: *first,
            len: last - first + 1,
        },
        _ => RangeChoice::Multipart(
            spans
                .iter()
                .map(|&(first, last)| (first, last - first + 1))
                .collect(),
        ),
    }
}

/// Reports whether the satisfiable ranges `spans` of a representation of
/// `size` bytes are to be ignored (see the module docs): they ask for
/// more bytes than it has, or more than two of them overlap, or too many
/// are listed out of order.
fn is_excessive(spans: &[(u64, u64)], size: u64) -> bool {
    // Inclusive pairs clamped to the file: `last - first + 1` cannot
    // overflow, the sum saturates.
    let asked = spans
        .iter()
        .map(|(first, last)| last - first + 1)
        .fold(0u64, u64::saturating_add);
    if asked > size {
        return true;
    }
    let descents = spans.windows(2).filter(|w| w[1].0 < w[0].0).count();
    if descents > MAX_DESCENTS {
        return true;
    }
    // Sorted by first byte, a range overlaps an earlier one when it starts
    // at or before the furthest last byte seen so far (touching is not
    // overlapping: adjacent ranges share no byte).
    let mut sorted = spans.to_vec();
    sorted.sort_unstable();
    let mut overlaps = 0;
    let mut reach: Option<u64> = None;
    for (first, last) in sorted {
        if reach.is_some_and(|r| first <= r) {
            overlaps += 1;
        }
        reach = Some(reach.map_or(last, |r| r.max(last)));
    }
    overlaps > MAX_OVERLAPS
}

/// Formats `Content-Range` for a part (`bytes 0-99/1000`).
pub(crate) fn content_range(start: u64, len: u64, size: u64) -> String {
    format!("bytes {start}-{}/{size}", start + len - 1)
}

/// Formats `Content-Range` for a 416 (`bytes */1000`).
pub(crate) fn unsatisfied_range(size: u64) -> String {
    format!("bytes */{size}")
}

/// RangeSet is a valid `Range` value checked against a representation's
/// length.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RangeSet {
    /// The satisfiable ranges as inclusive `(first, last)` pairs, clamped
    /// to the representation, in the order given.
    pub(crate) spans: Vec<(u64, u64)>,
    /// Whether a suffix range with a non-zero length was asked of an empty
    /// representation: satisfiable (§14.1.1), yet it selects no byte.
    pub(crate) satisfiable_empty: bool,
}

/// Parses `ranges-specifier = range-unit "=" range-set` (RFC 9110 §14.1.1)
/// against a representation of `size` bytes. Returns `None` if the value
/// is invalid (or lists too many ranges) and must be ignored.
///
/// ```text
/// range-set = 1#range-spec
/// range-spec = int-range / suffix-range / other-range
/// int-range = first-pos "-" [ last-pos ]
/// suffix-range = "-" suffix-length
/// ```
pub(crate) fn parse_range(value: &str, size: u64) -> Option<RangeSet> {
    let (unit, set) = value.trim().split_once('=')?;
    // "bytes" is case-insensitive, like every range unit (§14.1).
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut out = RangeSet {
        spans: Vec::new(),
        satisfiable_empty: false,
    };
    let mut count = 0;
    for spec in set.split(',') {
        let spec = spec.trim_matches([' ', '\t']);
        if spec.is_empty() {
            continue; // empty list elements are allowed (§5.6.1)
        }
        count += 1;
        if count > MAX_RANGES {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let span = if first.is_empty() {
            // suffix-range: "the final N bytes"; a zero length selects
            // nothing and is unsatisfiable.
            let n = parse_pos(last)?;
            if n > 0 && size == 0 {
                out.satisfiable_empty = true;
            }
            (n > 0 && size > 0).then(|| (size.saturating_sub(n), size - 1))
        } else {
            let first = parse_pos(first)?;
            let last = if last.is_empty() {
                u64::MAX
            } else {
                parse_pos(last)?
            };
            // "A range-spec is invalid if the last-pos value is present and
            // less than the first-pos."
            if last < first {
                return None;
            }
            // Satisfiable if "the first-pos value is less than the current
            // length of the selected representation"; a last-pos past the
            // end means "the remainder".
            (first < size).then(|| (first, last.min(size - 1)))
        };
        out.spans.extend(span);
    }
    (count > 0).then_some(out)
}

/// Parses `1*DIGIT`. Values past `u64::MAX` saturate: as a first
/// position they are past any file, as a last position or suffix length
/// they mean "to the end", which is what such a client wants.
fn parse_pos(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// Sorts ranges and merges those that overlap or touch.
fn coalesce(mut spans: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
    for (first, last) in spans {
        match out.last_mut() {
            Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
            _ => out.push((first, last)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeChoice::*;

    struct Case {
        input: &'static str,
        size: u64,
        want: RangeChoice,
    }

    const fn part(start: u64, len: u64) -> RangeChoice {
        Partial { start, len }
    }

    /// Several parts, as `(start, len)` pairs.
    fn parts(pairs: &[(u64, u64)]) -> RangeChoice {
        Multipart(pairs.to_vec())
    }

    // After Go's range_test.go, with this module's choices for several
    // ranges (coalesced, and refused when excessive) and for invalid
    // syntax.
    const CASES: &[Case] = &[
        Case {
            input: "bytes=0-99",
            size: 1000,
            want: part(0, 100),
        },
        Case {
            input: "bytes=100-",
            size: 1000,
            want: part(100, 900),
        },
        Case {
            input: "bytes=-500",
            size: 1000,
            want: part(500, 500),
        },
        Case {
            input: "bytes=-5000",
            size: 1000,
            want: part(0, 1000),
        },
        Case {
            input: "bytes=0-0",
            size: 1000,
            want: part(0, 1),
        },
        Case {
            input: "bytes=999-",
            size: 1000,
            want: part(999, 1),
        },
        Case {
            input: "bytes=999-999",
            size: 1000,
            want: part(999, 1),
        },
        Case {
            input: "bytes=0-999999",
            size: 1000,
            want: part(0, 1000),
        },
        Case {
            input: "bytes=0-99999999999999999999999",
            size: 1000,
            want: part(0, 1000),
        },
        Case {
            input: "BYTES = 1-2",
            size: 1000,
            want: part(1, 2),
        },
        Case {
            input: "bytes= 1-2 ",
            size: 1000,
            want: part(1, 2),
        },
        Case {
            input: "bytes=1000-",
            size: 1000,
            want: Unsatisfiable,
        },
        Case {
            input: "bytes=1000-2000",
            size: 1000,
            want: Unsatisfiable,
        },
        Case {
            input: "bytes=99999999999999999999999-",
            size: 1000,
            want: Unsatisfiable,
        },
        Case {
            input: "bytes=-0",
            size: 1000,
            want: Unsatisfiable,
        },
        Case {
            input: "bytes=1000-,-0",
            size: 1000,
            want: Unsatisfiable,
        },
        Case {
            input: "bytes=1000-,0-9",
            size: 1000,
            want: part(0, 10),
        },
        Case {
            input: "bytes=0-9,10-19",
            size: 1000,
            want: part(0, 20),
        },
        Case {
            input: "bytes=10-19,0-9",
            size: 1000,
            want: part(0, 20),
        },
        Case {
            input: "bytes=0-9,5-30",
            size: 1000,
            want: part(0, 31),
        },
        Case {
            input: "bytes=5-4",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=,",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=-",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=a-b",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=+1-2",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=1-2-3",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes 0-99",
            size: 1000,
            want: Full,
        },
        Case {
            input: "items=0-99",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=0-99",
            size: 0,
            want: Unsatisfiable,
        },
        Case {
            input: "bytes=0-",
            size: 0,
            want: Unsatisfiable,
        },
        Case {
            input: "bytes=-0",
            size: 0,
            want: Unsatisfiable,
        },
        Case {
            input: "bytes=-1",
            size: 0,
            want: Full,
        },
        Case {
            input: "bytes=0-0,-1",
            size: 0,
            want: Full,
        },
        Case {
            input: "bytes=5-2",
            size: 0,
            want: Full,
        },
        Case {
            input: "bytes=0-0",
            size: 1,
            want: part(0, 1),
        },
        Case {
            input: "bytes=-1",
            size: 1,
            want: part(0, 1),
        },
        Case {
            input: "bytes=0-1,",
            size: 1000,
            want: part(0, 2),
        },
        Case {
            input: "bytes=0-0,0-0",
            size: 1000,
            want: part(0, 1),
        },
        Case {
            input: "bytes=0-499,500-999",
            size: 1000,
            want: part(0, 1000),
        },
        // The sum of the ranges asked for is past the file: the whole
        // file instead (Go's sumRangesSize).
        Case {
            input: "bytes=-500,0-",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=0-,0-",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=0-599,400-999",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=0-0,0-0",
            size: 1,
            want: Full,
        },
        // More than two ranges overlap.
        Case {
            input: "bytes=0-0,0-0,0-0",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=0-9,5-14,7-20",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=0-9,5-14,100-109,105-114",
            size: 1000,
            want: Full,
        },
    ];

    // Several parts: 206 with multipart/byteranges, sorted and coalesced.
    fn multipart_cases() -> Vec<(&'static str, u64, RangeChoice)> {
        vec![
            ("bytes=0-1,5-6", 1000, parts(&[(0, 2), (5, 2)])),
            ("bytes=0-9,20-29", 100, parts(&[(0, 10), (20, 10)])),
            ("bytes=0-9, ,20-29", 1000, parts(&[(0, 10), (20, 10)])),
            ("bytes=0-1,-1", 1000, parts(&[(0, 2), (999, 1)])),
            ("bytes=-1,0-1", 1000, parts(&[(0, 2), (999, 1)])),
            ("bytes=20-29,0-9", 1000, parts(&[(0, 10), (20, 10)])),
            ("bytes=0-9,5-14,30-39", 1000, parts(&[(0, 15), (30, 10)])),
            ("bytes=0-9,10-19,30-", 1000, parts(&[(0, 20), (30, 970)])),
            ("bytes=0-0,2-2,4-4", 5, parts(&[(0, 1), (2, 1), (4, 1)])),
            ("bytes=0-9,990-5000", 1000, parts(&[(0, 10), (990, 10)])),
            // Unsatisfiable members are dropped; one left is one part.
            ("bytes=5000-,0-9,20-29", 1000, parts(&[(0, 10), (20, 10)])),
            ("bytes=5000-,0-9,-0", 1000, part(0, 10)),
            ("bytes=5000-,6000-", 1000, Unsatisfiable),
        ]
    }

    #[test]
    fn several_ranges_are_sorted_coalesced_and_sent_as_parts() {
        for (input, size, want) in multipart_cases() {
            let got = choose_range(input, size);
            assert_eq!(
                got, want,
                "choose_range({input:?}, {size}) = {got:?}, want {want:?}"
            );
        }
    }

    /// `n` one-byte ranges two bytes apart, listed with `descents` of them
    /// out of order.
    fn spread(n: u64, descents: u64) -> String {
        let mut starts: Vec<u64> = (0..n).map(|i| 2 * i).collect();
        // Swapping neighbours (2k, 2k+1) makes one descent each.
        for k in 0..descents {
            starts.swap(2 * k as usize, 2 * k as usize + 1);
        }
        let specs: Vec<String> = starts.iter().map(|s| format!("{s}-{s}")).collect();
        format!("bytes={}", specs.join(","))
    }

    #[test]
    fn many_ranges_out_of_order_are_ignored() {
        let size = 1000;
        let all: Vec<(u64, u64)> = (0..20).map(|i| (2 * i, 1)).collect();
        let descents = MAX_DESCENTS as u64;
        assert_eq!(choose_range(&spread(20, descents), size), Multipart(all));
        assert_eq!(choose_range(&spread(20, descents + 1), size), Full);
        // Descending from first to last: every step is a descent.
        let down: Vec<String> = (0..10).rev().map(|i| format!("{i}0-{i}0")).collect();
        assert_eq!(
            choose_range(&format!("bytes={}", down.join(",")), size),
            Full
        );
    }

    #[test]
    fn choose_range_table() {
        for c in CASES {
            let got = choose_range(c.input, c.size);
            assert_eq!(
                got, c.want,
                "choose_range({:?}, {}) = {got:?}, want {:?}",
                c.input, c.size, c.want
            );
        }
    }

    #[test]
    fn too_many_ranges_are_ignored() {
        let size = 1000;
        let all: Vec<(u64, u64)> = (0..MAX_RANGES as u64).map(|i| (2 * i, 1)).collect();
        assert_eq!(
            choose_range(&spread(MAX_RANGES as u64, 0), size),
            Multipart(all)
        );
        assert_eq!(choose_range(&spread(MAX_RANGES as u64 + 1, 0), size), Full);
        // Unsatisfiable ones count too: the limit is on what is listed.
        let many = vec!["5000-5000"; MAX_RANGES + 1].join(",");
        assert_eq!(choose_range(&format!("bytes=0-0,{many}"), size), Full);
        let enough = vec!["5000-5000"; MAX_RANGES - 1].join(",");
        assert_eq!(
            choose_range(&format!("bytes=0-0,{enough}"), size),
            part(0, 1)
        );
    }

    #[test]
    fn content_range_values() {
        assert_eq!(content_range(0, 100, 1000), "bytes 0-99/1000");
        assert_eq!(content_range(999, 1, 1000), "bytes 999-999/1000");
        assert_eq!(unsatisfied_range(1000), "bytes */1000");
    }
}

//! Range requests (RFC 9110 §14): parsing `Range: bytes=…` against a
//! representation's length and choosing what to send.
//!
//! This module performs no I/O. Like Go's `parseRange`, it works on
//! numbers only; the caller turns a [`RangeChoice`] into a response.
//!
//! Decisions, each allowed by RFC 9110 §14.2:
//! * a `Range` that is not valid `bytes` syntax, or uses another unit,
//!   is ignored (200 with the whole file): "A server MAY ignore the Range
//!   header field";
//! * a set of several ranges is coalesced (sorted, overlapping or
//!   adjacent ranges merged); if one range remains it is served as a
//!   single part (206), otherwise the whole file is sent with 200 instead
//!   of a `multipart/byteranges` body. Browsers and download tools ask
//!   for one range at a time; whole-file fallback keeps every body a
//!   plain slice of the file, which the server can stream (or `sendfile`);
//! * more than [`MAX_RANGES`] ranges are ignored as a whole, so a header
//!   full of tiny ranges costs nothing;
//! * when no range overlaps the file: 416 with `Content-Range: bytes */LEN`;
//! * an empty file has no byte to select: `bytes=0-0` (any `first-pos`)
//!   and `bytes=-0` are unsatisfiable (416, `Content-Range: bytes */0`),
//!   as §14.1.1 says ("When a selected representation has zero length,
//!   the only satisfiable form of range-spec is a suffix-range with a
//!   non-zero suffix-length"); such a suffix range (`bytes=-5`) selects
//!   no byte, which no `Content-Range` can describe, so the empty file
//!   is sent whole with 200.

/// The most ranges one `Range` field may list before it is ignored.
pub(crate) const MAX_RANGES: usize = 64;

/// RangeChoice is what to send in answer to a `Range` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Chooses what to send for the `Range` value `value` on a representation
/// of `size` bytes.
pub(crate) fn choose_range(value: &str, size: u64) -> RangeChoice {
    let Some(set) = parse_range(value, size) else {
        return RangeChoice::Full;
    };
    match coalesce(set.spans).as_slice() {
        [] if set.satisfiable_empty => RangeChoice::Full,
        [] => RangeChoice::Unsatisfiable,
        [(start, end)] => RangeChoice::Partial {
            start: *start,
            len: end - start + 1,
        },
        _ => RangeChoice::Full,
    }
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

    // After Go's range_test.go, with this module's choices for several
    // ranges and for invalid syntax.
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
            input: "bytes=0-9, ,20-29",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=0-1,5-6",
            size: 1000,
            want: Full,
        },
        Case {
            input: "bytes=0-1,-1",
            size: 1000,
            want: Full,
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
            input: "bytes=0-0,0-0,0-0",
            size: 1000,
            want: part(0, 1),
        },
        Case {
            input: "bytes=-500,0-",
            size: 1000,
            want: part(0, 1000),
        },
    ];

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
        let many = vec!["0-0"; MAX_RANGES + 1].join(",");
        assert_eq!(choose_range(&format!("bytes={many}"), 1000), Full);
        let enough = vec!["0-0"; MAX_RANGES].join(",");
        assert_eq!(choose_range(&format!("bytes={enough}"), 1000), part(0, 1));
    }

    #[test]
    fn content_range_values() {
        assert_eq!(content_range(0, 100, 1000), "bytes 0-99/1000");
        assert_eq!(content_range(999, 1, 1000), "bytes 999-999/1000");
        assert_eq!(unsatisfied_range(1000), "bytes */1000");
    }
}

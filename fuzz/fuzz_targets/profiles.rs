//! The limit profiles the fuzz targets choose from, shared with the
//! seeded tests in `tests/` (`corpus.rs`, `regressions.rs`), which replay
//! inputs under every profile. Not a target itself.

use sockhttp::Limits;

/// How many profiles [`limits_for`] chooses from.
pub const PROFILES: u8 = 4;

/// Picks limits from a selector: the defaults, or small limits that
/// the fuzzer can actually reach. Small profiles keep `max_head_bytes` the
/// largest buffer limit, so the read buffer stays under
/// `max_head_bytes + READ_CHUNK`.
pub fn limits_for(selector: u8) -> Limits {
    let mut l = Limits::default();
    match selector % PROFILES {
        0 => {}
        1 => {
            l.max_request_line_bytes = 64;
            l.max_head_bytes = 256;
            l.max_headers = 4;
            l.max_body_bytes = 64;
            l.max_trailer_bytes = 32;
            l.max_chunk_line_bytes = 16;
        }
        2 => {
            l.max_request_line_bytes = 32;
            l.max_head_bytes = 96;
            l.max_headers = 2;
            l.max_body_bytes = 8;
            l.max_trailer_bytes = 8;
            l.max_chunk_line_bytes = 6;
        }
        _ => {
            // A request line limit above the head limit: the head limit
            // must win without surprises.
            l.max_request_line_bytes = 200;
            l.max_head_bytes = 128;
            l.max_headers = 8;
            l.max_body_bytes = 1024;
            l.max_trailer_bytes = 64;
            l.max_chunk_line_bytes = 12;
        }
    }
    l
}

//! Representation metadata: the `Content-Type` of a file, from its
//! extension, and whether a client accepts the `gzip` content coding.
//!
//! The table covers what websites serve; anything else is
//! `application/octet-stream`, which browsers download rather than
//! render (together with `X-Content-Type-Options: nosniff`, a file can
//! never be sniffed into HTML or script). Text types say
//! `charset=utf-8`, so a page without a `<meta charset>` still shows
//! "café" correctly. This module performs no I/O.

/// The type of a file whose extension is not in the table.
pub(crate) const DEFAULT_TYPE: &str = "application/octet-stream";

/// Extension (lower case, without the dot) → media type. Sorted by
/// extension, so that a reader can find an entry, and a test keeps it so.
const TYPES: &[(&str, &str)] = &[
    ("7z", "application/x-7z-compressed"),
    ("aac", "audio/aac"),
    ("apng", "image/apng"),
    ("atom", "application/atom+xml"),
    ("avif", "image/avif"),
    ("bmp", "image/bmp"),
    ("css", "text/css; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("flac", "audio/flac"),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("htm", "text/html; charset=utf-8"),
    ("html", "text/html; charset=utf-8"),
    ("ico", "image/x-icon"),
    ("ics", "text/calendar; charset=utf-8"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("js", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("jsonld", "application/ld+json"),
    ("m4a", "audio/mp4"),
    ("map", "application/json"),
    ("md", "text/markdown; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("oga", "audio/ogg"),
    ("ogg", "audio/ogg"),
    ("ogv", "video/ogg"),
    ("opus", "audio/ogg"),
    ("otf", "font/otf"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("rss", "application/rss+xml"),
    ("svg", "image/svg+xml"),
    ("tar", "application/x-tar"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("ttf", "font/ttf"),
    ("txt", "text/plain; charset=utf-8"),
    ("wasm", "application/wasm"),
    ("wav", "audio/wav"),
    ("weba", "audio/webm"),
    ("webm", "video/webm"),
    ("webmanifest", "application/manifest+json"),
    ("webp", "image/webp"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("xhtml", "application/xhtml+xml"),
    ("xml", "text/xml; charset=utf-8"),
    ("yaml", "text/yaml; charset=utf-8"),
    ("yml", "text/yaml; charset=utf-8"),
    ("zip", "application/zip"),
];

/// Returns the `Content-Type` for a file named `name`, from the text
/// after its last dot, compared case-insensitively (`logo.PNG` is a
/// PNG). A name without an extension, or a name that is all extension
/// (`.env`), gets [`DEFAULT_TYPE`].
pub(crate) fn content_type(name: &str) -> &'static str {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return DEFAULT_TYPE;
    };
    if stem.is_empty() || ext.len() > 16 {
        return DEFAULT_TYPE;
    }
    // Lower-cased on the stack: this runs for every file served.
    let mut lower = [0u8; 16];
    let lower = &mut lower[..ext.len()];
    lower.copy_from_slice(ext.as_bytes());
    lower.make_ascii_lowercase();
    TYPES
        .binary_search_by(|(e, _)| e.as_bytes().cmp(lower))
        .map_or(DEFAULT_TYPE, |i| TYPES[i].1)
}

/// Reports whether `Accept-Encoding` (every line of it) accepts `gzip`
/// (RFC 9110 §12.5.3): `gzip` or its alias `x-gzip` listed with a weight
/// above zero, or, if neither is listed, `*` with a weight above zero.
/// No field means no preference, but a precompressed file is only sent to
/// clients that ask, as nginx's `gzip_static` does.
pub(crate) fn accepts_gzip(accept_encoding: impl IntoIterator<Item = impl AsRef<[u8]>>) -> bool {
    let mut gzip = None;
    let mut star = None;
    for line in accept_encoding {
        let Ok(line) = std::str::from_utf8(line.as_ref()) else {
            continue;
        };
        for item in line.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim_matches([' ', '\t']);
            let mut weight = Some(true);
            for param in parts {
                let param = param.trim_matches([' ', '\t']);
                match param.split_once('=') {
                    Some((name, value)) if name.trim().eq_ignore_ascii_case("q") => {
                        weight = positive_weight(value.trim());
                    }
                    _ => {}
                }
            }
            let Some(w) = weight else { continue };
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(gzip.unwrap_or(false) || w);
            } else if coding == "*" {
                star = Some(w);
            }
        }
    }
    gzip.or(star).unwrap_or(false)
}

/// Parses a `weight`'s value, `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1"
/// [ "." 0*3("0") ] )`, as "above zero"; `None` if malformed.
fn positive_weight(q: &str) -> Option<bool> {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match int {
        "0" => Some(frac.bytes().any(|b| b != b'0')),
        "1" if frac.bytes().all(|b| b == b'0') => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        for w in TYPES.windows(2) {
            assert!(w[0].0 < w[1].0, "{} must come before {}", w[1].0, w[0].0);
        }
    }

    #[test]
    fn content_type_table() {
        let cases: &[(&str, &str)] = &[
            ("index.html", "text/html; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("mod.mjs", "text/javascript; charset=utf-8"),
            ("data.json", "application/json"),
            ("logo.PNG", "image/png"),
            ("photo.jpeg", "image/jpeg"),
            ("notes.md", "text/markdown; charset=utf-8"),
            ("archive.tar.gz", "application/gzip"),
            ("README", DEFAULT_TYPE),
            (".env", DEFAULT_TYPE),
            ("trailing.", DEFAULT_TYPE),
            ("x.unknownext", DEFAULT_TYPE),
        ];
        for &(name, want) in cases {
            assert_eq!(content_type(name), want, "content_type({name:?})");
        }
    }

    #[test]
    fn accepts_gzip_table() {
        let cases: &[(&[&str], bool)] = &[
            (&[], false),
            (&["gzip"], true),
            (&["deflate, gzip;q=1.0, br"], true),
            (&["GZIP ; Q=0.5"], true),
            (&["x-gzip"], true),
            (&["gzip;q=0"], false),
            (&["gzip;q=0.000"], false),
            (&["gzip;q=0.001"], true),
            (&["gzip;q=2"], false),
            (&["gzip;q=abc"], false),
            (&["br"], false),
            (&["identity"], false),
            (&["*"], true),
            (&["*;q=0"], false),
            (&["gzip;q=0, *"], false),
            (&["br", "gzip"], true),
            (&["gzipped"], false),
        ];
        for (lines, want) in cases {
            assert_eq!(accepts_gzip(lines.iter()), *want, "accepts_gzip({lines:?})");
        }
    }
}

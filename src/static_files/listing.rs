//! HTML directory listings: reading a directory's entries and rendering
//! them as a page.
//!
//! Every name is HTML-escaped where it is shown and percent-encoded
//! where it is linked ([`crate::uri::percent_encode`]), so a file named
//! `<script>` or `a&b` is just text. Links are relative (`name`, `dir/`),
//! which is why a listing is only served at the slash form of a
//! directory. Entries the handler would refuse are left out: hidden
//! names, names that are not UTF-8, names no request path can reach (a
//! backslash, a drive prefix such as `C:`), entries that are neither
//! file nor directory, and symbolic links that lead outside the root.
//!
//! This module performs no socket I/O: [`read_entries`] reads the
//! directory, [`render`] is pure.

use super::path;
use crate::HttpDate;
use crate::uri::percent_encode;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// The most entries a listing shows; a larger directory is listed in
/// part, with a note saying so, so that one request cannot make the
/// server hold an unbounded list.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// Entry is one row of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The file name.
    pub(crate) name: String,
    /// Whether it is a directory (linked with a trailing slash).
    pub(crate) is_dir: bool,
    /// The size in bytes (files only).
    pub(crate) size: u64,
    /// The modification time, if known.
    pub(crate) modified: Option<HttpDate>,
}

/// Listing is a directory's entries, sorted (directories first, then by
/// name, bytewise), and whether some were left out for the limit.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub(crate) entries: Vec<Entry>,
    pub(crate) truncated: bool,
}

/// Reads the entries of the canonical directory `dir`, which is inside
/// the canonical root `root`; `at_root` says whether `dir` is the root
/// itself (where `.well-known` may be listed).
///
/// # Errors
/// The directory cannot be read.
pub(crate) fn read_entries(root: &Path, dir: &Path, at_root: bool) -> io::Result<Listing> {
    let mut listing = Listing::default();
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        if path::is_hidden_name(name, at_root) || !path::is_requestable_name(name) {
            continue;
        }
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_symlink() {
            match std::fs::canonicalize(entry.path()) {
                Ok(target) if path::is_contained(root, &target) => {}
                _ => continue,
            }
        }
        // Follows a symbolic link, to show what a request would get.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if !(meta.is_dir() || meta.is_file()) {
            continue;
        }
        if listing.entries.len() == MAX_ENTRIES {
            listing.truncated = true;
            break;
        }
        listing.entries.push(Entry {
            name: name.to_owned(),
            is_dir: meta.is_dir(),
            size: if meta.is_dir() { 0 } else { meta.len() },
            modified: meta.modified().ok().map(HttpDate::from_system_time),
        });
    }
    listing
        .entries
        .sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    Ok(listing)
}

/// Renders a listing as an HTML page titled with `shown_path` (the
/// decoded request path, e.g. `/docs/`); `parent` adds a `../` row.
pub(crate) fn render(shown_path: &str, listing: &Listing, parent: bool) -> String {
    let title = escape_html(shown_path);
    let mut out = String::with_capacity(1024 + listing.entries.len() * 160);
    // `write!` to a String cannot fail.
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Index of {title}</title>\n<style>\n\
         body {{ font-family: system-ui, sans-serif; margin: 2rem; }}\n\
         table {{ border-collapse: collapse; }}\n\
         th, td {{ padding: 0.2rem 1rem 0.2rem 0; text-align: left; }}\n\
         td.size {{ text-align: right; font-variant-numeric: tabular-nums; }}\n\
         </style>\n</head>\n<body>\n<h1>Index of {title}</h1>\n<table>\n\
         <thead><tr><th>Name</th><th>Size</th><th>Last modified</th></tr></thead>\n<tbody>\n"
    );
    if parent {
        out.push_str(
            "<tr><td><a href=\"../\">../</a></td><td class=\"size\">-</td><td></td></tr>\n",
        );
    }
    for e in &listing.entries {
        let slash = if e.is_dir { "/" } else { "" };
        let size = if e.is_dir {
            "-".to_owned()
        } else {
            e.size.to_string()
        };
        let modified = e.modified.map(|d| d.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td><a href=\"{href}{slash}\">{name}{slash}</a></td><td class=\"size\">{size}</td><td>{modified}</td></tr>",
            href = percent_encode(&e.name),
            name = escape_html(&e.name),
        );
    }
    out.push_str("</tbody>\n</table>\n");
    if listing.truncated {
        let _ = writeln!(
            out,
            "<p>Only the first {MAX_ENTRIES} entries are shown.</p>"
        );
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// Escapes the five characters that are markup in HTML text and quoted
/// attributes.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_encoded() {
        let listing = Listing {
            entries: vec![
                Entry {
                    name: "sub".into(),
                    is_dir: true,
                    size: 0,
                    modified: None,
                },
                Entry {
                    name: "a <b> & \"c\".txt".into(),
                    is_dir: false,
                    size: 42,
                    modified: Some(HttpDate::from_unix_secs(784_111_777)),
                },
            ],
            truncated: false,
        };
        let html = render("/x&y/", &listing, true);
        assert!(html.contains("<title>Index of /x&amp;y/</title>"), "{html}");
        assert!(html.contains("<a href=\"../\">../</a>"));
        assert!(html.contains("<a href=\"sub/\">sub/</a></td><td class=\"size\">-</td>"));
        assert!(html.contains(
            "<a href=\"a%20%3Cb%3E%20%26%20%22c%22.txt\">a &lt;b&gt; &amp; &quot;c&quot;.txt</a></td>\
             <td class=\"size\">42</td><td>Sun, 06 Nov 1994 08:49:37 GMT</td>"
        ));
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn root_listing_has_no_parent_row() {
        let html = render("/", &Listing::default(), false);
        assert!(!html.contains("../"));
    }

    #[test]
    fn escape_html_table() {
        assert_eq!(escape_html("plain"), "plain");
        assert_eq!(escape_html("<&>\"'"), "&lt;&amp;&gt;&quot;&#39;");
        assert_eq!(escape_html("café"), "café");
    }
}

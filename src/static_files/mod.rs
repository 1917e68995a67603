//! Static file serving: the [`StaticFiles`] handler, which serves a
//! directory tree the way nginx or Go's `http.FileServer` do.
//!
//! This module and its children are built on the crate's public API
//! only, as if they were another crate, and perform no socket I/O: they
//! read the file system and describe a [`Response`]; a file body is an
//! open [`Body::File`] range that the server streams.
//!
//! Files: `mod.rs` (the handler and the life of a request, below: the
//! HTTP side, written once), `path` (request path → checked segments, or
//! a refusal), `resolve` (checked segments → what they name under the
//! root, opened: every look at the file system but a listing's), `mime`
//! (content types and `Accept-Encoding`), `conditional` (RFC 9110 §13
//! preconditions and validators), `range` (RFC 9110 §14 byte ranges:
//! parsing and deciding), `byteranges` (the `multipart/byteranges` body
//! of several ranges), `listing` (HTML directory listings).
//!
//! The life of a request, after Go's `serveFile`:
//! 1. Only `GET` and `HEAD`: anything else is 405 with `Allow: GET, HEAD`.
//! 2. The path is decoded once and checked (`path`): 400 for tricks,
//!    404 for hidden names; then resolved under the canonical root
//!    (`resolve`), with symbolic links followed only while they stay
//!    inside it (else 404).
//! 3. A directory without its trailing slash is redirected (301) to the
//!    slash form, query kept. With the slash: its `index.html`, else a
//!    listing if enabled, else 404.
//! 4. A file: with [`StaticFiles::precompressed_gzip`] on, the resolver
//!    looks for `name.gz` and, for a client that accepts gzip, opens it
//!    in place of `name`; either variant then varies on `Accept-Encoding`.
//! 5. The file comes open, with its metadata read from the open handle;
//!    validators (`ETag`, `Last-Modified`) come from its length and time.
//! 6. Preconditions, in RFC 9110 §13.2.2 order (`conditional`): 412, or
//!    304 with the validators and caching fields but no body.
//! 7. `Range` (GET only), guarded by `If-Range` (`range`): 206 with
//!    `Content-Range` for one range, 206 with a `multipart/byteranges`
//!    body for several (`byteranges`), 416 with `Content-Range: bytes
//!    */LEN`, or the whole file.
//! 8. The response: a [`Body::File`] slice, or for several ranges a
//!    [`Body::Segments`] of part heads and slices, which the server
//!    streams (and, for HEAD, does not send, keeping `Content-Length`).
//!
//! Every response, errors included, carries `X-Content-Type-Options:
//! nosniff`.

mod byteranges;
mod conditional;
mod listing;
mod mime;
mod path;
mod range;
mod resolve;

use crate::{Body, Error, Handler, Method, Request, Response, StatusCode, uri};
use bytes::Bytes;
use conditional::{Precondition, Validators};
use range::RangeChoice;
use resolve::{Found, FoundFile, Precompressed, Resolver, Unindexed, Variant};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// StaticFiles is a handler that serves the files under a root directory.
///
/// It answers `GET` and `HEAD` (anything else: 405 with `Allow: GET,
/// HEAD`), and can be the whole application or be
/// [mounted](crate::Router::mount) under a prefix such as `/assets`.
///
/// * **Safety.** It never serves anything outside the root. The path is
///   percent-decoded once; `..` and `.` segments, encoded separators
///   (`%2F`, `%5C`), backslashes, NUL bytes and drive prefixes (`C:`)
///   are answered 400; symbolic links are followed only while they stay
///   inside the root (else 404, as for a FIFO or a device file, and on
///   Linux a loop of links or a name too long for the file system).
///   Hidden names (starting with `.`, such as `.git/` or `.env`) are
///   answered 404, except `/.well-known/` (RFC 8615) at the top of the
///   root.
/// * **Content.** `Content-Type` comes from the extension (HTML, CSS,
///   JavaScript, JSON, SVG, images, fonts, text, Markdown, XML, PDF,
///   WebAssembly, audio and video; text types with `charset=utf-8`),
///   else `application/octet-stream`; every response has
///   `X-Content-Type-Options: nosniff`. The file is sent as a
///   [`Body::File`], streamed by the server and never read into memory.
/// * **Directories.** Requested without a trailing slash: 301 to the
///   slash form, query kept. With it: `index.html` if present, else an
///   HTML listing if [enabled](StaticFiles::listing) (off by default),
///   else 404.
/// * **Caching.** `Last-Modified`, and a strong `ETag` made of the
///   file's length and modification time in nanoseconds. Preconditions
///   are evaluated in RFC 9110 §13.2.2 order: `If-Match` (strong
///   comparison, `*`) or else `If-Unmodified-Since` can answer 412; then
///   `If-None-Match` (lists, `*`, weak comparison) or else
///   `If-Modified-Since` can answer 304, with no body and with `ETag`,
///   `Cache-Control` and `Vary`. `Cache-Control` is
///   [configurable](StaticFiles::cache_control) and absent by default.
/// * **Ranges.** `Accept-Ranges: bytes`. One range (`bytes=0-99`,
///   `bytes=100-`, `bytes=-500`) gives 206 with `Content-Range`; none
///   satisfiable, 416 with `Content-Range: bytes */LEN` (so an empty
///   file answers 416 to `bytes=0-0`, RFC 9110 §14.1.1). Several ranges
///   are sorted and merged where they overlap or touch; if one part
///   remains it is sent as one range, otherwise as 206 with a
///   `multipart/byteranges` body (RFC 9110 §14.6): a random boundary per
///   answer, each part with the file's `Content-Type` and its own
///   `Content-Range`, an exact `Content-Length`, the parts sent from the
///   file with `sendfile`. The whole file is sent with 200 instead when
///   the field lists more than 64 ranges, when the ranges add up to more
///   bytes than the file has, when more than two of them overlap, or when
///   more than 8 are listed out of order (RFC 9110 §14.2; CVE-2011-3192).
///   An invalid `Range` is ignored, and so is `Range` on `HEAD` (RFC 9110
///   §14.2: "A server MUST ignore a Range header field received with a
///   request method that is unrecognized or for which range handling is
///   not defined", and only `GET` defines it). `If-Range` (a strong tag
///   or the exact `Last-Modified` date) keeps the range, else 200.
/// * **Precompressed files**, when [enabled](StaticFiles::precompressed_gzip):
///   `name.gz` next to `name` is sent, with `Content-Encoding: gzip`,
///   to clients whose `Accept-Encoding` allows gzip; either variant then
///   carries `Vary: Accept-Encoding`, and each has its own `ETag`.
///
/// # Examples
/// Serving a directory under `/assets`:
/// ```
/// use sockhttp::{Router, Server, StaticFiles};
/// use std::io::{Read, Write};
///
/// let root = std::env::temp_dir().join(format!("sockhttp-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&root)?;
/// std::fs::write(root.join("hello.txt"), "hello")?;
///
/// let app = Router::new().mount(
///     "/assets",
///     StaticFiles::new(&root).listing(true).cache_control(Some("no-cache")),
/// );
/// let server = Server::bind("127.0.0.1:0")?.threads(2).spawn(app)?;
///
/// let mut client = std::net::TcpStream::connect(server.local_addr())?;
/// client.write_all(b"GET /assets/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
/// let mut reply = String::new();
/// client.read_to_string(&mut reply)?;
/// assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
/// assert!(reply.contains("Content-Type: text/plain; charset=utf-8\r\n"));
/// assert!(reply.contains("Cache-Control: no-cache\r\n"));
/// assert!(reply.contains("ETag: \""));
/// assert!(reply.ends_with("\r\n\r\nhello"));
///
/// server.shutdown()?;
/// std::fs::remove_dir_all(&root)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct StaticFiles {
    /// Every look at the file system but a listing's: the root, the file
    /// or directory a path names, `index.html`, `.gz` siblings.
    files: Resolver,
    listing: bool,
    /// Shared by every response (a `Bytes` clone copies nothing).
    cache_control: Option<Bytes>,
    precompressed_gzip: bool,
}

impl StaticFiles {
    /// Makes a handler serving the files under `root`: no listings, no
    /// `Cache-Control`, no precompressed variants.
    ///
    /// The root is resolved (symbolic links included) at the first request,
    /// again whenever a request finds nothing under it, and again when the
    /// root path is found to name another directory (looked at most every
    /// [`StaticFiles::root_recheck`]), so it may be created later or be a
    /// link swapped by a deployment; while it does not exist, requests get
    /// 500 and a `warn` log line.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> StaticFiles {
        StaticFiles {
            files: Resolver::new(root.into()),
            listing: false,
            cache_control: None,
            precompressed_gzip: false,
        }
    }

    /// Sets how often the root path is looked up again, to see whether it
    /// still names the directory being served (default 1 s). A deployment
    /// that swaps the root's symbolic link to a new release is served
    /// from the new release within this time; a name only the new release
    /// has is found at once (a request that finds nothing always looks
    /// again). `Duration::ZERO` looks on every request, at the cost of
    /// one `stat` of the root path each time.
    #[must_use]
    pub fn root_recheck(mut self, every: Duration) -> StaticFiles {
        self.files.set_recheck(every);
        self
    }

    /// Turns HTML listings of directories without an `index.html` on or
    /// off (off by default, as in nginx, since a listing shows names the
    /// site may not link to). Hidden names are never listed.
    #[must_use]
    pub fn listing(mut self, on: bool) -> StaticFiles {
        self.listing = on;
        self
    }

    /// Sets the `Cache-Control` value sent with files, on 200, 206 and
    /// 304 responses alike (none by default: caches then use heuristics
    /// based on `Last-Modified`). For example `no-cache` (always
    /// revalidate, cheap with the `ETag`), or `public, max-age=31536000,
    /// immutable` for file names that change with their content.
    /// Listings are always sent with `no-cache`.
    ///
    /// # Panics
    /// If `value` holds a control character (CR, LF, NUL, …), which may not
    /// be sent: here, rather than on the first file served.
    #[must_use]
    pub fn cache_control(mut self, value: Option<&str>) -> StaticFiles {
        self.cache_control = value.map(|v| {
            let v = Bytes::copy_from_slice(v.as_bytes());
            if let Err(e) = crate::Headers::new().try_insert("Cache-Control", v.clone()) {
                panic!("StaticFiles::cache_control: {e}");
            }
            v
        });
        self
    }

    /// Turns on or off sending `name.gz` in place of `name` to clients
    /// that accept gzip (off by default, as nginx's `gzip_static`). The
    /// `.gz` file must be a regular file inside the root and is trusted
    /// to hold the same content, compressed.
    #[must_use]
    pub fn precompressed_gzip(mut self, on: bool) -> StaticFiles {
        self.precompressed_gzip = on;
        self
    }

    /// Returns the root directory, as given.
    pub fn root(&self) -> &Path {
        self.files.root()
    }

    /// Answers one request (steps 1–8 of the module docs); an `Err`
    /// becomes the one error response of [`Response::from_error`].
    fn respond(&self, req: &Request) -> Result<Response, Error> {
        if !matches!(req.method(), Method::Get | Method::Head) {
            return Err(Error::MethodNotAllowed(vec![Method::Get, Method::Head]));
        }
        let wanted = path::parse_request_path(req.path())?;
        let gz = if !self.precompressed_gzip {
            Precompressed::Off
        } else if mime::accepts_gzip(req.headers().get_all_bytes("accept-encoding")) {
            Precompressed::Accepted
        } else {
            Precompressed::Declined
        };
        match self.files.find(&wanted, gz)? {
            Found::File(found) => {
                let name = if found.index {
                    resolve::INDEX
                } else {
                    wanted.segments.last().map_or("", String::as_str)
                };
                self.file_response(req, found, name)
            }
            Found::Directory => Ok(Response::redirect(
                StatusCode::MOVED_PERMANENTLY,
                &slash_location(req),
            )),
            Found::Unindexed(dir) if self.listing => {
                self.list_directory(req, &dir, &wanted.segments)
            }
            Found::Unindexed(_) => Err(Error::NotFound),
        }
    }

    /// Answers with the regular file `found`, whose request name `name`
    /// gives its type (steps 4–8): its `.gz` variant is sent with
    /// `Content-Encoding: gzip`, and either variant of a file that has
    /// both with `Vary: Accept-Encoding`.
    fn file_response(
        &self,
        req: &Request,
        found: FoundFile,
        name: &str,
    ) -> Result<Response, Error> {
        let FoundFile {
            file,
            meta,
            variant,
            ..
        } = found;
        let encoded = variant == Variant::Gzip;
        let vary = variant != Variant::Only;
        let size = meta.len();
        let suffix = if encoded { "-gz" } else { "" };
        let v = Validators::from_file(size, meta.modified().ok(), SystemTime::now(), suffix);

        match conditional::evaluate(req.method(), req.headers(), &v) {
            Precondition::Failed => {
                return Err(Error::with_status(
                    StatusCode::PRECONDITION_FAILED,
                    "precondition failed",
                ));
            }
            Precondition::NotModified => {
                // RFC 9110 §15.4.5: a 304 carries the fields a 200 would
                // among "Cache-Control, Content-Location, Date, ETag,
                // Expires, and Vary", and "SHOULD NOT generate
                // representation metadata other than the above listed
                // fields unless said metadata exists for the purpose of
                // guiding cache updates (e.g., Last-Modified might be
                // useful if the response does not have an ETag field)".
                let mut resp = fresh(StatusCode::NOT_MODIFIED);
                if let (None, Some(lm)) = (&v.etag, v.last_modified) {
                    resp = set(resp, "Last-Modified", date_value(lm));
                }
                return Ok(self.caching_fields(resp, v.etag, vary));
            }
            Precondition::Proceed => {}
        }
        let choice = match requested_range(req) {
            Some(value) if conditional::if_range_holds(req.headers(), &v) => {
                range::choose_range(value, size)
            }
            _ => RangeChoice::Full,
        };

        let content_type = mime::content_type(name);
        let mut resp = set(fresh(StatusCode::OK), "Content-Type", content_type);
        if encoded {
            resp = set(resp, "Content-Encoding", "gzip");
        }
        if let Some(lm) = v.last_modified {
            resp = set(resp, "Last-Modified", date_value(lm));
        }
        resp = set(
            self.caching_fields(resp, v.etag, vary),
            "Accept-Ranges",
            "bytes",
        );
        Ok(match choice {
            RangeChoice::Full => resp.with_body(Body::File {
                file,
                offset: 0,
                len: size,
            }),
            RangeChoice::Partial { start, len } => resp
                .with_status(StatusCode::PARTIAL_CONTENT)
                .with_header("Content-Range", range::content_range(start, len, size))
                .with_body(Body::File {
                    file,
                    offset: start,
                    len,
                }),
            RangeChoice::Multipart(ranges) => {
                let boundary = byteranges::boundary();
                let segments = byteranges::segments(&ranges, size, content_type, &boundary);
                set(
                    resp.with_status(StatusCode::PARTIAL_CONTENT),
                    "Content-Type",
                    byteranges::content_type(&boundary),
                )
                .with_body(Body::Segments { file, segments })
            }
            RangeChoice::Unsatisfiable => {
                let mut err = Response::from_error(&Error::with_status(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range not satisfiable",
                ));
                err.headers_mut()
                    .insert("Content-Range", range::unsatisfied_range(size));
                err.headers_mut().insert("Accept-Ranges", "bytes");
                err
            }
        })
    }

    /// Adds the fields a 200 and a 304 for the same file share: `ETag`,
    /// `Cache-Control` and `Vary`.
    fn caching_fields(&self, mut resp: Response, etag: Option<String>, vary: bool) -> Response {
        if let Some(etag) = etag {
            resp = set(resp, "ETag", etag);
        }
        if let Some(cc) = &self.cache_control {
            resp = set(resp, "Cache-Control", cc.clone());
        }
        if vary {
            resp = set(resp, "Vary", "Accept-Encoding");
        }
        resp
    }

    /// Serves a listing of the directory `dir`, requested as `segments`.
    /// A listing has no validators (it changes when any file in it does),
    /// so preconditions see none: `If-Match` with tags fails,
    /// `If-None-Match: *` gives 304.
    fn list_directory(
        &self,
        req: &Request,
        dir: &Unindexed,
        segments: &[String],
    ) -> Result<Response, Error> {
        let none = Validators {
            etag: None,
            last_modified: None,
        };
        match conditional::evaluate(req.method(), req.headers(), &none) {
            Precondition::Failed => {
                return Err(Error::with_status(
                    StatusCode::PRECONDITION_FAILED,
                    "precondition failed",
                ));
            }
            Precondition::NotModified => {
                return Ok(Response::new(StatusCode::NOT_MODIFIED)
                    .with_header("Cache-Control", "no-cache"));
            }
            Precondition::Proceed => {}
        }
        let entries = listing::read_entries(&dir.root, &dir.dir, segments.is_empty())
            .map_err(path::io_error)?;
        let prefix = uri::percent_decode(req.mount_prefix()).unwrap_or_default();
        let mut shown = String::from(&*prefix);
        for seg in segments {
            shown.push('/');
            shown.push_str(seg);
        }
        shown.push('/');
        let html = listing::render(&shown, &entries, !segments.is_empty());
        Ok(Response::html(html).with_header("Cache-Control", "no-cache"))
    }
}

impl Handler for StaticFiles {
    fn call(&self, req: &mut Request) -> Response {
        let resp = match self.respond(req) {
            Ok(resp) => resp,
            Err(e) => Response::from_error(&e),
        };
        set(resp, "X-Content-Type-Options", "nosniff")
    }
}

/// Sets a field named by a constant: neither the name nor a constant
/// value is copied, where [`Response::with_header`] copies both. A file
/// response sets eight fields, so this is most of its allocations.
fn set(mut resp: Response, name: &'static str, value: impl Into<Bytes>) -> Response {
    resp.headers_mut().insert(name, value);
    resp
}

/// A response with room for the fields a file response sets, so that its
/// list is allocated once.
fn fresh(status: StatusCode) -> Response {
    let mut resp = Response::new(status);
    *resp.headers_mut() = crate::Headers::with_capacity(10);
    resp
}

/// Formats a date as a field value, without the formatting machinery.
fn date_value(date: crate::HttpDate) -> Bytes {
    Bytes::copy_from_slice(&date.to_bytes())
}

/// Returns the `Range` value to honour: the single `Range` field of a
/// `GET` request, if any (two `Range` fields are ignored, as invalid).
fn requested_range(req: &Request) -> Option<&str> {
    if *req.method() != Method::Get {
        return None;
    }
    let mut values = req.headers().get_all("range");
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// Builds the `Location` of the slash form of a directory: the mount
/// prefix, then the request path's non-empty segments as sent (still
/// encoded), a final `/`, and the query if any. Empty segments are
/// dropped so the value can never start with `//`, which a browser would
/// read as another host (Go answers with a relative `Location` for the
/// same reason).
fn slash_location(req: &Request) -> String {
    let mut loc = String::from(req.mount_prefix());
    for seg in req.path().split('/').filter(|s| !s.is_empty()) {
        loc.push('/');
        loc.push_str(seg);
    }
    loc.push('/');
    if let Some(q) = req.query() {
        loc.push('?');
        loc.push_str(q);
    }
    loc
}

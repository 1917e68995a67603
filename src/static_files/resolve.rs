//! Resolution: from a checked request path to what it names under the
//! root, opened. Every look at the file system made to answer a request
//! happens here, behind [`Resolver::find`]; only a listing reads the
//! directory it is given (`listing`).
//!
//! This module decides no response: it returns a [`Found`], or the
//! [`Error`] a file-system failure maps to ([`path::io_error`]), and the
//! handler writes the answer, once, whichever way below found the file.
//!
//! How one name is looked up ([`Root::locate`]), two ways:
//! 1. **Plainly** (Linux): one `openat2(RESOLVE_BENEATH |
//!    RESOLVE_NO_SYMLINKS)` under an open handle on the root. The kernel
//!    refuses to leave the root and to follow any symbolic link on the
//!    way, so what opens is exactly the root and the checked segments,
//!    with no `readlink` per component and no window between a check and
//!    the open. It opens without blocking, so a FIFO never holds the
//!    worker; its metadata is then read from the open handle.
//! 2. **Carefully**, when a symbolic link is on the way, the kernel lacks
//!    `openat2`, or on other systems: the path is canonicalized (every
//!    link resolved), must still lie inside the canonical root and name
//!    nothing hidden ([`path::is_contained`]; else 404, as if it did not
//!    exist), and is looked at (`stat`) before it is opened, since
//!    opening a FIFO would block.
//!
//! What [`Resolver::find`] does with a request path:
//! 1. The name is located under the canonical root.
//! 2. A directory without its trailing slash is [`Found::Directory`].
//!    With it, its `index.html` if that is a regular file, else
//!    [`Found::Unindexed`].
//! 3. A name that is neither file nor directory, or a file named with a
//!    trailing slash, is not found.
//! 4. A file's `name.gz` sibling, next to the file as found (the target
//!    of a link), is looked for when the caller asks ([`Precompressed`]),
//!    and opened in place of the file when the client accepts it.
//! 5. When nothing servable was found, the root path may name another
//!    directory now (a deployment swapped its link): the root is resolved
//!    again and, if it moved, the path looked up under the new one.
//!
//! The careful way's check and its `open` are two steps: whoever can swap
//! a directory for a symbolic link inside the root between them can make
//! the server follow it. Such a person can already publish any file by
//! copying it into the root, so the threat model is a remote client, not
//! a local writer.

use super::path::{self, RequestPath};
use crate::{Error, StatusCode};
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The file served for a directory requested with its trailing slash.
pub(crate) const INDEX: &str = "index.html";

/// The suffix of a precompressed sibling.
const GZ: &str = ".gz";

/// How often the root path is looked up again by default (see
/// [`crate::StaticFiles::root_recheck`]).
const DEFAULT_ROOT_RECHECK: Duration = Duration::from_secs(1);

/// Precompressed says what a request wants of a file's `.gz` sibling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precompressed {
    /// Precompressed variants are off: none is looked for.
    Off,
    /// The client does not accept gzip: only whether a sibling exists
    /// matters (the response then varies on `Accept-Encoding`).
    Declined,
    /// The client accepts gzip: a sibling is opened in place of the file.
    Accepted,
}

/// Found is what a request path names under the root.
#[derive(Debug)]
pub(crate) enum Found {
    /// A regular file (or a directory's `index.html`), open.
    File(FoundFile),
    /// A directory named without its trailing slash.
    Directory,
    /// A directory named with its trailing slash that has no `index.html`
    /// regular file.
    Unindexed(Unindexed),
}

/// FoundFile is a regular file to serve, open, with the metadata read
/// from the open handle.
#[derive(Debug)]
pub(crate) struct FoundFile {
    /// The file: the one named, or its `.gz` sibling (see `variant`).
    pub(crate) file: File,
    /// Its metadata (length, modification time).
    pub(crate) meta: Metadata,
    /// Whether it is the `index.html` of the directory the request named.
    pub(crate) index: bool,
    /// Which variant `file` is.
    pub(crate) variant: Variant,
}

/// Variant says which representation of a file was opened, and whether
/// another exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variant {
    /// The file itself, which has no `.gz` sibling (or none was looked
    /// for).
    Only,
    /// The file itself, although a `.gz` sibling exists: the client did
    /// not accept it, or it could not be opened.
    Identity,
    /// The `.gz` sibling, in place of the file.
    Gzip,
}

/// Unindexed is a directory without `index.html`, for a listing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unindexed {
    /// The canonical root (a listing leaves out links that lead outside).
    pub(crate) root: PathBuf,
    /// The directory's canonical path, inside `root`.
    pub(crate) dir: PathBuf,
}

/// Resolver finds what request paths name under a root directory.
///
/// The root is resolved (symbolic links included) at the first request,
/// again whenever a name is not found under it, and again when the root
/// path is found to name another directory (looked at most every
/// `recheck`, with one `stat`), so it may be created later or be a link
/// swapped by a deployment.
#[derive(Clone, Debug)]
pub(crate) struct Resolver {
    /// The root directory, as given.
    root: PathBuf,
    /// The resolved root, shared by the clones of a handler.
    cache: Arc<RwLock<Option<CachedRoot>>>,
    /// How often the root path is looked at again.
    recheck: Duration,
}

/// CachedRoot is the resolved root, and when its identity was last seen
/// to hold.
#[derive(Debug)]
struct CachedRoot {
    root: Arc<Root>,
    checked: Instant,
}

impl Resolver {
    /// Makes a resolver for the files under `root`.
    pub(crate) fn new(root: PathBuf) -> Resolver {
        Resolver {
            root,
            cache: Arc::new(RwLock::new(None)),
            recheck: DEFAULT_ROOT_RECHECK,
        }
    }

    /// Sets how often the root path is looked up again.
    pub(crate) fn set_recheck(&mut self, every: Duration) {
        self.recheck = every;
    }

    /// Returns the root directory, as given.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Finds what `wanted` (which [`path::parse_request_path`] checked,
    /// hidden names included) names under the root, with its `.gz`
    /// sibling as `gz` asks (steps 1–5 of the module docs).
    ///
    /// # Errors
    /// 404 ([`Error::NotFound`]) when nothing servable is there; 403 or
    /// 500 for other file-system failures ([`path::io_error`]); 500 while
    /// the root does not exist.
    pub(crate) fn find(&self, wanted: &RequestPath, gz: Precompressed) -> Result<Found, Error> {
        let root = self.canonical_root(false)?;
        match root.find(wanted, gz) {
            // Nothing there under the root we know: the root itself may
            // have moved.
            Err(Error::NotFound) => {
                let fresh = self.canonical_root(true)?;
                if fresh.is_same(&root) {
                    return Err(Error::NotFound);
                }
                fresh.find(wanted, gz)
            }
            found => found,
        }
    }

    /// Returns the canonical root, resolving it again when the root path
    /// no longer names the directory it named (looked at most every
    /// `recheck`), or when `refresh` asks.
    fn canonical_root(&self, refresh: bool) -> Result<Arc<Root>, Error> {
        if !refresh {
            let cached = self.cache.read().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cached.as_ref() {
                if c.checked.elapsed() < self.recheck {
                    return Ok(Arc::clone(&c.root));
                }
            }
        }
        let identity = dir_identity(&self.root);
        if !refresh {
            let mut cached = self.cache.write().unwrap_or_else(|p| p.into_inner());
            if let (Some(c), Some(_)) = (cached.as_mut(), identity) {
                if c.root.identity == identity {
                    c.checked = Instant::now();
                    return Ok(Arc::clone(&c.root));
                }
            }
        }
        let path = std::fs::canonicalize(&self.root).map_err(|e| {
            log::warn!("static root {} is unavailable: {e}", self.root.display());
            Error::with_status(StatusCode::INTERNAL_SERVER_ERROR, "static root unavailable")
        })?;
        let root = Arc::new(Root::open(path, identity));
        if identity.is_some() {
            *self.cache.write().unwrap_or_else(|p| p.into_inner()) = Some(CachedRoot {
                root: Arc::clone(&root),
                checked: Instant::now(),
            });
        }
        Ok(root)
    }
}

/// Root is the canonical root directory, the (device, inode) of the
/// directory it was resolved from (on Unix), and on Linux an open handle
/// on it, under which names are opened plainly.
#[derive(Debug)]
struct Root {
    path: PathBuf,
    identity: Option<(u64, u64)>,
    #[cfg(target_os = "linux")]
    dir: Option<rustix::fd::OwnedFd>,
}

impl Root {
    /// Makes the root at the canonical `path`, opening a handle on it
    /// where the plain way exists.
    fn open(path: PathBuf, identity: Option<(u64, u64)>) -> Root {
        Root {
            #[cfg(target_os = "linux")]
            dir: open_dir(&path),
            path,
            identity,
        }
    }

    /// Reports whether `other` is the same directory at the same path.
    fn is_same(&self, other: &Root) -> bool {
        self.path == other.path && self.identity == other.identity
    }

    /// Finds what `wanted` names under this root (steps 1–4 of the module
    /// docs).
    fn find(&self, wanted: &RequestPath, gz: Precompressed) -> Result<Found, Error> {
        let name = Name::under(&self.path, &wanted.segments);
        let target = self.locate(&name)?;
        if target.meta.is_dir() {
            if !wanted.trailing_slash {
                return Ok(Found::Directory);
            }
            let index = name.child(INDEX);
            return match self.locate(&index) {
                Ok(entry) if entry.meta.is_file() => self.file(entry, index, true, gz),
                Ok(_) | Err(Error::NotFound) => Ok(Found::Unindexed(Unindexed {
                    root: self.path.clone(),
                    dir: target.into_path(name),
                })),
                Err(e) => Err(e),
            };
        }
        // A file named like a directory (`/hello.txt/`), or something that
        // is neither file nor directory.
        if wanted.trailing_slash || !target.meta.is_file() {
            return Err(Error::NotFound);
        }
        self.file(target, name, false, gz)
    }

    /// Returns the regular file `entry`, located as `name`, or its `.gz`
    /// sibling as `gz` asks.
    fn file(
        &self,
        entry: Entry,
        name: Name,
        index: bool,
        gz: Precompressed,
    ) -> Result<Found, Error> {
        let variant = match gz {
            Precompressed::Off => Variant::Only,
            _ => match self.sibling(&entry.sibling_name(name), gz) {
                Sibling::Opened(file, meta) => {
                    return Ok(Found::File(FoundFile {
                        file,
                        meta,
                        index,
                        variant: Variant::Gzip,
                    }));
                }
                Sibling::Present => Variant::Identity,
                Sibling::Absent => Variant::Only,
            },
        };
        let (file, meta) = entry.open()?;
        Ok(Found::File(FoundFile {
            file,
            meta,
            index,
            variant,
        }))
    }

    /// Locates `name`, plainly if that can decide, else carefully (see
    /// the module docs).
    ///
    /// # Errors
    /// 404 if nothing is there, or it lies outside the root or is hidden
    /// once links are resolved; otherwise as [`path::io_error`].
    fn locate(&self, name: &Name) -> Result<Entry, Error> {
        if let Some(opened) = self.open_plain(name) {
            let file = opened.map_err(path::io_error)?;
            let meta = file.metadata().map_err(path::io_error)?;
            return Ok(Entry {
                meta,
                at: At::Open(file),
            });
        }
        let canonical = std::fs::canonicalize(&name.path).map_err(path::io_error)?;
        if !path::is_contained(&self.path, &canonical) {
            log::debug!(
                "{} resolves outside the static root; refused",
                name.path.display()
            );
            return Err(Error::NotFound);
        }
        let meta = std::fs::metadata(&canonical).map_err(path::io_error)?;
        Ok(Entry {
            meta,
            at: At::Canonical(canonical),
        })
    }

    /// Looks for the `.gz` sibling named `gz`: only whether it is a
    /// regular file inside the root, or, when `want` accepts it, opened.
    /// One that cannot be opened is served by its uncompressed file.
    fn sibling(&self, gz: &Name, want: Precompressed) -> Sibling {
        let canonical = match self.plain_kind(gz) {
            Some(false) => return Sibling::Absent,
            Some(true) => None,
            // A link, or no plain way: the careful way decides. Most files
            // have no `.gz`: one `stat` says so, before the full
            // resolution (a `readlink` per path component).
            None => match std::fs::metadata(&gz.path).and_then(|_| std::fs::canonicalize(&gz.path))
            {
                Ok(c) if path::is_contained(&self.path, &c) && c.is_file() => Some(c),
                _ => return Sibling::Absent,
            },
        };
        if want != Precompressed::Accepted {
            return Sibling::Present;
        }
        let opened = match canonical {
            Some(c) => File::open(c).ok(),
            None => self.open_plain(gz).and_then(Result::ok),
        };
        match opened.and_then(|f| f.metadata().ok().filter(Metadata::is_file).map(|m| (f, m))) {
            Some((file, meta)) => Sibling::Opened(file, meta),
            None => Sibling::Present,
        }
    }

    /// Opens `name` plainly (Linux: see [`open_beneath`]); `None` when
    /// this cannot decide and the careful way must.
    #[cfg(target_os = "linux")]
    fn open_plain(&self, name: &Name) -> Option<io::Result<File>> {
        open_beneath(self.dir.as_ref()?, name.relative())
    }

    /// Elsewhere there is no plain way.
    #[cfg(not(target_os = "linux"))]
    fn open_plain(&self, _name: &Name) -> Option<io::Result<File>> {
        None
    }

    /// Reports whether `name` is a regular file, looked at plainly
    /// (Linux: without following a final link); `None` when a link is
    /// there or the answer is unclear, so that the careful way decides.
    #[cfg(target_os = "linux")]
    fn plain_kind(&self, name: &Name) -> Option<bool> {
        use rustix::fs::{AtFlags, FileType, statat};
        use rustix::io::Errno;
        match statat(
            self.dir.as_ref()?,
            name.relative(),
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => Some(true),
                FileType::Symlink => None,
                _ => Some(false),
            },
            Err(Errno::NOENT | Errno::NOTDIR) => Some(false),
            Err(_) => None,
        }
    }

    /// Elsewhere there is no plain way.
    #[cfg(not(target_os = "linux"))]
    fn plain_kind(&self, _name: &Name) -> Option<bool> {
        None
    }
}

/// Sibling is what was found of a file's `.gz` sibling.
#[derive(Debug)]
enum Sibling {
    /// None that is a regular file inside the root.
    Absent,
    /// One, not opened.
    Present,
    /// One, open, with its metadata.
    Opened(File, Metadata),
}

/// Entry is a name located under the root: its metadata (links followed)
/// and how to reach it.
#[derive(Debug)]
struct Entry {
    meta: Metadata,
    at: At,
}

/// At says how a located name is reached.
#[derive(Debug)]
enum At {
    /// Opened plainly: the name as located is its canonical path.
    Open(File),
    /// Its canonical path, inside the root; opened only to be served.
    Canonical(PathBuf),
}

impl Entry {
    /// Opens the regular file this entry is, or returns the handle the
    /// plain way opened.
    ///
    /// # Errors
    /// 404 if it is no longer a regular file; otherwise as
    /// [`path::io_error`].
    fn open(self) -> Result<(File, Metadata), Error> {
        match self.at {
            At::Open(file) => Ok((file, self.meta)),
            At::Canonical(canonical) => {
                let file = File::open(canonical).map_err(path::io_error)?;
                let meta = file.metadata().map_err(path::io_error)?;
                if !meta.is_file() {
                    return Err(Error::NotFound);
                }
                Ok((file, meta))
            }
        }
    }

    /// Returns the canonical path of this entry, located as `name`.
    fn into_path(self, name: Name) -> PathBuf {
        match self.at {
            At::Open(_) => name.path,
            At::Canonical(canonical) => canonical,
        }
    }

    /// Returns the name of this file's `.gz` sibling, next to the file as
    /// found (the target of a link): `name` plus `.gz` when it was opened
    /// plainly (without allocating), else its canonical path plus `.gz`.
    fn sibling_name(&self, mut name: Name) -> Name {
        match &self.at {
            At::Open(_) => {
                name.path.as_mut_os_string().push(GZ);
                name
            }
            At::Canonical(canonical) => {
                let mut gz = OsString::with_capacity(canonical.as_os_str().len() + GZ.len());
                gz.push(canonical);
                gz.push(GZ);
                Name {
                    path: PathBuf::from(gz),
                    root_len: name.root_len,
                }
            }
        }
    }
}

/// Name is a path under the canonical root: the root with each checked
/// segment pushed in turn (never `Path::join` of a string that could be
/// absolute), with room to add `.gz` without growing, and where the part
/// relative to the root begins.
#[derive(Debug)]
struct Name {
    path: PathBuf,
    root_len: usize,
}

impl Name {
    /// Makes the name of `segments` under the canonical root `root`.
    fn under(root: &Path, segments: &[String]) -> Name {
        let root_len = root.as_os_str().len();
        let len = segments.iter().map(|s| s.len() + 1).sum::<usize>();
        let mut path = PathBuf::with_capacity(root_len + len + GZ.len());
        path.push(root);
        for seg in segments {
            path.push(seg);
        }
        Name { path, root_len }
    }

    /// Makes the name of `child` inside this one, with room for `.gz`.
    fn child(&self, child: &str) -> Name {
        let len = self.path.as_os_str().len() + 1 + child.len() + GZ.len();
        let mut path = PathBuf::with_capacity(len);
        path.push(&self.path);
        path.push(child);
        Name {
            path,
            root_len: self.root_len,
        }
    }

    /// Returns the part relative to the root (`.` for the root itself),
    /// for the plain way.
    #[cfg(target_os = "linux")]
    fn relative(&self) -> &[u8] {
        use std::os::unix::ffi::OsStrExt;
        let rest = self
            .path
            .as_os_str()
            .as_bytes()
            .get(self.root_len..)
            .unwrap_or_default();
        match rest.strip_prefix(b"/").unwrap_or(rest) {
            b"" => b".",
            rel => rel,
        }
    }
}

/// Opens `rel` (the checked part of a [`Name`] relative to the root)
/// under the root directory `root` with one
/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` (Linux 5.6).
/// `None` when this cannot decide: a symbolic link is on the way (or a
/// loop of them), or the kernel lacks `openat2` or refuses it here.
/// Opened non-blocking, so a FIFO never blocks the worker (the caller
/// refuses anything but files and directories).
#[cfg(target_os = "linux")]
fn open_beneath(root: &rustix::fd::OwnedFd, rel: &[u8]) -> Option<io::Result<File>> {
    use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
    use rustix::io::Errno;
    let opened = openat2(
        root,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    );
    match opened {
        Ok(fd) => Some(Ok(File::from(fd))),
        Err(Errno::LOOP | Errno::NOSYS | Errno::XDEV | Errno::AGAIN | Errno::PERM) => None,
        Err(e) => Some(Err(e.into())),
    }
}

/// Opens the root directory, for [`open_beneath`] (Linux); `None` leaves
/// only the careful way.
#[cfg(target_os = "linux")]
fn open_dir(root: &Path) -> Option<rustix::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags, open};
    open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Returns the (device, inode) of the directory `path` names now, on
/// Unix; `None` elsewhere (the root is then resolved on every request).
fn dir_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Read;

    /// Node is one entry of a test tree.
    enum Node {
        File(&'static [u8]),
        Dir,
        Link(&'static str),
    }

    /// The tree the table looks in: `root/` is served, `outside/` is not.
    /// A file, directories with and without `index.html`, `.gz` siblings
    /// plain, linked inside, linked outside and not a file, links inside
    /// and outside the root, and a dotfile.
    #[rustfmt::skip]
    const TREE: &[(&str, Node)] = &[
        ("root/a.txt", Node::File(b"A")),
        ("root/app.js", Node::File(b"identity")),
        ("root/app.js.gz", Node::File(b"GZ")),
        ("root/sub/index.html", Node::File(b"index")),
        ("root/sub/index.html.gz", Node::File(b"index-gz")),
        ("root/noindex/x.txt", Node::File(b"x")),
        ("root/y/index.html", Node::Dir),
        ("root/d.txt", Node::File(b"D")),
        ("root/d.txt.gz", Node::Dir),
        ("root/b.txt", Node::File(b"B")),
        ("root/b.txt.gz", Node::Link("app.js.gz")),
        ("root/c.txt", Node::File(b"C")),
        ("outside/secret.gz", Node::File(b"SECRET-GZ")),
        ("root/c.txt.gz", Node::Link("../outside/secret.gz")),
        ("root/.env", Node::File(b"SECRET")),
        ("outside/secret.txt", Node::File(b"SECRET")),
        ("root/link_in", Node::Link("a.txt")),
        ("root/link_app", Node::Link("app.js")),
        ("root/link_sub", Node::Link("sub")),
        ("root/link_noindex", Node::Link("noindex")),
        ("root/link_out", Node::Link("../outside/secret.txt")),
        ("root/link_dir_out", Node::Link("../outside")),
        ("root/link_hidden", Node::Link(".env")),
    ];

    /// TempDir is a temporary directory built from nodes, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str, nodes: &[(&str, Node)]) -> TempDir {
            let base =
                std::env::temp_dir().join(format!("sockhttp-resolve-{}-{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            for (rel, node) in nodes {
                let p = base.join(rel);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                match node {
                    Node::File(content) => std::fs::write(&p, content),
                    Node::Dir => std::fs::create_dir_all(&p),
                    Node::Link(target) => std::os::unix::fs::symlink(target, &p),
                }
                .unwrap();
            }
            TempDir(base)
        }

        /// The canonical `root/`.
        fn root(&self) -> PathBuf {
            std::fs::canonicalize(self.0.join("root")).unwrap()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Want is what a lookup should return: the content of the file
    /// opened, whether it is an index and which variant; a directory to
    /// redirect; the directory to list, relative to the root; or the
    /// status of the error.
    #[derive(Clone, Copy, Debug)]
    enum Want {
        File(&'static str, bool, Variant),
        Directory,
        Unindexed(&'static str),
        Status(u16),
    }

    /// Got is what a lookup returned, in the terms of [`Want`].
    #[derive(Debug, PartialEq, Eq)]
    enum Got {
        File(String, bool, Variant),
        Directory,
        Unindexed(PathBuf),
        Status(u16),
    }

    impl Want {
        fn under(self, root: &Path) -> Got {
            match self {
                Want::File(body, index, v) => Got::File(body.to_owned(), index, v),
                Want::Directory => Got::Directory,
                Want::Unindexed("") => Got::Unindexed(root.to_path_buf()),
                Want::Unindexed(dir) => Got::Unindexed(root.join(dir)),
                Want::Status(s) => Got::Status(s),
            }
        }
    }

    impl Got {
        /// Reads the file a lookup opened, checking that its metadata is
        /// that of the same file, and that a listing is under `root`.
        fn of(root: &Path, found: Result<Found, Error>) -> Got {
            match found {
                Err(e) => Got::Status(e.status().map_or(0, |s| s.as_u16())),
                Ok(Found::Directory) => Got::Directory,
                Ok(Found::File(f)) => {
                    let mut body = String::new();
                    (&f.file).read_to_string(&mut body).unwrap();
                    assert_eq!(f.meta.len(), body.len() as u64, "metadata of {body:?}");
                    Got::File(body, f.index, f.variant)
                }
                Ok(Found::Unindexed(u)) => {
                    assert_eq!(u.root, root);
                    Got::Unindexed(u.dir)
                }
            }
        }
    }

    use Precompressed::{Accepted, Declined, Off};
    use Variant::{Gzip, Identity, Only};
    use Want::{Directory, File as F, Status, Unindexed as U};

    struct Case {
        name: &'static str,
        path: &'static str,
        gz: Precompressed,
        want: Want,
    }

    const fn case(name: &'static str, path: &'static str, gz: Precompressed, want: Want) -> Case {
        Case {
            name,
            path,
            gz,
            want,
        }
    }

    #[rustfmt::skip]
    const CASES: &[Case] = &[
        case("file", "/a.txt", Off, F("A", false, Only)),
        case("file, no gz sibling", "/a.txt", Accepted, F("A", false, Only)),
        case("gz off", "/app.js", Off, F("identity", false, Only)),
        case("gz declined", "/app.js", Declined, F("identity", false, Identity)),
        case("gz accepted", "/app.js", Accepted, F("GZ", false, Gzip)),
        case("gz that is a directory", "/d.txt", Accepted, F("D", false, Only)),
        case("gz linked inside", "/b.txt", Accepted, F("GZ", false, Gzip)),
        case("gz linked inside, declined", "/b.txt", Declined, F("B", false, Identity)),
        case("gz linked outside", "/c.txt", Accepted, F("C", false, Only)),
        case("directory without slash", "/sub", Off, Directory),
        case("directory with index", "/sub/", Off, F("index", true, Only)),
        case("index with gz", "/sub/", Accepted, F("index-gz", true, Gzip)),
        case("index named", "/sub/index.html", Off, F("index", false, Only)),
        case("directory without index", "/noindex/", Off, U("noindex")),
        case("no index, no slash", "/noindex", Off, Directory),
        case("root without index", "/", Off, U("")),
        case("mount point", "", Off, Directory),
        case("index.html that is a directory", "/y/", Off, U("y")),
        case("file with a slash", "/a.txt/", Off, Status(404)),
        case("under a file", "/a.txt/x", Off, Status(404)),
        case("missing", "/nope", Accepted, Status(404)),
        case("link inside", "/link_in", Off, F("A", false, Only)),
        case("link, gz by its target", "/link_app", Accepted, F("GZ", false, Gzip)),
        case("link to a directory", "/link_sub", Off, Directory),
        case("link to a directory, index", "/link_sub/", Accepted, F("index-gz", true, Gzip)),
        case("link to a directory, no index", "/link_noindex/", Off, U("noindex")),
        case("link on the way", "/link_sub/index.html", Off, F("index", false, Only)),
        case("link outside", "/link_out", Off, Status(404)),
        case("link to a directory outside", "/link_dir_out/secret.txt", Off, Status(404)),
        case("link to a dotfile", "/link_hidden", Off, Status(404)),
        case("dotfile, refused before any lookup", "/.env", Off, Status(404)),
    ];

    /// Every way this platform has: carefully, and plainly (with a handle
    /// on the root) on Linux.
    fn ways(root: &Path) -> Vec<(&'static str, Root)> {
        let careful = Root {
            #[cfg(target_os = "linux")]
            dir: None,
            ..Root::open(root.to_path_buf(), None)
        };
        #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
        let mut ways = vec![("careful", careful)];
        #[cfg(target_os = "linux")]
        {
            let plain = Root::open(root.to_path_buf(), None);
            assert!(plain.dir.is_some(), "no handle on {}", root.display());
            ways.push(("plain", plain));
        }
        ways
    }

    #[test]
    fn find_table_is_the_same_both_ways() {
        let t = TempDir::new("table", TREE);
        let root = t.root();
        for (way, r) in ways(&root) {
            for c in CASES {
                let found = path::parse_request_path(c.path).and_then(|p| r.find(&p, c.gz));
                let (got, want) = (Got::of(&root, found), c.want.under(&root));
                assert_eq!(
                    got, want,
                    "{} ({way}): find({:?}, {:?}) = {got:?}, want {want:?}",
                    c.name, c.path, c.gz
                );
            }
        }
    }

    #[test]
    fn a_root_created_later_is_found() {
        let t = TempDir::new("later", &[("root", Node::Dir)]);
        let files = Resolver::new(t.0.join("root/later"));
        let wanted = path::parse_request_path("/a.txt").unwrap();
        let status = files.find(&wanted, Off).err().and_then(|e| e.status());
        assert_eq!(status.map(|s| s.as_u16()), Some(500));
        std::fs::create_dir(t.0.join("root/later")).unwrap();
        std::fs::write(t.0.join("root/later/a.txt"), b"A").unwrap();
        let got = Got::of(&t.root().join("later"), files.find(&wanted, Off));
        assert_eq!(got, Got::File("A".to_owned(), false, Only));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn names_relative_to_the_root() {
        let seg = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let cases: &[(&str, &[&str], Option<&str>, &str)] = &[
            ("/srv", &[], None, "."),
            ("/srv", &["a", "b.txt"], None, "a/b.txt"),
            ("/", &[], None, "."),
            ("/", &["a"], None, "a"),
            ("/srv", &[], Some(INDEX), "index.html"),
            ("/", &["d"], Some(INDEX), "d/index.html"),
        ];
        for &(root, segments, child, want) in cases {
            let mut name = Name::under(Path::new(root), &seg(segments));
            if let Some(child) = child {
                name = name.child(child);
            }
            let got = String::from_utf8_lossy(name.relative()).into_owned();
            assert_eq!(got, want, "{root:?} {segments:?} {child:?}");
            // The `.gz` sibling's name is made without growing.
            let capacity = name.path.capacity();
            name.path.as_mut_os_string().push(GZ);
            assert_eq!(name.path.capacity(), capacity, "{got}.gz grew");
        }
    }
}

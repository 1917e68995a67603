//! Static file serving (in progress).

/// StaticFiles serves a directory tree.
#[derive(Debug)]
pub struct StaticFiles;

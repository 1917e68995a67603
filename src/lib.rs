//! sockhttp is placeholder docs.
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

pub mod error;
mod handler;
pub mod limits;
mod proto;
mod request;
mod response;
mod router;
mod server;
mod static_files;
mod types;
pub mod uri;

pub use error::{Error, Phase, Result};
pub use handler::Handler;
pub use limits::{Limits, Timeouts};
pub use request::{Request, RequestBody, RequestBuilder};
pub use response::{Body, IntoResponse, Response};
pub use router::Router;
pub use server::{DEFAULT_QUEUE, RunningServer, Server, ShutdownHandle, default_threads};
pub use static_files::StaticFiles;
pub use types::{Headers, HttpDate, Method, StatusCode, Version};

/// Internals exposed for the fuzz targets and benchmarks: the pure
/// protocol core. Not a stable API.
#[doc(hidden)]
pub mod _internals {
    pub use crate::proto::*;
}

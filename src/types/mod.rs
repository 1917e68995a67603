//! HTTP vocabulary shared by every layer: methods, status codes, versions,
//! header fields and HTTP dates.
//!
//! This module performs no I/O and depends on nothing but `std` and `bytes`.

mod date;
mod headers;
mod method;
mod status;
mod version;

pub use date::HttpDate;
pub use headers::{Headers, InvalidHeader};
pub(crate) use headers::{has_value_ctl, spaced_ctl};
pub use method::Method;
pub use status::StatusCode;
pub use version::Version;

//! Helpers shared by the fuzz targets (not a target itself): the limit
//! profiles, and, from `tests/support/` (shared with the seeded tests),
//! the seeded generator and the model of the server's connection driver,
//! which also holds the chunked decoder's driver and a strict HTTP/1.1
//! response reader.
#![allow(dead_code)]

use sockhttp::Limits;

#[path = "profiles.rs"]
mod profiles;
pub use profiles::limits_for;

#[path = "../../tests/support/rng.rs"]
pub mod rng;
pub use rng::Rng;

#[path = "../../tests/support/driver.rs"]
pub mod driver;

/// Derives the limits and a generator for every other choice from a hash
/// of the whole input, so that every byte of an input (and of a seed file)
/// is protocol bytes.
pub fn choose(data: &[u8]) -> (Limits, Rng) {
    let mut rng = Rng::from_bytes(data);
    let limits = limits_for(rng.next() as u8);
    (limits, rng)
}

//! The one seeded generator of the tests and the fuzz targets (which
//! include this file with `#[path]`): xorshift64, deterministic and free
//! of dependencies, so a failing seed fails the same way every run.
//! Not for anything that must be unpredictable.

/// Rng is a xorshift64 generator.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`; nearby seeds start far apart.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// A generator seeded with a hash (FNV-1a) of `bytes`, so that every
    /// byte of a fuzz input, and of a seed file, counts.
    pub fn from_bytes(bytes: &[u8]) -> Rng {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        Rng::new(h)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 when `n` is 0; the slight modulo bias is
    /// harmless here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A number in `1..=max` (1 when `max` is 0): a piece size.
    pub fn size(&mut self, max: usize) -> usize {
        1 + self.below(max)
    }

    /// True with probability 1 in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Between `min` and `max` bytes (inclusive) from `alphabet`.
    pub fn bytes(&mut self, min: usize, max: usize, alphabet: &[u8]) -> Vec<u8> {
        let n = min + self.below(max - min + 1);
        (0..n).map(|_| *self.pick(alphabet)).collect()
    }
}

/// Deterministic bytes that are not all alike, so that a misplaced or
/// repeated piece cannot compare equal by accident.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    Pattern::new(seed).fill(&mut out);
    out
}

/// Pattern produces the bytes of [`pattern`] piece by piece, for bodies
/// too large to hold: filling pieces of any sizes gives the same bytes as
/// filling once.
pub struct Pattern {
    rng: Rng,
    word: [u8; 8],
    used: usize,
}

impl Pattern {
    pub fn new(seed: u64) -> Pattern {
        Pattern {
            rng: Rng::new(seed),
            word: [0; 8],
            used: 8,
        }
    }

    /// Fills `out` with the next `out.len()` bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            if self.used == 8 {
                self.word = self.rng.next().to_le_bytes();
                self.used = 0;
            }
            *b = self.word[self.used];
            self.used += 1;
        }
    }
}

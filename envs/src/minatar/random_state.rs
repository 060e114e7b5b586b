//! NumPy's legacy `np.random.RandomState` (MT19937), bit for bit, with the three things
//! MinAtar draws: seeding, `rand()` and `randint(...)`.
//!
//! Sources (NumPy 2.4, unchanged since the `RandomState` freeze of NumPy 1.17):
//! `numpy/random/src/mt19937/mt19937.c` (`mt19937_seed`, `mt19937_init_by_array`,
//! `mt19937_gen`, tempering in `mt19937.h`), `numpy/random/_mt19937.pyx`
//! (`_legacy_seeding`), `numpy/random/src/distributions/distributions.c`
//! (`random_standard_uniform` = `mt19937_next_double`: `(a >> 5) * 2^26 + (b >> 6)` over
//! `2^53`, from two 32-bit draws) and `numpy/random/_bounded_integers.pyx` /
//! `distributions.c` (`randint` → `random_bounded_uint64_fill` with `use_masked=True`: for a
//! range `rng = high - low - 1` below 2³², draw 32-bit words, keep `word & mask` (mask = the
//! smallest `2^k - 1 >= rng`) and reject values above `rng`; `rng == 0` draws nothing).
//!
//! # Seeds
//! `RandomState(seed)` accepts integers in `0..2^32` (`mt19937_seed`, Knuth's
//! `init_genrand`) and rejects larger ones. polytask's seeds are `u64`:
//! [`RandomState::from_seed`] maps a seed below 2³² to exactly `RandomState(seed)`, and a
//! larger seed to `RandomState([seed & 0xffff_ffff, seed >> 32])` (`init_by_array` with the
//! seed's two 32-bit words, low word first), which is what NumPy does for an array seed and
//! what `SeedSequence`-style seeding of 64-bit integers does elsewhere in NumPy.

use serde::{Deserialize, Serialize};

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// `np.random.RandomState`: the MT19937 key and position.
#[derive(Clone, PartialEq, Eq)]
pub struct RandomState {
    key: [u32; N],
    pos: usize,
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomState")
            .field("key[0..4]", &&self.key[..4])
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

/// A [`RandomState`] as saved bytes hold it (`serde` has no impls for 624-element arrays).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedRandomState {
    key: Vec<u32>,
    pos: u16,
}

impl RandomState {
    /// `RandomState(seed)` for `seed < 2^32`; `RandomState([lo, hi])` (the seed's 32-bit
    /// words) above (see the module docs).
    pub fn from_seed(seed: u64) -> Self {
        match u32::try_from(seed) {
            Ok(seed) => Self::from_u32(seed),
            Err(_) => Self::from_array(&[seed as u32, (seed >> 32) as u32]),
        }
    }

    /// `RandomState(seed)` for a 32-bit seed: NumPy's `mt19937_seed`.
    pub fn from_u32(seed: u32) -> Self {
        let mut key = [0u32; N];
        let mut s = seed;
        for (pos, k) in key.iter_mut().enumerate() {
            *k = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        Self { key, pos: N }
    }

    /// `RandomState(array)` for an array of 32-bit words: NumPy's `mt19937_init_by_array`.
    ///
    /// # Panics
    /// If `words` is empty (NumPy raises "Seed must be non-empty").
    pub fn from_array(words: &[u32]) -> Self {
        assert!(!words.is_empty(), "an array seed must be non-empty");
        let mut state = Self::from_u32(19_650_218);
        let mt = &mut state.key;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(words.len()) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(words[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= words.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        state
    }

    /// A generator seeded from operating-system entropy (as `RandomState()` with no seed).
    pub fn from_entropy() -> Self {
        Self::from_seed(rand::random())
    }

    /// Refills the key: NumPy's `mt19937_gen`.
    fn generate(&mut self) {
        let mt = &mut self.key;
        let twist = |y: u32| (y >> 1) ^ (0u32.wrapping_sub(y & 1) & MATRIX_A);
        for i in 0..N - M {
            let y = (mt[i] & UPPER_MASK) | (mt[i + 1] & LOWER_MASK);
            mt[i] = mt[i + M] ^ twist(y);
        }
        for i in N - M..N - 1 {
            let y = (mt[i] & UPPER_MASK) | (mt[i + 1] & LOWER_MASK);
            mt[i] = mt[i + M - N] ^ twist(y);
        }
        let y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
        mt[N - 1] = mt[M - 1] ^ twist(y);
        self.pos = 0;
    }

    /// The next 32-bit output (`mt19937_next32`).
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        if self.pos == N {
            self.generate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `rand()`: a double in `[0, 1)` from two 32-bit draws (`mt19937_next_double`).
    #[inline]
    pub fn rand(&mut self) -> f64 {
        let a = self.next_u32() >> 5;
        let b = self.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) / 9_007_199_254_740_992.0
    }

    /// `randint(low, high)`: an integer in `low..high` by masked rejection sampling; draws
    /// nothing when `high == low + 1`.
    ///
    /// # Panics
    /// If `high <= low` or the range exceeds 2³² (NumPy raises; MinAtar never asks).
    #[inline]
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        assert!(high > low, "randint: low >= high");
        let rng = u32::try_from(high - low - 1).expect("randint: range within 32 bits");
        if rng == 0 {
            return low;
        }
        let mask = u32::MAX >> rng.leading_zeros();
        loop {
            let value = self.next_u32() & mask;
            if value <= rng {
                return low + i64::from(value);
            }
        }
    }

    pub(crate) fn save(&self) -> SavedRandomState {
        SavedRandomState {
            key: self.key.to_vec(),
            pos: self.pos as u16,
        }
    }

    pub(crate) fn load(saved: &SavedRandomState) -> Result<Self, String> {
        let key: [u32; N] = saved
            .key
            .as_slice()
            .try_into()
            .map_err(|_| format!("MT19937 key has {} words, not {N}", saved.key.len()))?;
        let pos = usize::from(saved.pos);
        if pos > N {
            return Err(format!("MT19937 position {pos} is past {N}"));
        }
        Ok(Self { key, pos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // import numpy as np  # 2.4.6
    // np.random.RandomState(5489).randint(0, 2**32, size=3, dtype=np.uint32) gives the raw
    // 32-bit words (a full 32-bit range takes next_uint32 unmasked):
    // -> [3499211612, 581869302, 3890346734]  (also the reference MT19937 outputs for 5489)
    #[test]
    fn raw_words_match_the_reference_mt19937() {
        let mut r = RandomState::from_u32(5489);
        assert_eq!(
            [r.next_u32(), r.next_u32(), r.next_u32()],
            [3_499_211_612, 581_869_302, 3_890_346_734]
        );
    }

    // r = np.random.RandomState(42); [r.rand() for _ in range(3)]
    // -> [0.3745401188473625, 0.9507143064099162, 0.7319939418114051]
    // np.random.RandomState(2**32 - 1).rand() -> 0.0976320289940138
    #[test]
    fn rand_matches_numpy() {
        let mut r = RandomState::from_seed(42);
        assert_eq!(
            [r.rand(), r.rand(), r.rand()],
            [0.3745401188473625, 0.9507143064099162, 0.7319939418114051]
        );
        assert_eq!(
            RandomState::from_seed((1 << 32) - 1).rand(),
            0.0976320289940138
        );
    }

    // r = np.random.RandomState(0); [int(r.randint(5)) for _ in range(8)]
    // -> [4, 0, 3, 3, 3, 1, 3, 2]; then r.randint(1, 9) -> 5, r.randint(1) -> 0
    // r = np.random.RandomState(0); list(r.randint(1, 6, 8)) -> [5, 1, 4, 4, 4, 2, 4, 3]
    #[test]
    fn randint_matches_numpy_masked_rejection() {
        let mut r = RandomState::from_seed(0);
        let draws: Vec<i64> = (0..8).map(|_| r.randint(0, 5)).collect();
        assert_eq!(draws, [4, 0, 3, 3, 3, 1, 3, 2]);
        assert_eq!(r.randint(1, 9), 5);
        let before = r.clone();
        assert_eq!(r.randint(0, 1), 0);
        assert_eq!(r, before, "randint over one value draws nothing");
        let mut r = RandomState::from_seed(0);
        let draws: Vec<i64> = (0..8).map(|_| r.randint(1, 6)).collect();
        assert_eq!(draws, [5, 1, 4, 4, 4, 2, 4, 3]);
    }

    // np.random.RandomState([7, 1]).rand() -> 0.22550888929893187 is the first draw of
    // polytask's seed 2**32 + 7 (NumPy itself rejects the integer 2**32 + 7: "Seed must be
    // between 0 and 2**32 - 1").
    #[test]
    fn large_seeds_are_init_by_array_of_their_two_words() {
        let mut r = RandomState::from_seed((1 << 32) + 7);
        assert_eq!(r.rand(), 0.22550888929893187);
        assert_ne!(
            RandomState::from_seed(7).rand(),
            RandomState::from_seed((1 << 32) + 7).rand()
        );
    }

    #[test]
    fn a_saved_state_restores_the_stream() {
        let mut r = RandomState::from_seed(3);
        for _ in 0..700 {
            r.next_u32();
        }
        let mut back = RandomState::load(&r.save()).unwrap();
        assert_eq!(back.rand(), r.rand());
        let mut bad = r.save();
        bad.key.pop();
        assert!(RandomState::load(&bad).is_err());
    }
}

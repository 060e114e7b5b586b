//! The random number generator that Gymnasium's environments draw from, bit for bit:
//! `gymnasium.utils.seeding.np_random(seed)` (Gymnasium 1.4), which is
//! `np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))` (NumPy 2.x).
//!
//! [`SeedSequence`] is NumPy's seed hashing (`numpy/random/bit_generator.pyx`), [`NpRandom`]
//! is PCG64 (XSL-RR 128/64, `numpy/random/src/pcg64/pcg64.h`) seeded as `PCG64.__init__`
//! does, with `Generator.random` ([`NpRandom::next_double`]) and `Generator.uniform`
//! ([`NpRandom::uniform`]). So `reset(Some(seed))` of a built-in environment draws the same
//! initial state as Gymnasium's `reset(seed=seed)`.

use rand::RngCore;
use rand_pcg::Lcg128Xsl64;

const POOL_SIZE: usize = 4;
const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;

/// NumPy's `SeedSequence` without spawn keys: hashes entropy words into a pool of four
/// 32-bit words, from which [`SeedSequence::generate_state_u64`] derives seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedSequence {
    pool: [u32; POOL_SIZE],
}

fn hashmix(value: u32, hash_const: &mut u32) -> u32 {
    let mut value = value ^ *hash_const;
    *hash_const = hash_const.wrapping_mul(MULT_A);
    value = value.wrapping_mul(*hash_const);
    value ^ (value >> XSHIFT)
}

fn mix(x: u32, y: u32) -> u32 {
    let result = MIX_MULT_L
        .wrapping_mul(x)
        .wrapping_sub(MIX_MULT_R.wrapping_mul(y));
    result ^ (result >> XSHIFT)
}

impl SeedSequence {
    /// `SeedSequence(entropy)` where `entropy` is already split into little-endian `u32`
    /// words (NumPy's `_coerce_to_uint32_array`); see [`SeedSequence::from_u64`].
    pub fn new(entropy: &[u32]) -> Self {
        let mut pool = [0u32; POOL_SIZE];
        let mut hash_const = INIT_A;
        for (i, slot) in pool.iter_mut().enumerate() {
            *slot = hashmix(entropy.get(i).copied().unwrap_or(0), &mut hash_const);
        }
        for i_src in 0..POOL_SIZE {
            for i_dst in 0..POOL_SIZE {
                if i_src != i_dst {
                    pool[i_dst] = mix(pool[i_dst], hashmix(pool[i_src], &mut hash_const));
                }
            }
        }
        for &word in entropy.iter().skip(POOL_SIZE) {
            for slot in pool.iter_mut() {
                *slot = mix(*slot, hashmix(word, &mut hash_const));
            }
        }
        Self { pool }
    }

    /// `SeedSequence(seed)` for a Python integer `seed`: one word below 2^32, else two.
    pub fn from_u64(seed: u64) -> Self {
        let (lo, hi) = (seed as u32, (seed >> 32) as u32);
        if hi == 0 {
            Self::new(&[lo])
        } else {
            Self::new(&[lo, hi])
        }
    }

    /// `generate_state(out.len(), np.uint32)`.
    pub fn generate_state_u32(&self, out: &mut [u32]) {
        for (o, word) in out.iter_mut().zip(self.words()) {
            *o = word;
        }
    }

    /// `generate_state(out.len(), np.uint64)`: twice as many 32-bit words, paired
    /// little-endian (low word first).
    pub fn generate_state_u64(&self, out: &mut [u64]) {
        let mut words = self.words();
        for o in out {
            let (lo, hi) = (words.next().unwrap_or(0), words.next().unwrap_or(0));
            *o = u64::from(lo) | (u64::from(hi) << 32);
        }
    }

    /// The endless stream of output words that `generate_state` takes its first `n` from.
    fn words(&self) -> impl Iterator<Item = u32> + '_ {
        let mut hash_const = INIT_B;
        self.pool.iter().cycle().map(move |&data| {
            let mut value = data ^ hash_const;
            hash_const = hash_const.wrapping_mul(MULT_B);
            value = value.wrapping_mul(hash_const);
            value ^ (value >> XSHIFT)
        })
    }
}

/// `np.random.Generator(np.random.PCG64(seed_sequence))`: NumPy's PCG64 bit generator with
/// the `Generator` methods that Gymnasium's classic-control environments call.
///
/// It also implements [`RngCore`] (with NumPy's `next_uint32` buffering), so `rand`'s
/// distributions can draw from it, though only the methods named after NumPy's reproduce
/// NumPy's numbers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NpRandom {
    pcg: Lcg128Xsl64,
    /// The upper half of the last 64-bit output, kept for the next `next_u32`, as NumPy's
    /// `has_uint32` / `uinteger`.
    buffered_u32: Option<u32>,
}

impl NpRandom {
    /// `gymnasium.utils.seeding.np_random(seed)`'s generator.
    pub fn from_seed(seed: u64) -> Self {
        Self::from_seed_sequence(&SeedSequence::from_u64(seed))
    }

    /// `np.random.PCG64(seed_sequence)`: `pcg64_set_seed` with the 128-bit state and
    /// increment taken from `generate_state(4, np.uint64)` (high word first).
    pub fn from_seed_sequence(seq: &SeedSequence) -> Self {
        let mut words = [0u64; 4];
        seq.generate_state_u64(&mut words);
        let state = (u128::from(words[0]) << 64) | u128::from(words[1]);
        let stream = (u128::from(words[2]) << 64) | u128::from(words[3]);
        // `Lcg128Xsl64::new` sets inc = (stream << 1) | 1, state += inc, then steps once:
        // the same as NumPy's `pcg_setseq_128_srandom_r` (state = 0, step, += seed, step).
        Self {
            pcg: Lcg128Xsl64::new(state, stream),
            buffered_u32: None,
        }
    }

    /// A generator seeded from operating-system entropy, as Gymnasium's `np_random()` with
    /// no seed (`SeedSequence(None)` draws 128 bits).
    pub fn from_entropy() -> Self {
        let entropy: u128 = rand::random();
        let words = [
            entropy as u32,
            (entropy >> 32) as u32,
            (entropy >> 64) as u32,
            (entropy >> 96) as u32,
        ];
        Self::from_seed_sequence(&SeedSequence::new(&words))
    }

    /// The next raw 64-bit output (`bit_generator.random_raw()`).
    pub fn next_raw(&mut self) -> u64 {
        self.pcg.next_u64()
    }

    /// `Generator.random()`: a double in `[0, 1)`, `(next_uint64 >> 11) * 2^-53`.
    pub fn next_double(&mut self) -> f64 {
        (self.next_raw() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `Generator.uniform(low, high)`: `low + (high - low) * random()`, in that order of
    /// float operations. Like NumPy, `low > high` is allowed (the range is negative).
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        let range = high - low;
        low + range * self.next_double()
    }

    /// `Generator.uniform(low, high, size=out.len())`: one draw per element, in order.
    pub fn uniform_into(&mut self, low: f64, high: f64, out: &mut [f64]) {
        for x in out {
            *x = self.uniform(low, high);
        }
    }
}

impl RngCore for NpRandom {
    fn next_u32(&mut self) -> u32 {
        if let Some(word) = self.buffered_u32.take() {
            return word;
        }
        let next = self.next_raw();
        self.buffered_u32 = Some((next >> 32) as u32);
        next as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.next_raw()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_raw().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Gymnasium's seeding in `Env.reset(seed=...)` followed by its `np_random` property:
/// `Some(seed)` replaces the generator with a freshly seeded one, `None` keeps the current
/// one, and an environment that was never seeded gets one seeded from OS entropy.
pub fn seeded(slot: &mut Option<NpRandom>, seed: Option<u64>) -> &mut NpRandom {
    if let Some(seed) = seed {
        *slot = Some(NpRandom::from_seed(seed));
    }
    slot.get_or_insert_with(NpRandom::from_entropy)
}

#[cfg(test)]
mod tests {
    use super::*;

    // import numpy as np  # 2.4.6
    // for seed in [0, 1, 42, 2**32 - 1, 2**32, 2**64 - 1]:
    //     print([hex(x) for x in np.random.SeedSequence(seed).generate_state(4, np.uint64)])
    #[test]
    fn seed_sequence_matches_numpy() {
        let cases: [(u64, [u64; 4]); 6] = [
            (
                0,
                [
                    0xdb2cd7e7b0f478be,
                    0xabf4641a2c71ba49,
                    0x20c6ed6d9d7b8d41,
                    0x2c4099de223c39d4,
                ],
            ),
            (
                1,
                [
                    0x672d8ee56d6791ff,
                    0x8ae19ca14eb1072c,
                    0x4915796d1322fc4a,
                    0xd0cc2bdcaba049bd,
                ],
            ),
            (
                42,
                [
                    0x9f1e2e6dcd540ab7,
                    0xd57873dc79fb94b6,
                    0x7d282a1b64d420b7,
                    0x336579714692d5ff,
                ],
            ),
            (
                4294967295,
                [
                    0x2a05c5e276c1fe08,
                    0x2032e40fc20e8198,
                    0xed4ac06d787f4396,
                    0x56896cb4f3db80fd,
                ],
            ),
            (
                4294967296,
                [
                    0x50ff846cec53f444,
                    0x7a4918dbe8278562,
                    0x3bff9f6c362e2b19,
                    0xbdb177539a0654e3,
                ],
            ),
            (
                u64::MAX,
                [
                    0xaebca151928cad0d,
                    0x119c30448638dc7a,
                    0x1bbb155659e642a7,
                    0xa76b11e3e8c4a8f6,
                ],
            ),
        ];
        for (seed, expected) in cases {
            let mut out = [0u64; 4];
            SeedSequence::from_u64(seed).generate_state_u64(&mut out);
            assert_eq!(out, expected, "seed {seed}");
        }
    }

    // np.random.SeedSequence(7).generate_state(3).tolist()
    // np.random.SeedSequence([1, 2, 3, 4, 5, 6]).generate_state(4, np.uint64).tolist()
    #[test]
    fn seed_sequence_u32_output_and_long_entropy_match_numpy() {
        let mut out = [0u32; 3];
        SeedSequence::from_u64(7).generate_state_u32(&mut out);
        assert_eq!(out, [2083679832, 3939563265, 4185785210]);
        let mut out = [0u64; 4];
        SeedSequence::new(&[1, 2, 3, 4, 5, 6]).generate_state_u64(&mut out);
        assert_eq!(
            out,
            [
                16991237094181161505,
                14981931853785751691,
                11178459300072584630,
                1971961610505447179
            ]
        );
    }

    // g = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    // print([hex(x) for x in g.bit_generator.random_raw(3)])
    #[test]
    fn pcg64_raw_outputs_match_numpy() {
        let cases: [(u64, [u64; 3]); 4] = [
            (
                0,
                [0xa30febcfd9c2825f, 0x4510bdf882d9d721, 0x0a7d3da94ecde8b8],
            ),
            (
                42,
                [0xc621fbcd16d92688, 0x705a5661a791ffc1, 0xdbcd12c26eda1624],
            ),
            (
                4294967296,
                [0xe3c5ebe285ac1625, 0x8ea09968fe31dbcc, 0xcd084ff84d8de9be],
            ),
            (
                123456789012345,
                [0x87ae8961b8510ee6, 0x0b608e9cda245b8f, 0xc1e268f093dfa25c],
            ),
        ];
        for (seed, expected) in cases {
            let mut g = NpRandom::from_seed(seed);
            let got = [g.next_raw(), g.next_raw(), g.next_raw()];
            assert_eq!(got, expected, "seed {seed}");
        }
    }

    // g = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    // print(repr(g.random()), repr(g.uniform(-0.05, 0.05)), repr(g.uniform(-0.6, -0.4)))
    #[test]
    fn random_and_uniform_match_numpy_exactly() {
        let cases: [(u64, [f64; 3]); 4] = [
            (
                0,
                [0.6369616873214543, -0.02302132862361297, -0.591805295212761],
            ),
            (
                1,
                [
                    0.5118216247002567,
                    0.045046369632593536,
                    -0.5711680774560732,
                ],
            ),
            (
                4294967295,
                [
                    0.2519435680449965,
                    -0.028093420371314338,
                    -0.5425430559129659,
                ],
            ),
            (
                u64::MAX,
                [0.6800266789616931, 0.03453117585624743, -0.598519383680148],
            ),
        ];
        for (seed, expected) in cases {
            let mut g = NpRandom::from_seed(seed);
            let got = [
                g.next_double(),
                g.uniform(-0.05, 0.05),
                g.uniform(-0.6, -0.4),
            ];
            assert_eq!(got, expected, "seed {seed}");
        }
    }

    #[test]
    fn next_u32_buffers_the_high_half_like_numpy() {
        let mut a = NpRandom::from_seed(0);
        let mut b = NpRandom::from_seed(0);
        let raw = b.next_raw();
        assert_eq!(a.next_u32(), raw as u32);
        assert_eq!(a.next_u32(), (raw >> 32) as u32);
        assert_eq!(a.next_u64(), b.next_raw());
    }

    #[test]
    fn seeded_reseeds_only_when_given_a_seed() {
        let mut slot = None;
        let first = seeded(&mut slot, Some(3)).next_raw();
        let second = seeded(&mut slot, None).next_raw();
        assert_eq!(seeded(&mut slot, Some(3)).next_raw(), first);
        assert_ne!(first, second);
        let mut fresh = None;
        seeded(&mut fresh, None);
        assert!(fresh.is_some());
    }
}

//! Saving and restoring an environment's dynamic state, for a training run that resumes
//! exactly where it stopped ([`Env::save_state`](crate::Env::save_state)).
//!
//! A state is an opaque byte string: each environment serialises a small `serde` struct of
//! its own (position, velocities, random number generator, counters) with `postcard`, a
//! compact binary format that keeps every `f64` bit for bit (NaN included). A wrapper nests
//! its inner environment's bytes inside its own struct. The bytes are only meant to be read
//! back by an environment made with the same id and parameters by the same polytask version.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::EnvError;

/// Serialises `value`, an environment's state struct.
///
/// # Panics
/// Never for the plain structs (numbers, options, arrays, vectors, byte strings) that
/// environments save; `postcard` fails only for formats it cannot express, such as maps with
/// unknown length, which a state struct has no reason to hold.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("an environment state struct serialises")
}

/// Reads back a state written by [`encode`]; bytes that do not hold a `T` (truncated, from
/// another environment or version) are an [`EnvError::State`] naming `env`.
pub fn decode<T: DeserializeOwned>(env: &str, bytes: &[u8]) -> Result<T, EnvError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(bad_state(
            env,
            format!("{} bytes left over after the state", rest.len()),
        )),
        Err(e) => Err(bad_state(env, e.to_string())),
    }
}

/// Serialises `own`, a wrapper's or environment's dynamic state, behind `tag` (the wrapper's
/// name or the environment's id). `postcard` writes no field names, so without the tag the
/// state of one environment or wrapper could decode as another's of the same layout.
pub fn save_tagged<T: Serialize>(tag: &str, own: &T) -> Vec<u8> {
    encode(&(tag, own))
}

/// Reads back a state written by [`save_tagged`] with `tag`: bytes that do not start with
/// `tag`, or do not hold a `T` after it, are an [`EnvError::State`] naming `env`.
pub fn load_tagged<T: DeserializeOwned>(env: &str, tag: &str, bytes: &[u8]) -> Result<T, EnvError> {
    let (saved_by, rest) = postcard::take_from_bytes::<&str>(bytes)
        .map_err(|e| bad_state(env, format!("it does not start with a tag ({e})")))?;
    if saved_by != tag {
        let reason = format!("it holds the state of `{saved_by}`, not of `{tag}`");
        return Err(bad_state(env, reason));
    }
    decode(env, rest)
}

/// The error for state bytes that `env` cannot restore.
pub fn bad_state(env: &str, reason: impl Into<String>) -> EnvError {
    EnvError::State {
        env: env.to_string(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        x: [f64; 2],
        steps: Option<u64>,
        inner: Vec<u8>,
    }

    #[test]
    fn a_state_round_trips_bit_for_bit_including_nan() {
        let s = Sample {
            x: [f64::NAN, -0.0],
            steps: Some(7),
            inner: vec![1, 2, 3],
        };
        let back: Sample = decode("T-v0", &encode(&s)).unwrap();
        assert_eq!(back.x[0].to_bits(), s.x[0].to_bits());
        assert_eq!(back.x[1].to_bits(), s.x[1].to_bits());
        assert_eq!((back.steps, back.inner), (s.steps, s.inner));
    }

    #[test]
    fn truncated_or_overlong_bytes_are_errors_naming_the_env() {
        let bytes = encode(&Sample {
            x: [1.0, 2.0],
            steps: None,
            inner: vec![],
        });
        for bad in [
            &bytes[..bytes.len() - 3],
            &[bytes.as_slice(), &[0]].concat()[..],
        ] {
            let err = decode::<Sample>("T-v0", bad).unwrap_err();
            assert!(
                matches!(err, EnvError::State { ref env, .. } if env == "T-v0"),
                "{err}"
            );
        }
    }
}

//! Saving and restoring the state an aggregator or a weighting carries from one call to the
//! next (EMA targets, optimizer moments, random number generators, counters), so that a
//! training run resumed from a checkpoint continues bit for bit as the uninterrupted run.
//!
//! A state is an opaque byte string: the method's name (as `by_name` knows it) followed by a
//! small `serde` struct of its own, both written with `postcard`, a compact binary format that
//! keeps every `f64` bit for bit (NaN included). The name makes the bytes of another method
//! an error rather than a state that happens to decode (PCGrad's and random weighting's are
//! both one generator). The bytes are only meant to be read back by a method built with the
//! same name and parameters, for the same tasks, by the same polytask version.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// `method`'s name followed by its state struct `state`.
///
/// # Panics
///
/// Never for the plain structs (numbers, vectors, options, generators) that methods save;
/// `postcard` fails only for formats it cannot express, such as maps of unknown length.
pub(crate) fn encode<T: Serialize>(method: &str, state: &T) -> Vec<u8> {
    postcard::to_allocvec(&(method, state)).expect("a method's state struct serialises")
}

/// The state struct that [`encode`] wrote for `method`; bytes that do not hold one
/// (truncated, from another method, with bytes left over) give the reason as text.
pub(crate) fn decode<T: DeserializeOwned>(method: &str, bytes: &[u8]) -> Result<T, String> {
    if bytes.is_empty() {
        return Err("no state was saved (empty bytes)".to_string());
    }
    let (name, rest) = postcard::take_from_bytes::<String>(bytes)
        .map_err(|e| format!("no method name at the start: {e}"))?;
    if name != method {
        return Err(format!("the bytes hold the state of `{name}`"));
    }
    match postcard::take_from_bytes::<T>(rest) {
        Ok((state, [])) => Ok(state),
        Ok((_, left)) => Err(format!("{} bytes left over after the state", left.len())),
        Err(e) => Err(e.to_string()),
    }
}

/// Why bytes cannot restore a method that keeps no state, or `None` if they are empty (the
/// only state such a method saves).
pub(crate) fn stateless(bytes: &[u8]) -> Option<String> {
    (!bytes.is_empty()).then(|| {
        format!(
            "the method keeps no state between calls, but got {} bytes",
            bytes.len()
        )
    })
}

/// An error unless `values` holds `want` entries; `what` names them.
pub(crate) fn expect_len<T>(what: &str, values: &[T], want: usize) -> Result<(), String> {
    if values.len() == want {
        Ok(())
    } else {
        Err(format!(
            "{what} has {} entries, this method expects {want}",
            values.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        x: Vec<f64>,
        steps: u64,
    }

    #[test]
    fn a_state_round_trips_bit_for_bit_including_nan() {
        let s = Sample {
            x: vec![f64::NAN, -0.0, 1e-300],
            steps: 7,
        };
        let back: Sample = decode("m", &encode("m", &s)).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back.x), bits(&s.x));
        assert_eq!(back.steps, 7);
    }

    #[test]
    fn truncated_foreign_and_overlong_bytes_are_reasons_not_panics() {
        let bytes = encode(
            "m",
            &Sample {
                x: vec![1.0; 4],
                steps: 1,
            },
        );
        for cut in 0..bytes.len() {
            assert!(
                decode::<Sample>("m", &bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let other = decode::<Sample>("n", &bytes).unwrap_err();
        assert!(other.contains("state of `m`"), "{other}");
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode::<Sample>("m", &long)
            .unwrap_err()
            .contains("left over"));
        assert!(stateless(&[]).is_none() && stateless(&[1]).is_some());
        assert!(expect_len("x", &[1.0], 2)
            .unwrap_err()
            .contains("expects 2"));
    }
}

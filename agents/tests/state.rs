//! Exact resume: every aggregator and every weighting, run for a few calls, saved, and loaded
//! into a fresh instance, continues bit for bit as the original; bytes that are not its state
//! are an error naming the method, never a panic.
//!
//! Only `every_aggregator_resumes_bit_for_bit` touches libtorch's global generator (GradDrop's
//! draws, seeded before each call), so tests running in parallel do not disturb it.

use std::collections::BTreeMap;

use polytask_agents::surgery::{self, Aggregator};
use polytask_agents::weighting::{self, Role, Weighting, WeightingInput};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;
use tch::{Kind, Tensor};

/// The aggregators that carry state between calls; the others save nothing.
const STATEFUL_AGGREGATORS: &[&str] = &["pcgrad", "random", "gradvac", "nash-mtl"];

/// The weightings that carry state between calls; the others save nothing.
const STATEFUL_WEIGHTINGS: &[&str] = &["uncertainty", "gradnorm", "dwa", "famo", "arml", "ol-aux"];

/// Calls before the save, and calls compared after it.
const BEFORE: usize = 5;
const AFTER: usize = 6;

/// Serialises this binary's tests: they seed libtorch's global generator (GradDrop draws
/// from it), and a draw by another test's thread in between would break the comparison.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A `[T, P]` matrix of standard normal gradients of `kind`.
fn gradients(rng: &mut Pcg64, tasks: usize, kind: Kind) -> Tensor {
    let values: Vec<f64> = (0..tasks * 7)
        .map(|_| rng.sample::<f64, _>(StandardNormal))
        .collect();
    Tensor::from_slice(&values)
        .reshape([tasks as i64, 7])
        .to_kind(kind)
}

/// The bits of every entry of `t`, read as `f64` (exact for `f32`).
fn bits(t: &Tensor) -> Vec<u64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double))
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

/// The parameter sets each aggregator is checked with: its defaults, and for Nash-MTL also a
/// recomputation every third call (between recomputations it reuses its saved weights).
fn aggregator_params(name: &str) -> Vec<BTreeMap<String, f64>> {
    let mut sets = vec![BTreeMap::new()];
    if name == "nash-mtl" {
        sets.push(BTreeMap::from([("update_weights_every".to_string(), 3.0)]));
    }
    sets
}

fn aggregator(name: &str, params: &BTreeMap<String, f64>) -> Box<dyn Aggregator> {
    let mut method = surgery::by_name_with(name, params).unwrap();
    method.reseed(42);
    method
}

/// One call on `grads` with libtorch's generator at `seed`: the result's and the task
/// weights' bits.
fn aggregate(method: &mut dyn Aggregator, grads: &Tensor, seed: i64) -> Vec<u64> {
    tch::manual_seed(seed);
    let mut out = bits(&method.aggregate(&polytask_agents::surgery::GradMatrix::from(grads)));
    out.extend(
        method
            .task_weights()
            .unwrap_or(&[])
            .iter()
            .map(|w| w.to_bits()),
    );
    out
}

#[test]
fn every_aggregator_resumes_bit_for_bit() {
    let _serial = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    assert!(!surgery::NAMES.is_empty());
    for &name in surgery::NAMES {
        for params in aggregator_params(name) {
            for kind in [Kind::Float, Kind::Double] {
                let label = format!("{name} {params:?} {kind:?}");
                let mut rng = Pcg64::seed_from_u64(1);
                let mut a = aggregator(name, &params);
                for call in 0..BEFORE {
                    aggregate(a.as_mut(), &gradients(&mut rng, 4, kind), call as i64);
                }
                let saved = a.save_state();
                assert_eq!(
                    saved.is_empty(),
                    !STATEFUL_AGGREGATORS.contains(&name),
                    "{label}: {} bytes of state",
                    saved.len()
                );
                let mut b = aggregator(name, &params);
                b.load_state(&saved).unwrap();
                let mut fresh = aggregator(name, &params);
                let mut state_mattered = false;
                for call in BEFORE..BEFORE + AFTER {
                    let g = gradients(&mut rng, 4, kind);
                    let want = aggregate(a.as_mut(), &g, call as i64);
                    assert_eq!(aggregate(b.as_mut(), &g, call as i64), want, "{label}");
                    state_mattered |= aggregate(fresh.as_mut(), &g, call as i64) != want;
                }
                assert_eq!(b.save_state(), a.save_state(), "{label}");
                // Nash-MTL recomputing every call only warm-starts its solver from the saved
                // weights: the solution is the same up to rounding, not necessarily in bits.
                let must_matter = STATEFUL_AGGREGATORS.contains(&name)
                    && !(name == "nash-mtl" && params.is_empty());
                assert!(
                    state_mattered || !must_matter,
                    "{label}: a fresh instance gives the same results, the state is not used"
                );
            }
        }
    }
}

/// One step's inputs: this minibatch's losses and gradients, its losses after the update
/// (FAMO) and the iteration's mean losses (DWA).
struct Step {
    losses: Vec<f64>,
    grads: Tensor,
    after: Vec<f64>,
    mean: Vec<f64>,
}

fn steps(seed: u64, tasks: usize, n: usize) -> Vec<Step> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let losses = |rng: &mut Pcg64| (0..tasks).map(|_| rng.random_range(0.1..2.0)).collect();
    (0..n)
        .map(|_| Step {
            losses: losses(&mut rng),
            grads: gradients(&mut rng, tasks, Kind::Float),
            after: losses(&mut rng),
            mean: losses(&mut rng),
        })
        .collect()
}

fn roles() -> Vec<Role> {
    vec![Role::Main, Role::Auxiliary, Role::Auxiliary]
}

fn weighting(name: &str, roles: &[Role]) -> Box<dyn Weighting> {
    weighting::by_name(name, &BTreeMap::new(), roles).unwrap()
}

/// One optimizer step as the trainer makes it (an iteration ends every second step): the
/// weights' and the diagnostics' bits.
fn step(method: &mut dyn Weighting, s: &Step, call: usize) -> Vec<u64> {
    let mut out: Vec<u64> = method
        .weights(&WeightingInput {
            losses: &s.losses,
            grads: &polytask_agents::surgery::GradMatrix::from(&s.grads),
            lr: 0.05,
        })
        .iter()
        .map(|w| w.to_bits())
        .collect();
    out.extend(method.diagnostics().iter().map(|d| d.value.to_bits()));
    if method.wants_losses_after_step() {
        method.after_step(&s.after);
    }
    if call % 2 == 1 {
        method.end_iteration(&s.mean);
        out.extend(method.diagnostics().iter().map(|d| d.value.to_bits()));
    }
    out
}

#[test]
fn every_weighting_resumes_bit_for_bit() {
    let _serial = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    assert!(!weighting::NAMES.is_empty());
    for &name in weighting::NAMES {
        let inputs = steps(3, 3, BEFORE + AFTER);
        let mut a = weighting(name, &roles());
        for (call, s) in inputs[..BEFORE].iter().enumerate() {
            step(a.as_mut(), s, call);
        }
        let saved = a.save_state();
        assert_eq!(
            saved.is_empty(),
            !STATEFUL_WEIGHTINGS.contains(&name),
            "{name}: {} bytes of state",
            saved.len()
        );
        let mut b = weighting(name, &roles());
        b.load_state(&saved).unwrap();
        let mut fresh = weighting(name, &roles());
        let mut state_mattered = false;
        for (call, s) in inputs.iter().enumerate().skip(BEFORE) {
            let want = step(a.as_mut(), s, call);
            assert_eq!(step(b.as_mut(), s, call), want, "{name}, call {call}");
            state_mattered |= step(fresh.as_mut(), s, call) != want;
        }
        assert_eq!(b.save_state(), a.save_state(), "{name}");
        assert!(
            state_mattered || !STATEFUL_WEIGHTINGS.contains(&name),
            "{name}: a fresh instance gives the same weights, the state is not used"
        );
    }
}

/// Bytes that are no state of any method.
fn garbage() -> Vec<Vec<u8>> {
    let mut rng = Pcg64::seed_from_u64(9);
    vec![
        vec![0],
        vec![0xff; 16],
        b"pcgrad".to_vec(),
        (0..64).map(|_| rng.random()).collect(),
    ]
}

/// `bytes` with each proper prefix, with a byte appended, and the states of the `others`.
fn wrong_versions(bytes: &[u8], others: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut wrong: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
    wrong.push([bytes, &[0]].concat());
    wrong.extend(others.iter().filter(|o| !o.is_empty()).cloned());
    wrong.extend(garbage());
    wrong
}

#[test]
fn bytes_that_are_not_an_aggregators_state_are_an_error_naming_it() {
    let _serial = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Pcg64::seed_from_u64(5);
    let trained =
        |name: &str, rng: &mut Pcg64| {
            let mut method = aggregator(name, &BTreeMap::new());
            if name != "graddrop" {
                for _ in 0..3 {
                    let _ = method.aggregate(&polytask_agents::surgery::GradMatrix::from(
                        &gradients(rng, 3, Kind::Double),
                    ));
                }
            }
            method
        };
    let states: Vec<(&str, Vec<u8>)> = surgery::NAMES
        .iter()
        .map(|&n| (n, trained(n, &mut rng).save_state()))
        .collect();
    for (name, saved) in &states {
        let mut method = trained(name, &mut rng);
        let others: Vec<Vec<u8>> = states
            .iter()
            .filter(|(n, _)| n != name)
            .map(|(_, s)| s.clone())
            .collect();
        refuses_wrong_bytes(&mut method, &format!("aggregator `{name}`"), saved, &others);
        method.load_state(saved).unwrap();
    }
}

/// A method whose state can be saved and loaded (an aggregator or a weighting).
trait Stateful {
    fn save(&self) -> Vec<u8>;
    fn load(&mut self, bytes: &[u8]) -> Result<(), String>;
}

impl Stateful for Box<dyn Aggregator> {
    fn save(&self) -> Vec<u8> {
        self.save_state()
    }
    fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.load_state(bytes).map_err(|e| e.to_string())
    }
}

impl Stateful for Box<dyn Weighting> {
    fn save(&self) -> Vec<u8> {
        self.save_state()
    }
    fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.load_state(bytes).map_err(|e| e.to_string())
    }
}

/// Every wrong version of `saved` (see [`wrong_versions`]) fails to load into `method` with an
/// error naming `who`, and leaves it as it was.
fn refuses_wrong_bytes(method: &mut dyn Stateful, who: &str, saved: &[u8], others: &[Vec<u8>]) {
    let before = method.save();
    for bytes in wrong_versions(saved, others) {
        if bytes.is_empty() && saved.is_empty() {
            continue;
        }
        let err = method.load(&bytes).unwrap_err();
        assert!(err.contains(who), "{err}");
        assert_eq!(method.save(), before, "{who}: a failed load changed it");
    }
}

#[test]
fn bytes_that_are_not_a_weightings_state_are_an_error_naming_it() {
    let _serial = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let trained = |name: &str, roles: &[Role]| {
        let mut method = weighting(name, roles);
        for (call, s) in steps(4, roles.len(), 3).iter().enumerate() {
            step(method.as_mut(), s, call);
        }
        method
    };
    let states: Vec<(&str, Vec<u8>)> = weighting::NAMES
        .iter()
        .map(|&n| (n, trained(n, &roles()).save_state()))
        .collect();
    // The same methods for one task fewer: their states do not fit three tasks.
    let two = [Role::Main, Role::Auxiliary];
    for (name, saved) in &states {
        let mut method = trained(name, &roles());
        let mut others: Vec<Vec<u8>> = states
            .iter()
            .filter(|(n, _)| n != name)
            .map(|(_, s)| s.clone())
            .collect();
        others.push(trained(name, &two).save_state());
        refuses_wrong_bytes(&mut method, &format!("weighting `{name}`"), saved, &others);
        method.load_state(saved).unwrap();
    }
}

//! Every aggregator that torchjd 0.18 also has, against torchjd's output on the fixtures in
//! `tests/fixtures/surgery/` (regenerate with `scripts/gen_surgery_fixtures.py`): random,
//! parallel, opposite, orthogonal, zero-row, T = 1, T = 2 and T = 7 matrices (Nash-MTL: not
//! the zero-row and T = 1 ones, where torchjd's own solver fails).
//!
//! Agreement is to `1e-4` relative to the larger of the largest input and output entries
//! (outputs that vanish, e.g. for opposite gradients, are compared at the input's scale), for
//! `f64` inputs; `f32` inputs agree to `1e-3` on the same scale.

use polytask_agents::surgery::by_name;
use serde_json::Value;
use tch::{Device, Kind, Tensor};

struct Case {
    label: String,
    matrix: Vec<Vec<f64>>,
    expected: Vec<f64>,
}

fn cases(method: &str) -> Vec<Case> {
    let path = format!(
        "{}/tests/fixtures/surgery/{method}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            label: c["label"].as_str().unwrap().to_string(),
            matrix: c["matrix"].as_array().unwrap().iter().map(floats).collect(),
            expected: floats(&c["expected"]),
        })
        .collect()
}

/// The largest deviation, relative to the case's scale, of `method` from torchjd in `kind`.
fn deviation(method: &str, kind: Kind) -> f64 {
    let mut worst = 0.0f64;
    for case in cases(method) {
        let flat: Vec<f64> = case.matrix.concat();
        let g = Tensor::from_slice(&flat)
            .reshape([case.matrix.len() as i64, -1])
            .to_kind(kind)
            .to_device(Device::Cpu);
        let out = by_name(method)
            .unwrap()
            .aggregate(&polytask_agents::surgery::GradMatrix::from(&g));
        assert_eq!(out.kind(), kind, "{method}/{}", case.label);
        let got = Vec::<f64>::try_from(out.to_kind(Kind::Double)).unwrap();
        let max_abs = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let scale = max_abs(&flat).max(max_abs(&case.expected));
        let err = got
            .iter()
            .zip(&case.expected)
            .map(|(a, b)| (a - b).abs() / scale)
            .fold(0.0, f64::max);
        eprintln!("{method:12} {kind:?} {:10} {err:.2e}", case.label);
        worst = worst.max(err);
    }
    worst
}

fn check(method: &str) {
    let d64 = deviation(method, Kind::Double);
    assert!(d64 < 1e-4, "{method}: f64 deviation {d64:e}");
    let d32 = deviation(method, Kind::Float);
    assert!(d32 < 1e-3, "{method}: f32 deviation {d32:e}");
}

#[test]
fn mgda_matches_torchjd() {
    check("mgda");
}

#[test]
fn upgrad_matches_torchjd() {
    check("upgrad");
}

#[test]
fn dualproj_matches_torchjd() {
    check("dualproj");
}

#[test]
fn imtl_g_matches_torchjd() {
    check("imtl-g");
}

#[test]
fn aligned_mtl_matches_torchjd() {
    check("aligned-mtl");
}

#[test]
fn config_matches_torchjd() {
    check("config");
}

#[test]
fn cagrad_matches_torchjd() {
    check("cagrad");
}

#[test]
fn nash_mtl_matches_torchjd() {
    check("nash-mtl");
}

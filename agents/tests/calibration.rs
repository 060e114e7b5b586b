//! A calibration draws no random numbers: it runs before the network is seeded and built, and
//! a first run on a machine (which calibrates) must equal a later one (which reads the cache).
//! Alone in its test binary, so that no other test draws from libtorch's global generator.

use polytask_agents::calibrate::{calibrate, LayerShapes};
use tch::{Device, Kind, Tensor};

#[test]
fn a_calibration_leaves_libtorchs_generator_where_it_was() {
    let shapes = LayerShapes {
        towers: 2,
        rows: vec![8, 4],
        inputs: 5,
        out: 16,
    };
    tch::manual_seed(8);
    let expected = Tensor::randn([4], (Kind::Float, Device::Cpu));
    tch::manual_seed(8);
    let calibration = calibrate(&shapes, 2);
    let drawn = Tensor::randn([4], (Kind::Float, Device::Cpu));
    assert!(!calibration.timings.is_empty());
    assert!(
        drawn.equal(&expected),
        "the calibration drew random numbers"
    );
}

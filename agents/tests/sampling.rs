//! Categorical sampling draws exactly what libtorch's `multinomial(p, 1)` draws for the same
//! seed. (Its own test binary: the unit tests share libtorch's global generator in parallel.)

use polytask_agents::distribution::Distribution;
use tch::{Device, Kind, Tensor};

#[test]
fn categorical_samples_are_libtorchs_multinomial_draws() {
    let logits = Tensor::randn([500, 5], (Kind::Float, Device::Cpu)) * 2.0;
    let d = Distribution::categorical(&logits);
    for seed in [0, 42] {
        tch::manual_seed(seed);
        let ours = d.sample();
        tch::manual_seed(seed);
        let reference = logits
            .log_softmax(-1, Kind::Float)
            .exp()
            .multinomial(1, true)
            .squeeze_dim(-1);
        assert!(ours.equal(&reference), "seed {seed}");
    }
}

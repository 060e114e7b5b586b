//! Saving and restoring a [`Sac`] learner: everything a resumed run needs to continue bit
//! for bit, as named tensors (the flat parameter buffers of actor, critic and target critic,
//! `log α`, and each Adam optimizer's moments and step count) that a checkpoint writes as
//! safetensors.

use tch::Tensor;

use super::Sac;
use crate::adam::Adam;

/// A checkpoint's tensors that do not fit the learner.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SacStateError {
    /// An entry is missing.
    #[error("it has no tensor `{0}`")]
    Missing(String),
    /// An entry has another shape than the learner's.
    #[error("its tensor `{name}` has shape {saved:?}, the learner's has {expected:?}")]
    Shape {
        /// The entry.
        name: String,
        /// Its shape in the checkpoint.
        saved: Vec<i64>,
        /// The learner's shape.
        expected: Vec<i64>,
    },
}

/// The names of the state's parameter buffers, in [`Sac::named_state`]'s order.
const BUFFERS: [&str; 4] = ["actor", "critic", "critic_target", "log_alpha"];

impl Sac {
    /// Everything needed to continue training exactly, by name: the flat parameters of actor,
    /// critic and target critic, `log α`, and each optimizer's moments and step count
    /// (`<opt>.first.<k>`, `<opt>.second.<k>`, `<opt>.steps` for `actor_opt`, `critic_opt`,
    /// `alpha_opt`).
    pub fn named_state(&self) -> Vec<(String, Tensor)> {
        let buffers = [
            self.actor.flat_params(),
            self.critic.flat_params(),
            self.critic_target.flat_params(),
            &self.log_alpha,
        ];
        let mut named: Vec<(String, Tensor)> = (BUFFERS.iter().zip(buffers))
            .map(|(n, t)| (n.to_string(), t.detach().copy()))
            .collect();
        for (name, adam) in self.optimizers() {
            let (first, second) = adam.state();
            for (moment, tensors) in [("first", first), ("second", second)] {
                for (k, t) in tensors.iter().enumerate() {
                    named.push((format!("{name}.{moment}.{k}"), t.copy()));
                }
            }
            named.push((format!("{name}.steps"), Tensor::from(adam.steps())));
        }
        named
    }

    /// The optimizers by name, as [`Sac::named_state`] writes them.
    fn optimizers(&self) -> [(&'static str, &Adam); 3] {
        [
            ("actor_opt", self.actor_opt.adam()),
            ("critic_opt", self.critic_opt.adam()),
            ("alpha_opt", &self.alpha_opt),
        ]
    }

    /// Restores the state written by [`Sac::named_state`] of a learner with the same tasks
    /// and sizes; nothing is changed when an entry is missing or misshapen.
    pub fn load_named_state(&mut self, named: &[(String, Tensor)]) -> Result<(), SacStateError> {
        let find = |name: &str, like: &Tensor| -> Result<Tensor, SacStateError> {
            let (_, t) = (named.iter())
                .find(|(n, _)| n == name)
                .ok_or_else(|| SacStateError::Missing(name.to_string()))?;
            if t.size() != like.size() {
                return Err(SacStateError::Shape {
                    name: name.to_string(),
                    saved: t.size(),
                    expected: like.size(),
                });
            }
            Ok(t.to_device(like.device()).to_kind(like.kind()))
        };
        let targets = [
            self.actor.flat_params().shallow_clone(),
            self.critic.flat_params().shallow_clone(),
            self.critic_target.flat_params().shallow_clone(),
            self.log_alpha.shallow_clone(),
        ];
        let buffers = (BUFFERS.iter().zip(&targets))
            .map(|(n, t)| find(n, t))
            .collect::<Result<Vec<_>, _>>()?;
        let mut moments = Vec::new();
        for (name, adam) in self.optimizers() {
            let (first, second) = adam.state();
            let read = |moment: &str, tensors: &[Tensor]| {
                (tensors.iter().enumerate())
                    .map(|(k, t)| find(&format!("{name}.{moment}.{k}"), t))
                    .collect::<Result<Vec<_>, _>>()
            };
            let steps = find(&format!("{name}.steps"), &Tensor::from(0i64))?;
            moments.push((
                read("first", first)?,
                read("second", second)?,
                steps.int64_value(&[]),
            ));
        }
        tch::no_grad(|| {
            for (mut target, saved) in targets.into_iter().zip(&buffers) {
                target.copy_(saved);
            }
        });
        let mut moments = moments.into_iter();
        let adams = [
            self.actor_opt.adam_mut(),
            self.critic_opt.adam_mut(),
            &mut self.alpha_opt,
        ];
        for (adam, (first, second, steps)) in adams.into_iter().zip(moments.by_ref()) {
            adam.set_state(first, second, steps)
                .expect("the moments were checked against the optimizer's shapes");
        }
        Ok(())
    }
}

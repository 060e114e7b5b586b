"""Stable-Baselines3's PPO on the configurations of `polytask bench train`, timed end to end.
Prints one line `sb3 <steps/s>` and one line of versions.

--env cartpole: CartPole-v1 with rl-zoo's hyperparameters (polytask's configs/cartpole.toml).
--env minatar-breakout: MinAtar/Breakout-v1 from the reference `minatar` package (no sticky
actions, episodes capped at 1000 steps) with the MinAtar network as a features extractor
(16-filter 3x3 convolution, ReLU, flatten, 128 tanh units, policy and value heads on them) and
gymnax-blines' MinAtar PPO hyperparameters with entropy coefficient 0.03 (polytask's
configs/minatar-breakout.toml).

--env pendulum-sac: SAC on Pendulum-v1 with rl-zoo's hyperparameters (learning rate 1e-3,
otherwise SB3's defaults: one environment, 100 random steps first, one gradient step per
step, batch 256, 256x256 networks; polytask's configs/pendulum-sac.toml).

--threads N sets torch's intra-op threads (polytask's `learner_threads`).

Used by `polytask bench train --sb3-python PYTHON`; needs stable-baselines3, gymnasium and,
for MinAtar, minatar:
    python3 -m venv /tmp/sb3 && /tmp/sb3/bin/pip install stable-baselines3 gymnasium minatar==1.0.15
"""
import argparse
import time

import gymnasium as gym
import stable_baselines3
import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class MinAtarNetwork(BaseFeaturesExtractor):
    """The MinAtar paper's network up to its heads: conv 16 3x3 stride 1, ReLU, flatten,
    Linear(1024, 128); tanh, as polytask's trunk layers."""

    def __init__(self, observation_space, features_dim: int = 128):
        super().__init__(observation_space, features_dim)
        height, width, channels = observation_space.shape
        self.conv = nn.Sequential(nn.Conv2d(channels, 16, 3, stride=1), nn.ReLU(), nn.Flatten())
        flat = 16 * (height - 2) * (width - 2)
        self.dense = nn.Sequential(nn.Linear(flat, features_dim), nn.Tanh())

    def forward(self, observations):
        return self.dense(self.conv(observations.permute(0, 3, 1, 2)))


def minatar_breakout(seed: int):
    import minatar.gym

    minatar.gym.register_envs()
    env = make_vec_env(
        "MinAtar/Breakout-v1",
        n_envs=64,
        seed=seed,
        env_kwargs={"sticky_action_prob": 0.0, "max_episode_steps": 1000},
    )
    return PPO(
        "MlpPolicy",
        env,
        n_steps=128,
        batch_size=64 * 128 // 8,
        n_epochs=4,
        learning_rate=5e-4,
        gamma=0.999,
        gae_lambda=0.95,
        clip_range=0.2,
        ent_coef=0.03,
        vf_coef=0.5,
        max_grad_norm=0.5,
        policy_kwargs={"features_extractor_class": MinAtarNetwork, "net_arch": []},
        device="cpu",
        seed=seed,
        verbose=0,
    )


def cartpole(seed: int):
    # rl-baselines3-zoo hyperparams/ppo.yml, CartPole-v1.
    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    return PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=lambda f: f * 1e-3,
        clip_range=lambda f: f * 0.2,
        device="cpu",
        seed=seed,
        verbose=0,
    )


def pendulum_sac(seed: int):
    # rl-baselines3-zoo hyperparams/sac.yml, Pendulum-v1.
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=seed)
    return SAC("MlpPolicy", env, learning_rate=1e-3, device="cpu", seed=seed, verbose=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50_000, help="environment steps")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--env", choices=["cartpole", "minatar-breakout", "pendulum-sac"], default="cartpole"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    make = {
        "cartpole": cartpole,
        "minatar-breakout": minatar_breakout,
        "pendulum-sac": pendulum_sac,
    }[args.env]
    model = make(args.seed)
    # Timed from the first step (setup, which polytask's figure includes, is not).
    start = time.perf_counter()
    model.learn(total_timesteps=args.steps)
    elapsed = time.perf_counter() - start
    print(f"sb3 {model.num_timesteps / elapsed:.1f}")
    print(f"# stable-baselines3 {stable_baselines3.__version__}, torch {torch.__version__}, "
          f"gymnasium {gym.__version__}, torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()

"""Stable-Baselines3's PPO on CartPole-v1 with rl-zoo's hyperparameters (the same run as
polytask's configs/cartpole.toml), timed end to end. Prints one line: `sb3 <steps/s>`.

Used by `polytask bench train --sb3-python PYTHON`; needs stable-baselines3 and gymnasium:
    python3 -m venv /tmp/sb3 && /tmp/sb3/bin/pip install stable-baselines3 gymnasium
"""
import argparse
import time

import gymnasium as gym
import stable_baselines3
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50_000, help="environment steps")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    # rl-baselines3-zoo hyperparams/ppo.yml, CartPole-v1.
    env = make_vec_env("CartPole-v1", n_envs=8, seed=args.seed)
    model = PPO(
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
        seed=args.seed,
        verbose=0,
    )
    start = time.perf_counter()
    model.learn(total_timesteps=args.steps)
    elapsed = time.perf_counter() - start
    print(f"sb3 {model.num_timesteps / elapsed:.1f}")
    print(f"# stable-baselines3 {stable_baselines3.__version__}, torch {torch.__version__}, "
          f"gymnasium {gym.__version__}, torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()

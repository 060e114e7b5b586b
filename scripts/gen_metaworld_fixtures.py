"""Writes envs/tests/fixtures/metaworld/mt10-push-v3.json: Meta-World's own MT10 vector env
(metaworld 3.1.1, `gym.make_vec("Meta-World/MT10", seed=1)`) stepped with fixed actions, at
the position of push-v3, for the test that polytask's `gym:polytask/Meta-World-MT10` is
that environment. Run with the venv that scripts/python.sh makes (polytask_python_mujoco).
"""

import json
import sys

import gymnasium as gym
import metaworld  # noqa: F401  (registers the Meta-World ids)
import numpy as np

SEED = 1
RESET_SEED = 5
STEPS = 20
POSITION = 1  # push-v3 in MT10's order


def main(out):
    envs = gym.make_vec("Meta-World/MT10", seed=SEED, vector_strategy="sync")
    obs, _ = envs.reset(seed=[RESET_SEED] * envs.num_envs)
    rng = np.random.default_rng(0)
    record = {"seed": SEED, "reset_seed": RESET_SEED, "env_name": "push-v3",
              "first_obs": obs[POSITION].tolist(), "steps": []}
    for _ in range(STEPS):
        actions = rng.uniform(-1, 1, size=(envs.num_envs, 4)).astype(np.float32)
        obs, reward, terminated, truncated, info = envs.step(actions)
        record["steps"].append({
            "action": actions[POSITION].tolist(),
            "obs": obs[POSITION].tolist(),
            "reward": float(reward[POSITION]),
            "success": float(info["success"][POSITION]),
        })
    with open(out, "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main(sys.argv[1])

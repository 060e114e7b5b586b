#!/usr/bin/env python3
"""Generate the golden fixtures envs/tests/fixtures/<id>.json from the real Gymnasium.

    python3 -m venv /tmp/gymvenv && /tmp/gymvenv/bin/pip install "gymnasium==1.4.*"
    /tmp/gymvenv/bin/python scripts/gen_gymnasium_fixtures.py [--out envs/tests/fixtures]

envs/tests/gymnasium_conformance.rs replays every fixture against polytask's environments.
Each fixture holds, for one environment id:

  resets        reset(seed=s) observations for several seeds, followed by two reset()
                observations without a seed (the generator continues);
  trajectories  from a state set on env.unwrapped (random or adversarial: near thresholds,
                high velocities, clipped actions), a fixed action sequence (500 steps for the
                main ones, 50-100 for edge cases and for variants with changed constants
                "params"),
                run on env.unwrapped (no time limit), recording obs/reward/terminated per step;
  episodes      gym.make(id) (with its TimeLimit) reset with a seed, then fixed random actions,
                calling reset() without a seed whenever an episode ends; "resets" maps the
                step index before which a reset happened to the observation it returned.

Observations are float32 and written with 9 significant digits (exact for float32); rewards
and states are float64 (states exact, rewards to 9 significant digits). The Gymnasium and
NumPy versions used are printed and written into every fixture.
"""

import argparse
import json
import math
import os
import warnings

import gymnasium as gym
import numpy as np

STEPS = 500
RESET_SEEDS = [0, 1, 42, 123, 2**32 - 1, 2**32 + 7, 2**64 - 1]


def sig9(x):
    """A float rounded to 9 significant digits (exact for float32 values)."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"non-finite value {x} cannot go into a JSON fixture")
    return float(f"{x:.9g}")


def obs_row(obs):
    return [sig9(v) for v in np.asarray(obs, dtype=np.float32).ravel()]


def gym_action(a):
    """The action as Gymnasium gets it: a Python int, or a float32 array of one value."""
    if isinstance(a, int):
        return a
    return np.array([a], dtype=np.float32)


def fixture_action(a):
    return a if isinstance(a, int) else sig9(np.float32(a))


def set_params(env, env_id, params):
    """Applies changed constants to the unwrapped environment the way polytask's parameters
    mean them (CartPole's derived masses are recomputed as its __init__ does)."""
    for name, value in params.items():
        if name == "reward_scale":
            continue
        attr = name.upper() if env_id == "Acrobot-v1" and name.startswith(("link_", "max_vel")) else name
        if not hasattr(env, attr):
            raise KeyError(f"{env_id} has no attribute {attr}")
        setattr(env, attr, value)
    if env_id == "CartPole-v1":
        env.total_mass = env.masspole + env.masscart
        env.polemass_length = env.masspole * env.length


def trajectory(env_id, name, state, actions, params=None):
    params = params or {}
    env = gym.make(env_id).unwrapped
    set_params(env, env_id, params)
    env.reset(seed=0)
    env.state = np.array(state, dtype=np.float64)
    obs, rewards, terminated = [], [], []
    for a in actions:
        o, r, term, trunc, _ = env.step(gym_action(a))
        assert not trunc
        obs.append(obs_row(o))
        rewards.append(sig9(r))
        terminated.append(int(term))
    env.close()
    return {
        "name": name,
        "params": params,
        "state": [float(s) for s in state],
        "actions": [fixture_action(a) for a in actions],
        "obs": obs,
        "rewards": rewards,
        "terminated": terminated,
    }


def episodes(env_id, seed, steps, sample):
    env = gym.make(env_id)
    o, _ = env.reset(seed=seed)
    resets = {"0": obs_row(o)}
    rng = np.random.default_rng(10_000 + seed)
    record = {"seed": seed, "actions": [], "obs": [], "rewards": [], "terminated": [], "truncated": []}
    for i in range(steps):
        if i > 0 and (record["terminated"][-1] or record["truncated"][-1]):
            o, _ = env.reset()
            resets[str(i)] = obs_row(o)
        a = sample(rng)
        o, r, term, trunc, _ = env.step(gym_action(a))
        record["actions"].append(fixture_action(a))
        record["obs"].append(obs_row(o))
        record["rewards"].append(sig9(r))
        record["terminated"].append(int(term))
        record["truncated"].append(int(trunc))
    record["resets"] = resets
    env.close()
    return record


def resets(env_id):
    out = []
    for seed in RESET_SEEDS:
        env = gym.make(env_id)
        rows = [obs_row(env.reset(seed=seed)[0]), obs_row(env.reset()[0]), obs_row(env.reset()[0])]
        out.append({"seed": seed, "obs": rows})
        env.close()
    return out


def discrete(n):
    return lambda rng: int(rng.integers(n))


def continuous(lo, hi):
    return lambda rng: float(np.float32(rng.uniform(lo, hi)))


def cartpole():
    rng = np.random.default_rng(1)
    # A linear controller's actions keep the pole up for all 500 steps; record them.
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    env.state = np.array([0.3, -0.2, 0.05, 0.1])
    balance = []
    for _ in range(STEPS):
        x, xd, t, td = env.state
        balance.append(int(0.05 * x + 0.2 * xd + t + 0.3 * td > 0))
        env.step(balance[-1])
    rand = [int(a) for a in rng.integers(2, size=STEPS)]
    return [
        trajectory("CartPole-v1", "balanced", [0.3, -0.2, 0.05, 0.1], balance),
        trajectory("CartPole-v1", "near_thresholds_then_after_termination", [2.35, 0.45, 0.2, 0.35], rand),
        trajectory("CartPole-v1", "high_velocity", [0.0, 3.0, 0.0, -3.0], rand[:100]),
        trajectory(
            "CartPole-v1",
            "changed_constants",
            [0.01, 0.0, -0.02, 0.05],
            balance[:100],
            {"gravity": 12.5, "masscart": 1.3, "masspole": 0.2, "length": 0.7, "force_mag": 8.0, "tau": 0.01},
        ),
    ]


def acrobot():
    rng = np.random.default_rng(2)
    rand = [int(a) for a in rng.integers(3, size=STEPS)]
    state = rng.uniform(-1.0, 1.0, size=4).tolist()
    pump = []  # swing up: torque in the direction of the first joint's velocity
    env = gym.make("Acrobot-v1").unwrapped
    env.reset(seed=0)
    env.state = np.array(state)
    for _ in range(STEPS):
        pump.append(2 if env.state[2] > 0 else 0)
        env.step(pump[-1])
    edge = [math.pi - 0.01, -math.pi + 0.01, 4 * math.pi - 0.05, 9 * math.pi - 0.05]
    return [
        trajectory("Acrobot-v1", "random", state, rand),
        trajectory("Acrobot-v1", "swing_up_through_termination", state, pump),
        trajectory("Acrobot-v1", "wrap_and_velocity_bounds", edge, rand[:100]),
        trajectory(
            "Acrobot-v1",
            "changed_constants",
            [0.1, -0.2, 0.5, -1.0],
            rand[:100],
            {
                "dt": 0.1,
                "link_length_1": 1.2,
                "link_mass_1": 0.8,
                "link_mass_2": 1.5,
                "link_com_pos_1": 0.4,
                "link_com_pos_2": 0.6,
                "link_moi": 0.9,
                "max_vel_1": 3.0,
                "max_vel_2": 5.0,
                "torque_noise_max": 0.05,
            },
        ),
    ]


def mountain_car():
    rng = np.random.default_rng(3)
    rand = [int(a) for a in rng.integers(3, size=STEPS)]
    env = gym.make("MountainCar-v0").unwrapped
    env.reset(seed=0)
    env.state = np.array([-1.19, -0.07])
    pump = []  # push along the velocity: hits the left wall, then reaches the flag
    for _ in range(STEPS):
        pump.append(2 if env.state[1] >= 0 else 0)
        env.step(pump[-1])
    return [
        trajectory("MountainCar-v0", "random", [-0.55, 0.0], rand),
        trajectory("MountainCar-v0", "left_wall_then_goal_and_beyond", [-1.19, -0.07], pump),
        trajectory("MountainCar-v0", "at_the_goal_edge", [0.4995, 0.0004], rand[:50]),
        trajectory("MountainCar-v0", "changed_constants", [-0.5, 0.0], pump[:100], {"force": 0.0015, "gravity": 0.002}),
    ]


def mountain_car_continuous():
    rng = np.random.default_rng(4)
    rand = [float(np.float32(a)) for a in rng.uniform(-1.5, 1.5, size=STEPS)]
    env = gym.make("MountainCarContinuous-v0").unwrapped
    env.reset(seed=0)
    env.state = np.array([-1.15, -0.06])
    pump = []  # mixes exact +-1, in-range and clipped actions
    for i in range(STEPS):
        mag = [1.0, 0.7, 1.3, 0.999][i % 4]
        pump.append(float(np.float32(mag if env.state[1] >= 0 else -mag)))
        env.step(np.array([pump[-1]], dtype=np.float32))
    return [
        trajectory("MountainCarContinuous-v0", "random_with_clipped_actions", [-0.5, 0.0], rand),
        trajectory("MountainCarContinuous-v0", "left_wall_then_goal_and_beyond", [-1.15, -0.06], pump),
        trajectory("MountainCarContinuous-v0", "at_the_goal_edge", [0.4495, 0.0004], rand[:50]),
        trajectory("MountainCarContinuous-v0", "max_speed", [-0.2, 0.0699], rand[:50]),
        trajectory("MountainCarContinuous-v0", "changed_constants", [-0.5, 0.0], pump[:100], {"power": 0.0009}),
    ]


def pendulum():
    rng = np.random.default_rng(5)
    rand = [float(np.float32(a)) for a in rng.uniform(-3.0, 3.0, size=STEPS)]
    return [
        trajectory("Pendulum-v1", "random_with_clipped_actions", [2.5, -0.7], rand),
        trajectory("Pendulum-v1", "speed_limit_and_large_angles", [40.0, 7.9], [2.0] * 250 + [-2.5] * 250),
        trajectory(
            "Pendulum-v1",
            "changed_constants",
            [-1.0, 0.5],
            rand[:100],
            {"g": 9.81, "m": 1.4, "l": 0.8, "max_speed": 6.0, "max_torque": 1.5, "dt": 0.04},
        ),
    ]


ENVS = {
    "CartPole-v1": (cartpole, discrete(2), 300),
    "Acrobot-v1": (acrobot, discrete(3), 200),
    "MountainCar-v0": (mountain_car, discrete(3), 250),
    "MountainCarContinuous-v0": (mountain_car_continuous, continuous(-1.2, 1.2), 250),
    "Pendulum-v1": (pendulum, continuous(-2.5, 2.5), 250),
}


def dumps(value, indent=0):
    """JSON with numeric arrays on one line and arrays of arrays one row per line."""
    pad = " " * indent
    if isinstance(value, dict):
        items = [f'{pad} {json.dumps(k)}: {dumps(v, indent + 1).lstrip()}' for k, v in value.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and isinstance(value[0], (dict, list)):
        rows = [dumps(v, indent + 1) for v in value]
        return pad + "[\n" + ",\n".join(rows) + "\n" + pad + "]"
    return pad + json.dumps(value, separators=(",", ":"))


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(root, "envs", "tests", "fixtures"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    # CartPole warns when stepped after termination; the fixtures do that on purpose.
    warnings.filterwarnings("ignore", message=".*already returned terminated = True.*")
    print(f"gymnasium {gym.__version__}, numpy {np.__version__}")
    for env_id, (make_trajectories, sample, steps) in ENVS.items():
        fixture = {
            "id": env_id,
            "gymnasium": gym.__version__,
            "numpy": np.__version__,
            "generator": "scripts/gen_gymnasium_fixtures.py",
            "resets": resets(env_id),
            "trajectories": make_trajectories(),
            "episodes": [episodes(env_id, 7, steps, sample), episodes(env_id, 2024, 50, sample)],
        }
        path = os.path.join(args.out, f"{env_id}.json")
        with open(path, "w") as f:
            f.write(dumps(fixture) + "\n")
        print(f"wrote {path} ({os.path.getsize(path) // 1024} KiB)")


if __name__ == "__main__":
    main()

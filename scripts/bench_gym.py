#!/usr/bin/env python3
"""Steps/s of a plain Python loop over Gymnasium environments, for `polytask bench envs --env
gym:<Id> --python PYTHON` (which runs this script and prints polytask's per-step overhead
over it).

    POLYTASK_PYTHON=/path/to/venv/bin/python
    $POLYTASK_PYTHON scripts/bench_gym.py --env HalfCheetah-v5 --num-envs 4

One process: `--num-envs` environments made with `gymnasium.make(id, **params)`, stepped one
after the other with uniformly random actions drawn beforehand, each `reset()` when its
episode ends (as polytask's autoreset). It prints the median over `--repeat` rounds as a
line `gymnasium <steps/s>` and the versions used as `versions ...`.
"""

import argparse
import statistics
import sys
import time

import gymnasium
import numpy as np


def number(text):
    value = float(text)
    return int(value) if value.is_integer() else value


def rate(envs, steps_per_env, seed):
    rng = np.random.default_rng(seed)
    space = envs[0].action_space
    if isinstance(space, gymnasium.spaces.Discrete):
        actions = rng.integers(0, space.n, size=(steps_per_env, len(envs))) + space.start
        actions = actions.tolist()
    else:
        low, high = space.low, space.high
        actions = rng.uniform(low, high, size=(steps_per_env, len(envs)) + low.shape)
        actions = actions.astype(space.dtype)
    start = time.perf_counter()
    for row in actions:
        for env, a in zip(envs, row):
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
    return steps_per_env * len(envs) / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="Gymnasium id (a gym: prefix is removed)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="keyword argument of gymnasium.make; repeat for several")
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20_000, help="steps per round, all envs")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the median is printed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    env_id = args.env.removeprefix("gym:")
    kwargs = {k: number(v) for k, v in (p.split("=", 1) for p in args.param)}
    envs = [gymnasium.make(env_id, **kwargs) for _ in range(args.num_envs)]
    for k, env in enumerate(envs):
        env.reset(seed=args.seed + k)
        env.action_space.seed(args.seed + k)
    steps_per_env = max(1, args.steps // args.num_envs)
    rate(envs, max(1, steps_per_env // 10), args.seed)  # warm-up
    rates = [rate(envs, steps_per_env, args.seed + r) for r in range(args.repeat)]
    print(f"gymnasium {statistics.median(rates):.1f}")
    versions = [f"gymnasium {gymnasium.__version__}", f"numpy {np.__version__}"]
    try:
        import mujoco
        versions.append(f"mujoco {mujoco.__version__}")
    except ImportError:
        pass
    versions.append("python %d.%d.%d" % sys.version_info[:3])
    print("versions " + ", ".join(versions))


if __name__ == "__main__":
    main()
